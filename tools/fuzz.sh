#!/usr/bin/env bash
# Runs the libFuzzer harnesses of tests/fuzz (issue 10) and prints, per harness, the executions, the
# speed, the coverage (libFuzzer's cov: edges and ft: features) and the corpus size.
#   tools/fuzz.sh --ci                  every harness for 60 s, two at a time (what .ci/run does)
#   tools/fuzz.sh --time 3600 [-j 2]    every harness for an hour (a local campaign)
#   tools/fuzz.sh --runs 1000000 pt     one harness for exactly a million executions
#   tools/fuzz.sh ... -- -max_len=4096  anything after -- goes to every libFuzzer command line
# Builds build-fuzz/ with clang, AddressSanitizer, UndefinedBehaviorSanitizer and coverage
# instrumentation over libdiorama and the plugins. The corpus of each harness lives in
# build-fuzz/corpus/<name> (kept between runs, seeded from tests/fuzz/seeds.txt and regressions/);
# a crash is written to build-fuzz/artifacts/ and fails the run — copy it into
# tests/fuzz/regressions/<name>/ once fixed, so the replay ctest keeps it.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
time_s=""
runs=""
jobs=$(nproc 2>/dev/null || echo 2)
harnesses=()
extra=()
while [ $# -gt 0 ]; do
  case "$1" in
    --ci) time_s=60 ;;
    --time) time_s=$2; shift ;;
    --runs) runs=$2; shift ;;
    -j) jobs=$2; shift ;;
    --) shift; extra=("$@"); break ;;
    -h|--help) sed -n '2,13p' "$0"; exit 0 ;;
    -*) echo "fuzz.sh: unknown option $1" >&2; exit 2 ;;
    *) harnesses+=("$1") ;;
  esac
  shift
done
[ -z "$time_s" ] && [ -z "$runs" ] && time_s=60
all=(safetensors safetensors_index pt graph tokenizer_load tokenizer_encode plugin_descriptor media)
[ ${#harnesses[@]} -eq 0 ] && harnesses=("${all[@]}")

tools/deps.sh
if ! command -v clang >/dev/null; then
  echo "fuzz.sh: clang is needed (tools/deps.sh installs it)" >&2
  exit 1
fi
dir=$root/build-fuzz
mkdir -p "$dir"
CC=clang cmake -S . -B "$dir" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DDIO_SANITIZE=ON -DDIO_FUZZ=ON \
  -DDIO_FAULT_INJECTION=OFF -DDIO_BUILD_BENCH=OFF >"$dir/configure.log" 2>&1 ||
  { cat "$dir/configure.log"; exit 1; }
cmake --build "$dir" -j "$jobs" --target fuzz_all

export ASAN_OPTIONS="detect_leaks=1:abort_on_error=0:${ASAN_OPTIONS:-}"
export LSAN_OPTIONS="use_tls=0:suppressions=$root/tests/lsan.supp:${LSAN_OPTIONS:-}"
export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1:${UBSAN_OPTIONS:-}"
mkdir -p "$dir/artifacts" "$dir/logs"

dict_of() {
  case "$1" in
    safetensors|safetensors_index) echo safetensors ;;
    tokenizer_*) echo tokenizer ;;
    plugin_descriptor) echo "" ;;
    *) echo "$1" ;;
  esac
}

seed() { # copy the seeds of harness $1 into its corpus (never overwriting what the fuzzer found)
  local h=$1 corpus=$dir/corpus/$1 glob
  mkdir -p "$corpus"
  while read -r name glob; do
    [ "$name" = "$h" ] || continue
    for f in $root/$glob; do [ -f "$f" ] && cp -n "$f" "$corpus/seed_$(basename "$f")"; done
  done < <(grep -E '^[a-z_]+ ' tests/fuzz/seeds.txt)
  if [ -d "tests/fuzz/regressions/$h" ]; then
    for f in tests/fuzz/regressions/$h/*; do [ -f "$f" ] && cp -n "$f" "$corpus/regression_$(basename "$f")"; done
  fi
  return 0
}

run_one() {
  local h=$1 d args=()
  d=$(dict_of "$h")
  [ -n "$d" ] && args+=("-dict=$root/tests/fuzz/dict/$d.dict")
  [ -n "$time_s" ] && args+=("-max_total_time=$time_s")
  [ -n "$runs" ] && args+=("-runs=$runs")
  args+=("${extra[@]}")
  seed "$h"
  "$dir/bin/fuzz_$h" "${args[@]}" -print_final_stats=1 -timeout=30 -rss_limit_mb=4096 \
    -artifact_prefix="$dir/artifacts/$h-" "$dir/corpus/$h" >"$dir/logs/$h.log" 2>&1
}

status=0
pids=()
names=()
for h in "${harnesses[@]}"; do
  [ -x "$dir/bin/fuzz_$h" ] || { echo "fuzz.sh: no harness $h (known: ${all[*]})" >&2; exit 2; }
  while [ "$(jobs -rp | wc -l)" -ge "$jobs" ]; do wait -n || true; done
  run_one "$h" &
  pids+=($!)
  names+=("$h")
done
for i in "${!pids[@]}"; do
  if ! wait "${pids[$i]}"; then status=1; echo "fuzz.sh: ${names[$i]} FAILED (log: $dir/logs/${names[$i]}.log)"; fi
done

printf '%-18s %12s %9s %8s %8s %8s  %s\n' harness executions exec/s cov ft corpus result
for h in "${harnesses[@]}"; do
  log=$dir/logs/$h.log
  execs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | awk '{print $2}' | tail -1 || true)
  speed=$(grep -o 'stat::average_exec_per_sec: *[0-9]*' "$log" | awk '{print $2}' | tail -1 || true)
  last=$(grep -E '^#[0-9]+' "$log" | tail -1 || true)
  # -fork=N prints no final stats: its last status line carries the total ("#N: cov: ...").
  [ -z "$execs" ] && execs=$(sed -n 's/^#\([0-9]*\).*/\1/p' <<<"$last")
  cov=$(sed -n 's/.* cov: \([0-9]*\).*/\1/p' <<<"$last")
  ft=$(sed -n 's/.* ft: \([0-9]*\).*/\1/p' <<<"$last")
  n=$(find "$dir/corpus/$h" -type f | wc -l)
  res=ok
  grep -qE 'ERROR: (AddressSanitizer|LeakSanitizer|UndefinedBehaviorSanitizer|libFuzzer)|runtime error:|==ERROR|ParseDictionaryFile' "$log" && res=FAIL
  printf '%-18s %12s %9s %8s %8s %8s  %s\n' "$h" "${execs:-?}" "${speed:-?}" "${cov:-?}" "${ft:-?}" "$n" "$res"
  if [ "$res" != ok ]; then
    status=1
    grep -E 'SUMMARY|Test unit written|ERROR|error in line' "$log" | head -5 | sed 's/^/    /' || true
  fi
done
exit $status
