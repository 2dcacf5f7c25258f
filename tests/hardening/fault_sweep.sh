#!/usr/bin/env bash
# The fault-injection sweep (issue 10, item 4): runs the tiny Text2World pipeline (`diorama generate`
# with samples/graphs/tiny-text2world.json, as MP4, animated WebP and a PNG frame folder) and
# `diorama encode-prompt` through the on-disk cache, with the Nth allocation (DIO_FAULT_ALLOC=N) or the
# Nth output operation (DIO_FAULT_WRITE=N: write, fwrite, fflush, fsync, rename, mkstemp, mkdtemp,
# mkdir, fopen for writing) made to fail by libdio_fault (core/fault_inject.c), and asserts for every N:
#   - no signal, no AddressSanitizer / UndefinedBehaviorSanitizer report, no LeakSanitizer leak;
#   - either exit status 1 with a clear last line "diorama: WHAT: MESSAGE" (message not empty), and no
#     file under the output's final name and no stray temporary file beside it (nor in the cache);
#   - or exit status 0 (the failure hit something optional: a cache store, the VAE's untiled attempt
#     before its tiled retry) with a complete output: byte-identical to the fault-free run, or else
#     read back by `diorama info` with 13 frames of 64x48 (the tiled retry changes pixels), and only
#     complete cache entries.
# The first run of each scenario has no fault and reports the number of calls (DIO_FAULT_REPORT), which
# gives the range; runs use one thread (OMP_NUM_THREADS=1, --threads 1) so N names the same call each time.
#
# usage: fault_sweep.sh [--ci | --full | --writes | --sample K] [-j JOBS] [--only SCENARIO] DIORAMA PLUGIN_DIR SOURCE_DIR WORK_DIR
#   --ci    (default) a bounded subset: every output operation of every scenario; every allocation up
#           to 150 then every 13th of the MP4 run; the writer's allocations (from 20 before the first
#           output operation to the end) of the WebP and PNG runs; every 7th allocation of encode-prompt
#   --full  every allocation and every output operation of the MP4 and encode-prompt runs; for WebP and
#           PNG, every output operation and every allocation from 20 before the first output operation
#           (before it they run exactly the MP4 run's code, which --full sweeps)
#   --writes every output operation of every scenario, no allocation failures (ctest
#           hardening.fault_writes: about a minute on 2 cores)
#   --sample K every Kth allocation of every scenario (from the first for MP4 and encode-prompt, from 20
#           before the first output operation for WebP and PNG) and one past the last, no output
#           failures (ctest hardening.fault_allocs, K = 53: about 330 cases)
#   scenarios: mp4 webp png prompt. Failing cases keep their folder under WORK_DIR/cases; the last line
#   says how many N were run. Exit status 0 only when every case passed.
set -uo pipefail
mode=ci jobs=2 only="" stride=0
while [ $# -gt 0 ]; do
    case $1 in
    --ci) mode=ci ;;
    --full) mode=full ;;
    --writes) mode=writes ;;
    --sample) mode=sample; stride=$2; shift ;;
    -j) jobs=$2; shift ;;
    --only) only=$2; shift ;;
    *) break ;;
    esac
    shift
