#!/usr/bin/env bash
# bench/run_vae.sh — wan-vae-decoder on the CPU backend against diffusers' AutoencoderKLWan, same machine,
# same weights, same latents, same thread count, one side after the other; then the decode's peak memory
# with spatial tiling.
#
# 1. bench/torch_vae.py (the reference venv, tests/reference/.venv or DIO_VAE_VENV, which has diffusers):
#    on first use writes the real-width Wan 2.1 VAE with random weights and a [1, 16, 5, 32, 32] latent to
#    bench/out/ (17 frames at 256x256 once decoded); times vae.decode and saves its output.
# 2. bench_vae (compiled here against libdiorama, like any application) times our decode of the same
#    latent, checks it against torch's output (max abs, relative L2; fails above 1e-3 relative L2) and
#    prints ours/torch.
# 3. Memory: tiled decodes (tile 256, overlap 64 pixels, the defaults) of small latents whose every tile
#    runs full 4-frame chunks; bench/README-vae.md projects 1280x704x93 from them.
# Results: bench/out/vae_*.log (git-ignored).
#
# usage: bench/run_vae.sh [--threads N] [--reps N] [--no-memory]
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/.." && pwd)"
py="${DIO_VAE_VENV:-$root/tests/reference/.venv}/bin/python"
build="${DIO_BENCH_BUILD:-$root/build-vae-bench}"
out="$here/out"
threads="${DIO_BENCH_THREADS:-$(nproc)}"
reps=1
memory=1
while [ $# -gt 0 ]; do
    case "$1" in
    --threads) threads="$2"; shift 2 ;;
    --reps) reps="$2"; shift 2 ;;
    --no-memory) memory=0; shift ;;
    -h | --help) sed -n '2,17p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "run_vae.sh: unknown argument $1 (try --help)" >&2; exit 2 ;;
    esac
done
say() { printf '\n== %s\n' "$*"; }

if [ ! -f "$build/CMakeCache.txt" ]; then
    cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=Release -DDIO_BUILD_TESTS=OFF -DDIO_BUILD_BENCH=OFF
fi
cmake --build "$build" --target diorama dio_cpu dio_vae_decoder -j "$(nproc)"
mkdir -p "$build/bench" "$out"
cc -std=c11 -O2 -Wall -Wextra -Wshadow -Wstrict-prototypes -Wmissing-prototypes -Werror -D_GNU_SOURCE -fopenmp \
    -I"$root/abi" "$here/bench_vae.c" -o "$build/bench/bench_vae" -L"$build/lib" -ldiorama \
    -Wl,-rpath,"$build/lib" -lm

export OMP_NUM_THREADS="$threads" MKL_NUM_THREADS="$threads"
say "PyTorch AutoencoderKLWan decode, 17 frames 256x256, $threads threads"
"$py" "$here/torch_vae.py" --threads "$threads" --reps "$reps" 2>"$out/vae_torch.err" | tee "$out/vae_torch.log"
say "diorama wan-vae-decoder, same latent, $threads threads"
"$build/bench/bench_vae" --threads "$threads" --reps "$reps" --weights "$out/vae_bench.safetensors" \
    --inputs "$out/vae_bench.inputs.safetensors" --ref "$out/vae_bench.torch.safetensors" "$build/lib/diorama" \
    | tee "$out/vae_ours.log"
"$py" - "$out/vae_ours.log" "$out/vae_torch.log" <<'PY'
import json, sys
o = json.loads(open(sys.argv[1]).read().strip().splitlines()[-1])
t = json.loads(open(sys.argv[2]).read().strip().splitlines()[-1])
ok = o["rel_l2"] < 1e-3
print(f"\nours {o['best_s']:.2f} s, torch {t['best_s']:.2f} s, ours/torch {o['best_s'] / t['best_s']:.2f} "
      f"({o['threads']} threads); agreement max abs {o['max_abs']:.3g} rel L2 {o['rel_l2']:.3g} "
      f"{'OK' if ok else 'FAILED (rel L2 >= 1e-3)'}; peak RSS ours {o['peak_rss_mib']:.0f} MiB, "
      f"torch {t['peak_rss_mib']:.0f} MiB")
sys.exit(0 if ok else 1)
PY
if [ "$memory" = 1 ]; then
    for lat in 2,32,32 2,32,64; do
        say "tiled decode memory, latent $lat, tile 256 overlap 64"
        "$build/bench/bench_vae" --threads "$threads" --weights "$out/vae_bench.safetensors" --latent "$lat" \
            --tiling on --tile-size 256 --tile-overlap 64 "$build/lib/diorama" | tee "$out/vae_mem.$lat.log"
    done
fi
