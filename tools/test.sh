#!/usr/bin/env bash
# The test command: installs the Debian packages, configures, builds and runs every ctest.
#   tools/test.sh             Release build in build/
#   tools/test.sh --sanitize  AddressSanitizer + UndefinedBehaviorSanitizer build in build-asan/
#   tools/test.sh --tsan      ThreadSanitizer build in build-tsan/: only what the two-thread test needs,
#                             and only that test (hardening.threads; the rest is single-threaded code
#                             already run under ASan)
set -euo pipefail
cd "$(dirname "$0")/.."
tools/deps.sh
dir=build
flags=(-DCMAKE_BUILD_TYPE=Release)
if [ "${1:-}" = "--sanitize" ]; then
  dir=build-asan
  flags=(-DCMAKE_BUILD_TYPE=RelWithDebInfo -DDIO_SANITIZE=ON -DDIO_BUILD_BENCH=OFF)
  # LeakSanitizer stays on. use_tls=0: LSan's tracer crashes (SIGSEGV) scanning the thread-local
  # storage of libgomp's worker threads, which are still parked at exit after any oneDNN op. Not
  # scanning TLS can only add false leak reports (those from libgomp are suppressed), never hide one.
  export ASAN_OPTIONS="detect_leaks=1:abort_on_error=0:${ASAN_OPTIONS:-}"
  export LSAN_OPTIONS="use_tls=0:suppressions=$PWD/tests/lsan.supp:${LSAN_OPTIONS:-}"
  export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1:${UBSAN_OPTIONS:-}"
fi
targets=()
select=()
if [ "${1:-}" = "--tsan" ]; then
  dir=build-tsan
  flags=(-DCMAKE_BUILD_TYPE=RelWithDebInfo -DDIO_TSAN=ON -DDIO_BUILD_BENCH=OFF)
  export TSAN_OPTIONS="halt_on_error=1:second_deadlock_stack=1:${TSAN_OPTIONS:-}"
  targets=(--target test_threads)
  select=(-L threads)
fi
jobs=$(nproc 2>/dev/null || echo 2)
cmake -S . -B "$dir" "${flags[@]}"
cmake --build "$dir" -j "$jobs" "${targets[@]}"
ctest --test-dir "$dir" --output-on-failure -j "$jobs" --timeout 900 "${select[@]}"
