#!/usr/bin/env bash
# bench/run_text.sh — the text encoder's bench: diorama's qwen-tokenizer against Hugging Face `tokenizers`
# (same vocabulary, same corpus, one thread), and qwen-text-encoder against transformers on the CPU, for the
# tiny fixture model and a mid-size random Qwen2 (8 layers, hidden 1024, 16/4 heads, 512 tokens), as ratios,
# with an agreement check (token ids identical; embeddings within tolerance).
#
# Builds diorama (Release) in build-bench-text/ (or DIO_BENCH_BUILD), compiles bench/bench_text.c against
# that libdiorama (bench/CMakeLists.txt is left to the other benches), writes the corpus, the mid model and
# the inputs once into bench/out/text/ (git-ignored) with bench/text_torch.py, then runs ours and theirs one
# after the other (never at once: they would share the cores) and prints a Markdown table.
# The Python side uses tests/reference/.venv (or DIO_BENCH_PY); nothing is installed.
#
# usage: bench/run_text.sh [--threads N] [--reps R]
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/.." && pwd)"
build="${DIO_BENCH_BUILD:-$root/build-bench-text}"
py="${DIO_BENCH_PY:-$root/tests/reference/.venv/bin/python}"
out="$here/out/text"
threads="$(nproc)"
reps=3
while [ $# -gt 0 ]; do
    case "$1" in
    --threads) threads="$2"; shift 2 ;;
    --reps) reps="$2"; shift 2 ;;
    *) echo "usage: $0 [--threads N] [--reps R]" >&2; exit 2 ;;
    esac
done

cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build "$build" -j "$(nproc)" --target diorama dio_cpu dio_text dio_text_tokenizer >/dev/null
cc -std=c11 -O2 -D_GNU_SOURCE -Wall -Wextra -Wshadow -Wstrict-prototypes -Wmissing-prototypes -Werror \
    -I"$root/abi" "$here/bench_text.c" -o "$build/bench_text" -L"$build/lib" -ldiorama -lm \
    -Wl,-rpath,"$build/lib"

mkdir -p "$out"
[ -f "$out/mid_encoder/model.safetensors" ] && [ -f "$out/corpus.txt" ] || "$py" "$here/text_torch.py" prepare
# Reference first, so that bench_text finds torch_*.safetensors for the agreement check.
RAYON_NUM_THREADS=1 TOKENIZERS_PARALLELISM=false OMP_NUM_THREADS="$threads" \
    "$py" "$here/text_torch.py" run "$threads" "$reps" >"$out/torch.jsonl"
"$build/bench_text" "$build/lib/diorama" "$out" "$root/tests/fixtures/text" "$threads" "$reps" >"$out/ours.jsonl"

"$py" - "$out" "$threads" <<'PY'
import json, sys
out, threads = sys.argv[1], sys.argv[2]
ours = {r["what"]: r for r in map(json.loads, open(f"{out}/ours.jsonl"))}
ref = {r["what"]: r for r in map(json.loads, open(f"{out}/torch.jsonl"))}
t_o, t_r = ours["tokenizer"], ref["tokenizer"]
same = t_o["ids_sha256"] == t_r["ids_sha256"] and t_o["n_ids"] == t_r["n_ids"]
print(f"corpus {t_o['bytes']/1e6:.2f} MB, {t_o['n_ids']} ids; encoders: {threads} threads, f32, CPU\n")
print("| what | diorama | reference | diorama / reference | agreement |")
print("|---|---|---|---|---|")
print(f"| tokenizer (1 thread) | {t_o['mb_s']:.2f} MB/s | {t_r['mb_s']:.2f} MB/s (tokenizers) | "
      f"{t_o['mb_s']/t_r['mb_s']:.2f}× throughput | ids {'identical' if same else 'DIFFER'} ({t_o['n_ids']} ids) |")
ok = same
for k, label in (("encoder_tiny", "encoder, tiny fixture (2×32), 512 tokens"),
                 ("encoder_mid", "encoder, mid random (8×1024, 16/4 heads), 512 tokens")):
    o, r = ours[k], ref[k]
    agree = 0 <= o["max_abs_diff"] < 1e-3
    ok &= agree
    print(f"| {label} | {o['seconds']*1e3:.1f} ms | {r['seconds']*1e3:.1f} ms (transformers) | "
          f"{r['seconds']/o['seconds']:.2f}× speed (time ratio {o['seconds']/r['seconds']:.2f}) | "
          f"max abs diff {o['max_abs_diff']:.2g} (rel {o['max_rel_diff']:.2g}) |")
print(f"\nload: ours tiny {ours['encoder_tiny']['load_s']*1e3:.1f} ms, mid {ours['encoder_mid']['load_s']*1e3:.1f} ms "
      f"(mmap); transformers tiny {ref['encoder_tiny']['load_s']:.2f} s, mid {ref['encoder_mid']['load_s']:.2f} s; "
      f"tokenizer load ours {t_o['load_s']:.2f} s")
sys.exit(0 if ok else 1)
PY
