#!/usr/bin/env bash
# Device out-of-memory at every point of a pipeline: `diorama generate --backend gpuemu` with the tiny
# Text2World graph, the emulated device failing its Nth allocation (DIORAMA_GPU_EMU_FAIL_ALLOC=N; the
# fault-free first run reports how many there are). For every N tried:
#   - no signal and no AddressSanitizer / UndefinedBehaviorSanitizer / LeakSanitizer report;
#   - either exit status 1 with a last line "diorama: ..." naming what failed, and no file under the
#     output's name nor a temporary one beside it;
#   - or exit status 0 (the failure hit something with a fallback) with a complete video: 13 frames of 64x48.
# Each case starts from an empty prompt cache, so N names the same allocation every time.
# usage: device_oom_sweep.sh [--cases C] DIORAMA PLUGIN_DIR EMU_PLUGIN_DIR SOURCE_DIR WORK_DIR
#   --cases C   about C evenly spaced N plus the first, the last and one past the last (default 24)
set -euo pipefail
cases=24
if [ "${1:-}" = "--cases" ]; then cases=$2; shift 2; fi
bin=$1 plugins=$2 emu=$3 src=$4 work=$5
rm -rf "$work" && mkdir -p "$work"
run() { # dir [env...]: one generate run in its own folder; prints its exit status
  local dir=$1; shift
  mkdir -p "$dir"
  set +e
  env "$@" LSAN_OPTIONS="${LSAN_OPTIONS:-}:print_suppressions=0" DIORAMA_CACHE_DIR="$dir/cache" OMP_NUM_THREADS=1 "$bin" --plugin-dir "$plugins" --plugin-dir "$emu" \
    generate --backend gpuemu --threads 1 --graph "$src/samples/graphs/tiny-text2world.json" -o "$dir/out.mp4" \
    > "$dir/log" 2>&1
  echo $?
  set -e
}
complete() { # file: 13 frames of 64x48
  [ "$(ffprobe -v error -count_frames -select_streams v:0 -show_entries stream=nb_read_frames,width,height \
       -of csv=p=0 "$1" 2>&1 || true)" = "64,48,13" ]
}
rc=$(run "$work/ref" DIORAMA_GPU_EMU_REPORT="$work/ref/allocs")
if [ "$rc" != 0 ] || ! complete "$work/ref/out.mp4"; then
  cat "$work/ref/log"; echo "FAIL the fault-free run"; exit 1
fi
total=$(cat "$work/ref/allocs")
step=$(( total / cases > 0 ? total / cases : 1 ))
points=$( (echo 1; seq "$step" "$step" "$total"; echo "$total"; echo $((total + 1))) | sort -n -u)
fail=0 n_run=0 n_ok=0 n_failed_cleanly=0
for n in $points; do
  dir="$work/cases/$n"
  rc=$(run "$dir" DIORAMA_GPU_EMU_FAIL_ALLOC="$n")
  n_run=$((n_run + 1))
  why=""
  if grep -q "AddressSanitizer\|LeakSanitizer\|runtime error:" "$dir/log"; then why="a sanitizer report"
  elif [ "$rc" = 0 ]; then
    complete "$dir/out.mp4" || why="exit 0 without a complete video"
  elif [ "$rc" = 1 ]; then
    last=$(tail -1 "$dir/log")
    case $last in "diorama: "?*) ;; *) why="exit 1 without a clear last line ($last)" ;; esac
    if ls -A "$dir" | grep -q '^out\.mp4\|\.tmp'; then why="an output left behind: $(ls -A "$dir" | tr '\n' ' ')"; fi
  else
    why="exit status $rc"
  fi
  if [ -n "$why" ]; then
    echo "FAIL allocation $n of $total: $why"; tail -3 "$dir/log"; fail=1
  else
    [ "$rc" = 0 ] && n_ok=$((n_ok + 1)) || n_failed_cleanly=$((n_failed_cleanly + 1))
    rm -rf "$dir"
  fi
done
echo "device allocations: $total; $n_run cases: $n_failed_cleanly failed cleanly, $n_ok completed (a fallback or no fault)"
exit $fail
