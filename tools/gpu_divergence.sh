#!/usr/bin/env bash
# How far the HIP backend has drifted from the CUDA one (issue 9): lines of code (non-blank, not only a
# comment) shared by both plugins, only in CUDA, and only in HIP. Shared: the plugins/cuda sources that
# plugins/hip builds again (plugins/cuda/gpu_sources.cmake names them) and the headers; vendor-only: the other files of
# each plugin, and each branch of plugins/cuda/gpu_vendor.h.
#   tools/gpu_divergence.sh [--max-hip-percent P]   exit 1 when HIP-only lines exceed P% of the shared ones
set -euo pipefail
cd "$(dirname "$0")/.."
max=""
[ "${1:-}" = "--max-hip-percent" ] && max=$2
loc() { # lines of code of the files given (comments of the /* */ and // kind and blank lines dropped)
  [ $# -eq 0 ] && { echo 0; return; }
  cat "$@" | sed -e 's://.*$::' | awk '
    { line = $0 }
    incomment { if (index(line, "*/")) { line = substr(line, index(line, "*/") + 2); incomment = 0 } else next }
    { while (match(line, /\/\*/)) { rest = substr(line, RSTART + 2); pre = substr(line, 1, RSTART - 1)
        if (index(rest, "*/")) line = pre substr(rest, index(rest, "*/") + 2); else { line = pre; incomment = 1 } } }
    line ~ /[^ \t]/ { n++ }
    END { print n + 0 }'
}
shared_src=$(awk '/^set\(DIO_GPU_SHARED_(C|CU)/{f=1; sub(/^set\(DIO_GPU_SHARED_(C|CU)/, "")} f{line=$0; if (sub(/\).*/, "", line)) f=0; print line}' \
  plugins/cuda/gpu_sources.cmake | tr ' ' '\n' | grep . | sed 's|^|plugins/cuda/|')
shared_hdr=$(ls plugins/cuda/*.h plugins/cuda/*.cuh | grep -v gpu_vendor.h)
cuda_only=$(ls plugins/cuda/*.c plugins/cuda/*.cu | grep -v -x -F "$shared_src")
hip_only=$(ls plugins/hip/*.c plugins/hip/*.cu 2>/dev/null || true)
vendor_hip=$(awk '/^#(el)?if defined\(DIO_GPU_HIP\)/{f=1;next} /^#else \/\* CUDA \*\//{f=0} f' plugins/cuda/gpu_vendor.h |
  grep -cv '^\s*$\|^\s*/\*\|^\s*\*' || true)
vendor_cuda=$(awk '/^#else \/\* CUDA \*\//{f=1;next} /^#endif$/{if(f)exit} f' plugins/cuda/gpu_vendor.h |
  grep -cv '^\s*$\|^\s*/\*\|^\s*\*' || true)
n_shared=$(( $(loc $shared_src $shared_hdr) ))
n_cuda=$(( $(loc $cuda_only) + vendor_cuda ))
n_hip=$(( $(loc $hip_only) + vendor_hip ))
echo "shared by CUDA and HIP: $n_shared lines ($(echo $shared_src $shared_hdr | wc -w) files)"
echo "CUDA only:              $n_cuda lines ($(echo $cuda_only | tr ' ' '\n' | xargs -n1 basename | tr '\n' ' ')+ the CUDA branch of gpu_vendor.h)"
echo "HIP only:               $n_hip lines ($(echo $hip_only | tr ' ' '\n' | xargs -n1 basename | tr '\n' ' ')+ the HIP branch of gpu_vendor.h)"
pct=$(( 100 * n_hip / (n_shared > 0 ? n_shared : 1) ))
echo "HIP-only lines are ${pct}% of the shared ones"
if [ -n "$max" ] && [ "$pct" -gt "$max" ]; then
  echo "gpu_divergence: HIP-only code is above ${max}% of the shared code" >&2
  exit 1
fi
