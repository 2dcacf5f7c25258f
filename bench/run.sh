#!/usr/bin/env bash
# bench/run.sh — the one command: diorama's ops against PyTorch on this machine, in one run.
#
# Builds diorama (Release, in build-bench/ unless DIO_BENCH_BUILD says otherwise), makes sure a local
# venv (bench/.venv or DIO_BENCH_VENV) has torch, runs bench_ops then bench/torch_ops.py one after the
# other (never at once: they would share the cores) with the same thread count and repetition policy,
# for R rounds (default 2: ours, torch, ours, torch; each side keeps its best round per case, so a
# slow spell of a shared machine does not land on one side only), and prints the table of GFLOP/s,
# ours/torch and % of the sgemm ceiling measured in the same run. A full round takes about 1.5 min on
# 2 cores. Everything lands in bench/out/ (git-ignored): ours.R.log, torch.R.log and results.json.
# torch is installed here and only here, never by CI: the CPU-only wheel index first, then PyPI (whose
# Linux wheel also pulls the CUDA libraries, several GB, used by nothing here).
#
# usage: bench/run.sh [--backend NAME] [--threads N] [--rounds R] [--warmup N] [--reps N] [--only TEXT]
#                     [--quick]
# (environment: DIO_BENCH_VENV, DIO_BENCH_BUILD, DIO_BENCH_THREADS, DIO_BENCH_ROUNDS)
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/.." && pwd)"
venv="${DIO_BENCH_VENV:-$here/.venv}"
build="${DIO_BENCH_BUILD:-$root/build-bench}"
out="$here/out"
threads="${DIO_BENCH_THREADS:-$(nproc)}"
backend=cpu
rounds="${DIO_BENCH_ROUNDS:-2}"
common=()

while [ $# -gt 0 ]; do
    case "$1" in
    --backend) backend="$2"; shift 2 ;;
    --threads) threads="$2"; shift 2 ;;
    --rounds) rounds="$2"; shift 2 ;;
    --warmup | --reps | --only) common+=("$1" "$2"); shift 2 ;;
    --quick) common+=("$1"); shift ;;
    -h | --help) sed -n '2,16p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "run.sh: unknown argument $1 (try --help)" >&2; exit 2 ;;
    esac
done

say() { printf '\n== %s\n' "$*"; }

# ---- torch in a local venv, only if missing ----
if [ ! -x "$venv/bin/python" ]; then
    say "creating venv $venv"
    python3 -m venv "$venv"
fi
py="$venv/bin/python"
if ! "$py" -c 'import torch' >/dev/null 2>&1; then
    say "installing torch into $venv"
    cpu_index=https://download.pytorch.org/whl/cpu
    # numpy too, only so that torch does not warn that it is missing.
    if ! "$py" -m pip install --retries 1 --timeout 30 torch numpy --index-url "$cpu_index"; then
        echo "run.sh: the CPU-only wheel index is not reachable; installing torch from PyPI" >&2
        "$py" -m pip install torch numpy
    fi
    "$py" -c 'import torch' || { echo "run.sh: torch still does not import from $venv" >&2; exit 1; }
fi

# ---- diorama, Release ----
if [ ! -f "$build/CMakeCache.txt" ]; then
    say "configuring $build"
    cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=Release -DDIO_BUILD_TESTS=OFF -DDIO_BUILD_BENCH=ON
fi
say "building"
# Only what the bench needs: libdiorama, bench_ops and the backend's plugin (target dio_NAME); a
# backend this tree has no target for must already be in $build/lib/diorama.
targets="$(cmake --build "$build" --target help)"
if grep -qx "\.\.\. dio_$backend" <<<"$targets"; then
    cmake --build "$build" --target bench_ops "dio_$backend" -j "$(nproc)"
else
    cmake --build "$build" --target bench_ops -j "$(nproc)"
fi

# ---- the two sides, one after the other, same threads and policy ----
mkdir -p "$out"
export OMP_NUM_THREADS="$threads" MKL_NUM_THREADS="$threads"
set +e
ours_rc=0
torch_rc=0
ours_logs=()
torch_logs=()
rm -f "$out"/ours.*.log "$out"/torch.*.log
for r in $(seq 1 "$rounds"); do
    say "round $r/$rounds: diorama ($backend backend, $threads threads)"
    "$build/bin/bench_ops" --backend "$backend" --threads "$threads" "${common[@]}" "$build/lib/diorama" \
        2>&1 | tee "$out/ours.$r.log" | grep -v '^{'
    rc=${PIPESTATUS[0]}
    [ "$rc" = 0 ] || ours_rc=$rc
    ours_logs+=(--ours "$out/ours.$r.log")
    say "round $r/$rounds: PyTorch ($threads threads)"
    "$py" "$here/torch_ops.py" --threads "$threads" "${common[@]}" \
        2>&1 | tee "$out/torch.$r.log" | grep -v '^{'
    rc=${PIPESTATUS[0]}
    [ "$rc" = 0 ] || torch_rc=$rc
    torch_logs+=(--torch "$out/torch.$r.log")
done
set -e

"$py" "$here/report.py" "${ours_logs[@]}" "${torch_logs[@]}" --out "$out/results.json" --threads "$threads"
[ "$ours_rc" = 0 ] || echo "run.sh: bench_ops exited $ours_rc (see $out/ours.*.log)" >&2
[ "$torch_rc" = 0 ] || echo "run.sh: torch_ops.py exited $torch_rc (see $out/torch.*.log)" >&2
[ "$ours_rc" = 0 ] && [ "$torch_rc" = 0 ]