done
if [ $# -ne 4 ]; then
    echo "usage: fault_sweep.sh [--ci | --full | --writes | --sample K] [-j JOBS] [--only SCENARIO] DIORAMA PLUGIN_DIR SOURCE_DIR WORK_DIR" >&2
    exit 2
fi
bin=$1 plugins=$2 src=$3 work=$4
rm -rf "$work" && mkdir -p "$work/cases" "$work/results" || exit 1
work=$(cd "$work" && pwd)
graph=$src/samples/graphs/tiny-text2world.json
encoder=$src/tests/fixtures/text/text_encoder/model.safetensors
tokenizer=$src/tests/fixtures/text/tokenizer_tiny
export OMP_NUM_THREADS=1
# Sanitizer reports get their own exit codes so that they can never pass for our exit status 1.
export ASAN_OPTIONS="detect_leaks=1:abort_on_error=0:exitcode=86:${ASAN_OPTIONS:-}"
export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1:exitcode=87:${UBSAN_OPTIONS:-}"
export LSAN_OPTIONS="use_tls=0:print_suppressions=0:suppressions=$src/tests/lsan.supp:${LSAN_OPTIONS:-}"
unset DIO_FAULT_ALLOC DIO_FAULT_WRITE DIO_FAULT_TRACE
export DIORAMA_LOG=warn

# run_scenario SCENARIO CASE_DIR: runs one scenario with its output and cache under CASE_DIR.
run_scenario() {
    local sc=$1 d=$2
    mkdir -p "$d/out" "$d/cache"
    case $sc in
    mp4 | webp) DIORAMA_CACHE_DIR=$d/cache "$bin" --plugin-dir "$plugins" --threads 1 generate --graph "$graph" \
        -o "$d/out/video.$sc" ;;
    png) DIORAMA_CACHE_DIR=$d/cache "$bin" --plugin-dir "$plugins" --threads 1 generate --graph "$graph" \
        -o "$d/out/frames.png" ;;
    prompt) DIORAMA_CACHE_DIR=$d/cache "$bin" --plugin-dir "$plugins" --threads 1 encode-prompt \
        --text-encoder "$encoder" --tokenizer "$tokenizer" --prompt "A red cube slides across a wooden table." \
        --max-length 64 --output "$d/out/emb.safetensors" ;;
    esac
}

final_name() {
    case $1 in mp4) echo video.mp4 ;; webp) echo video.webp ;; png) echo frames ;; prompt) echo emb.safetensors ;; esac
}

# check_case SCENARIO CASE_DIR RC: prints nothing when the case passed, else the reason.
check_case() {
    local sc=$1 d=$2 rc=$3 name listing cache_files last
    name=$(final_name "$sc")
    if grep -Eq 'ERROR: (AddressSanitizer|LeakSanitizer)|runtime error:|SUMMARY: (Address|Leak|UndefinedBehavior)Sanitizer' "$d/log"; then
        echo "sanitizer report (rc $rc): $(grep -Em1 'ERROR:|runtime error:' "$d/log")"; return
    fi
    if [ "$rc" -ne 0 ] && [ "$rc" -ne 1 ]; then echo "exit status $rc"; return; fi
    listing=$(cd "$d/out" && ls -A)
    # Cache: only complete entries (*.safetensors) in its kind folders; no temporary file anywhere.
    cache_files=$(cd "$d/cache" && find . -type f ! -name '*.safetensors' | head -3)
    if [ -n "$cache_files" ]; then echo "stray file in the cache: $cache_files"; return; fi
    for f in $(cd "$d/cache" && find . -type f -name '*.safetensors'); do
        if ! cmp -s "$d/cache/$f" "$work/base-$sc/cache/$f"; then echo "cache entry $f differs from the fault-free run's"; return; fi
    done
    if [ "$rc" -eq 1 ]; then
        if [ -n "$listing" ]; then echo "failed (rc 1) but left: $listing"; return; fi
        last=$(grep -v '^step \|^\[' "$d/log" | tail -n 1)
        if ! printf '%s' "$last" | grep -Eq '^diorama: .*[^ :]$'; then echo "unclear error line: '$last'"; return; fi
        return
    fi
    # rc 0: the failure hit something optional; the output must be complete.
    if [ "$listing" != "$name" ]; then echo "succeeded but the output folder holds: '$listing'"; return; fi
    if [ "$sc" = png ]; then
        if diff -r "$d/out/$name" "$work/base-$sc/out/$name" > /dev/null; then return; fi
    elif cmp -s "$d/out/$name" "$work/base-$sc/out/$name"; then
        return
    fi
    if [ "$sc" = prompt ]; then echo "succeeded with an output that differs from the fault-free run's"; return; fi
    local info
    info=$(env -u DIO_FAULT_ALLOC -u DIO_FAULT_WRITE "$bin" info "$d/out/$name" 2>&1)
    if ! echo "$info" | grep -Eq '^frames +13$' || ! echo "$info" | grep -Eq '^size +64x48$'; then
        echo "succeeded with an unreadable output: $(echo "$info" | tr '\n' ' ' | cut -c1-200)"
    fi
}

