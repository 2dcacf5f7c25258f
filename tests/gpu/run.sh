#!/usr/bin/env bash
# The GPU checks, for a machine with a GPU: builds the tree (Release) in build-gpu/ and runs every ctest of
# the chosen backend with its device present — every op against the float64 reference (test_ops), and the
# element-wise and matmul checks of tests/cuda/test_cuda.c through the
# vendor's GEMM library and through our tiled kernel — then prints the device.
#   tests/gpu/run.sh cuda      NVIDIA (the CUDA backend, cuBLASLt)
#   tests/gpu/run.sh hip       AMD (the HIP backend built from the same sources; rocBLAS when installed)
# A test that reports "skipped" here means the backend found no device: on a GPU machine that is a failure,
# so this script fails on it. Needs the Debian packages of tools/deps.sh (or the same libraries carried in).
set -euo pipefail
cd "$(dirname "$0")/../.."
gpu=${1:-cuda}
case $gpu in cuda | hip) ;; *) echo "usage: tests/gpu/run.sh [cuda|hip]" >&2; exit 2 ;; esac
dir=build-gpu
jobs=$(nproc 2>/dev/null || echo 2)
cmake -S . -B "$dir" -DCMAKE_BUILD_TYPE=Release -DDIO_BUILD_BENCH=OFF
cmake --build "$dir" -j "$jobs"
if [ ! -e "$dir/lib/diorama/libdio_$gpu.so" ]; then
  echo "tests/gpu/run.sh: the $gpu plugin was not built (is $( [ "$gpu" = cuda ] && echo nvcc || echo hipcc ) on PATH?)" >&2
  exit 1
fi
"$dir/bin/diorama" --plugin-dir "$dir/lib/diorama" plugins | grep -A3 "^backend *$gpu "
log=$dir/gpu-$gpu.log
ctest --test-dir "$dir" -R "^$gpu\\." --output-on-failure -V 2>&1 | tee "$log"
if grep -q "SKIPPED: no $gpu device" "$log"; then
  echo "tests/gpu/run.sh: the $gpu backend found no device on this machine" >&2
  exit 1
fi
grep -q "tests passed, 0 tests failed" "$log"
