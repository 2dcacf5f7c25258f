#!/usr/bin/env bash
# bench/run_vae.sh — wan-vae-decoder on the CPU backend against diffusers' AutoencoderKLWan, same machine,
# same weights, same latents, same thread count, one side after the other; then the decode's peak memory
# with spatial tiling.
#
# 1. bench/torch_vae.py (the reference venv, tests/reference/.venv or DIO_VAE_VENV, which has diffusers):
#    on first use writes the real-width Wan 2.1 VAE with random weights and a [1, 16, 5, 32, 32] latent to
#    bench/out/ (17 frames at 256x256 once decoded); times vae.decode and saves its output.
# 2. bench_vae (bench/CMakeLists.txt; links libdiorama like any application) times our decode of the same
#    latent, checks it against torch's output (max abs, relative L2; fails above 1e-3 relative L2) and
#    prints ours/torch.
# 3. Memory: bench_vae_memory runs tiled decodes (tile 256, overlap 64 pixels, the defaults) at the real
#    widths, one per process, separating the weights' file pages from the run's own peak; the frame count
#    and the width vary so that bench/README-vae.md can project 1280x704x93 from them (--full adds the
#    1280x704x5 case itself, about 8 minutes on 2 cores).
# Results: bench/out/vae_*.log (git-ignored).
#
# usage: bench/run_vae.sh [--threads N] [--reps N] [--no-memory] [--full]
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/.." && pwd)"
py="${DIO_VAE_VENV:-$root/tests/reference/.venv}/bin/python"
build="${DIO_BENCH_BUILD:-$root/build-vae-bench}"
out="$here/out"
threads="${DIO_BENCH_THREADS:-$(nproc)}"
reps=1
memory=1
full=0
while [ $# -gt 0 ]; do
    case "$1" in
    --threads) threads="$2"; shift 2 ;;
    --reps) reps="$2"; shift 2 ;;
    --no-memory) memory=0; shift ;;
    --full) full=1; shift ;;
    -h | --help) sed -n '2,17p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "run_vae.sh: unknown argument $1 (try --help)" >&2; exit 2 ;;
    esac
done
say() { printf '\n== %s\n' "$*"; }

if [ ! -f "$build/CMakeCache.txt" ]; then
    cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=Release -DDIO_BUILD_TESTS=OFF -DDIO_BUILD_BENCH=ON
fi
cmake --build "$build" --target diorama dio_cpu dio_vae_decoder bench_vae bench_vae_memory -j "$(nproc)"
mkdir -p "$out"

export OMP_NUM_THREADS="$threads" MKL_NUM_THREADS="$threads"
say "PyTorch AutoencoderKLWan decode, 17 frames 256x256, $threads threads"
"$py" "$here/torch_vae.py" --threads "$threads" --reps "$reps" 2>"$out/vae_torch.err" | tee "$out/vae_torch.log"
say "diorama wan-vae-decoder, same latent, $threads threads"
"$build/bin/bench_vae" --threads "$threads" --reps "$reps" --weights "$out/vae_bench.safetensors" \
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
    cases=("1 512x256" "5 512x256" "9 512x256" "5 1280x256")
    [ "$full" = 1 ] && cases+=("5 1280x704")
    for c in "${cases[@]}"; do
        set -- $c
        say "tiled decode memory, $1 frames at $2, tile 256 overlap 64"
        "$build/bin/bench_vae_memory" --threads "$threads" --frames "$1" --size "$2" --tiling on --tile 256 \
            --overlap 64 "$build/lib/diorama" | tee "$out/vae_mem.$1.$2.log"
    done
fi