# one SCENARIO KIND N: runs and checks one case, writing its verdict to results/.
one() {
    local sc=$1 kind=$2 n=$3 d=$work/cases/$1-$2-$3 rc why
    mkdir -p "$d"
    if [ "$kind" = alloc ]; then
        DIO_FAULT_ALLOC=$n run_scenario "$sc" "$d" > "$d/log" 2>&1
    else
        DIO_FAULT_WRITE=$n run_scenario "$sc" "$d" > "$d/log" 2>&1
    fi
    rc=$?
    why=$(check_case "$sc" "$d" "$rc")
    if [ -z "$why" ]; then
        echo "ok $rc" > "$work/results/$sc-$kind-$n"
        rm -rf "$d"
    else
        echo "FAIL $sc $kind=$n: $why" > "$work/results/$sc-$kind-$n"
        echo "FAIL $sc $kind=$n: $why (log: $d/log)"
    fi
}

scenarios="mp4 webp png prompt"
[ -n "$only" ] && scenarios=$only
t0=$(date +%s)
status=0
total=0
for sc in $scenarios; do
    b=$work/base-$sc
    mkdir -p "$b"
    DIO_FAULT_REPORT=$b/report run_scenario "$sc" "$b" > "$b/log" 2>&1
    rc=$?
    if [ $rc -ne 0 ] || [ ! -s "$b/report" ]; then
        echo "FAIL $sc: the fault-free run failed (rc $rc; is this a DIO_FAULT_INJECTION build?)"
        cat "$b/log"
        status=1
        continue
    fi
    allocs=$(awk '$1 == "alloc" {print $2}' "$b/report")
    writes=$(awk '$1 == "write" {print $2}' "$b/report")
    first=$(awk '$1 == "alloc_at_first_write" {print $2}' "$b/report")
    wstart=$((first > 20 ? first - 20 : 1))
    # The N to run, one per line as "KIND N"; one past the count checks that nothing fires there.
    list=$work/list-$sc
    {
        [ "$mode" = sample ] || seq 1 $((writes + 1)) | sed 's/^/write /'
        if [ "$mode" = writes ]; then
            :
        elif [ "$mode" = sample ]; then
            case $sc in
            mp4 | prompt) seq 1 "$stride" "$allocs" ;;
            *) seq "$wstart" "$stride" "$allocs" ;;
            esac
            echo $((allocs + 1))
        elif [ "$mode" = full ]; then
            case $sc in
            mp4 | prompt) seq 1 $((allocs + 1)) ;;
            *) seq "$wstart" $((allocs + 1)) ;;
            esac
        else
            case $sc in
            mp4) seq 1 150; seq 151 13 "$allocs"; echo $((allocs + 1)) ;;
            prompt) seq 1 7 $((allocs + 1)) ;;
            *) seq "$wstart" $((allocs + 1)) ;;
            esac
        fi | sed 's/^/alloc /'
    } > "$list"
    count=$(wc -l < "$list")
    total=$((total + count))
    echo "$sc: $allocs allocations, $writes output operations (first at allocation $first); running $count cases"
    while read -r kind n; do
        while [ "$(jobs -rp | wc -l)" -ge "$jobs" ]; do wait -n; done
        one "$sc" "$kind" "$n" &
    done < "$list"
    wait
done
fails=$(cat "$work"/results/* 2>/dev/null | grep -c '^FAIL')
passed_rc1=$(cat "$work"/results/* 2>/dev/null | grep -c '^ok 1')
passed_rc0=$(cat "$work"/results/* 2>/dev/null | grep -c '^ok 0')
[ "$fails" -eq 0 ] || status=1
echo "fault sweep ($mode): $total cases in $(($(date +%s) - t0)) s: $passed_rc1 clean failures, $passed_rc0 complete outputs, $fails failed"
exit $status
