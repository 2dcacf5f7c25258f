#!/usr/bin/env bash
# bench/run_dit.sh — the one command: the cosmos-dit forward on our CPU backend against diffusers'
# CosmosTransformer3DModel in PyTorch, on this machine, in one run, same thread count, same weights file.
#
# Speed (default): a small DiT (8 blocks, width 512 = 8 heads of 64, MLP 2048, AdaLN-LoRA 256), latent
# [1,16,4,64,64] with patch 1x2x2 = 4,096 tokens, text [1,512,1024] through crossattn_proj 1024 -> 1024.
# Random weights are written once by torch_dit.py gen (diffusers save_pretrained, safetensors, f32 and a
# bf16 copy) into bench/out/dit/ (git-ignored); both sides load that file. For R rounds (default 2):
# PyTorch (W warm-up + N forwards; its output is saved), then ours with the f32 file (checked against
# PyTorch's output: max abs err / max |ref| <= 1e-3, else no time is posted), then ours with the bf16
# file (relative L2 <= 3e-2 against the f32 PyTorch output). Each side keeps its best round. Prints ours
# s, torch s, ours/torch, the agreement and the peak RSS of each process.
#
# --memory: the 24 GiB question for the 2B at 720p/93 frames, by projection (a 720p forward is hours on
# 2 cores): random bf16 weights at the 2B's widths (2048, 16 heads of 128, MLP 8192, text 100352 ->
# 1024) with 1 block, one forward at N = 1k, 2k, 4k, 8k tokens (a process each: peak RSS is per process)
# and 3 blocks at 2k, then torch_dit.py project fits and projects to N = 84,480. See bench/README-dit.md.
#
# usage: bench/run_dit.sh [--threads N] [--rounds R] [--warmup N] [--reps N] [--memory]
# (environment: DIO_BENCH_DIT_BUILD (default build-bench-dit), DIO_BENCH_DIT_PY (a python with torch +
#  diffusers; default tests/reference/.venv/bin/python), DIO_BENCH_THREADS)
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/.." && pwd)"
build="${DIO_BENCH_DIT_BUILD:-$root/build-bench-dit}"
py="${DIO_BENCH_DIT_PY:-$root/tests/reference/.venv/bin/python}"
out="$here/out/dit"
threads="${DIO_BENCH_THREADS:-$(nproc)}"
rounds=2
warmup=1
reps=3
memory=0
while [ $# -gt 0 ]; do
    case "$1" in
    --threads) threads="$2"; shift 2 ;;
    --rounds) rounds="$2"; shift 2 ;;
    --warmup) warmup="$2"; shift 2 ;;
    --reps) reps="$2"; shift 2 ;;
    --memory) memory=1; shift ;;
    -h | --help) sed -n '2,21p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "run_dit.sh: unknown argument $1 (try --help)" >&2; exit 2 ;;
    esac
done
say() { printf '\n== %s\n' "$*"; }

"$py" -c 'import torch, diffusers' 2>/dev/null || {
    echo "run_dit.sh: $py lacks torch or diffusers (tests/reference/.venv has both; set DIO_BENCH_DIT_PY)" >&2
    exit 1
}
if [ ! -f "$build/CMakeCache.txt" ]; then
    say "configuring $build"
    cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=Release -DDIO_BUILD_TESTS=OFF -DDIO_BUILD_BENCH=ON
fi
say "building"
cmake --build "$build" --target bench_dit dio_cpu dio_dit -j "$(nproc)"
mkdir -p "$out"
export OMP_NUM_THREADS="$threads" MKL_NUM_THREADS="$threads"
bench=("$build/bin/bench_dit" --threads "$threads")
plugins="$build/lib/diorama"

if [ "$memory" = 1 ]; then
    df -h "$out" | tail -1
    m=(--heads 16 --head-dim 128 --text-dim 1024 --text-in 100352 --L 512)
    for nb in 1 3; do
        [ -f "$out/mem2b-$nb-bf16/diffusion_pytorch_model.safetensors" ] ||
            "$py" "$here/torch_dit.py" gen --out "$out" --name "mem2b-$nb" --blocks "$nb" --bf16-only --T 0 "${m[@]}"
    done
    # name T H W: N = T * H/2 * W/2
    shapes=("1k 4 32 32" "2k 4 32 64" "4k 4 64 64" "8k 8 64 64")
    for s in "${shapes[@]}"; do
        read -r tag T H W <<<"$s"
        [ -f "$out/mem2b.$tag.inputs.safetensors" ] ||
            "$py" "$here/torch_dit.py" gen --out "$out" --name mem2b --inputs-only --inputs-name "mem2b.$tag.inputs.safetensors" \
                --T "$T" --H "$H" --W "$W" "${m[@]}"
    done
    rm -f "$out/memory.log"
    for s in "${shapes[@]}" "2k/3"; do
        tag="${s%% *}"; nb=1
        if [ "$s" = "2k/3" ]; then tag=2k; nb=3; fi
        say "memory: $nb block(s) at 2B width, $tag tokens"
        "${bench[@]}" --memory --label "mem2b-$nb-$tag" --weights "$out/mem2b-$nb-bf16/diffusion_pytorch_model.safetensors" \
            --inputs "$out/mem2b.$tag.inputs.safetensors" "$plugins" | tee -a "$out/memory.log" | grep --line-buffered -v '^{'
    done
    say "fit and projection"
    "$py" "$here/torch_dit.py" project "$out/memory.log" | tee "$out/memory.md"
    exit 0
fi

name=dit8x512
[ -f "$out/$name/diffusion_pytorch_model.safetensors" ] && [ -f "$out/$name-bf16/diffusion_pytorch_model.safetensors" ] &&
    [ -f "$out/$name.inputs.safetensors" ] || "$py" "$here/torch_dit.py" gen --out "$out" --name "$name" --bf16
rm -f "$out"/dit.*.log
rc=0
for r in $(seq 1 "$rounds"); do
    say "round $r/$rounds: PyTorch + diffusers ($threads threads)"
    "$py" "$here/torch_dit.py" time --out "$out" --name "$name" --threads "$threads" --warmup "$warmup" --reps "$reps" \
        2>&1 | grep -v accelerate | tee "$out/dit.torch.$r.log" | grep --line-buffered -v '^{' || rc=1
    say "round $r/$rounds: diorama cpu, f32 weights ($threads threads)"
    "${bench[@]}" --label f32w --warmup "$warmup" --reps "$reps" --weights "$out/$name/diffusion_pytorch_model.safetensors" \
        --inputs "$out/$name.inputs.safetensors" --ref "$out/$name.torch_out.safetensors" "$plugins" \
        2>&1 | tee "$out/dit.ours_f32.$r.log" | grep --line-buffered -v '^{' || rc=1
    say "round $r/$rounds: diorama cpu, bf16 weights ($threads threads)"
    "${bench[@]}" --label bf16w --warmup "$warmup" --reps "$reps" --weights "$out/$name-bf16/diffusion_pytorch_model.safetensors" \
        --inputs "$out/$name.inputs.safetensors" --ref "$out/$name.torch_out.safetensors" "$plugins" \
        2>&1 | tee "$out/dit.ours_bf16.$r.log" | grep --line-buffered -v '^{' || rc=1
done
say "result"
"$py" "$here/torch_dit.py" report "$out"/dit.*.log | tee "$out/dit.md"
exit "$rc"
