#!/usr/bin/env bash
# Installs the Debian packages diorama builds against (ARCHITECTURE.md §6), only those missing.
# Runs apt-get as root, or through sudo when not root. ocl-icd-opencl-dev: libdnnl-dev only recommends it,
# but its CMake config will not load without OpenCL; ffmpeg: ffprobe checks the written videos in ctest;
# clang + libclang-rt-dev: the libFuzzer harnesses (tools/fuzz.sh); hipcc + libamdhip64-dev: the HIP backend.
set -euo pipefail
pkgs=(build-essential cmake pkg-config libcjson-dev libdnnl-dev libwebp-dev libavcodec-dev libavformat-dev
      libswscale-dev libavutil-dev ffmpeg ocl-icd-opencl-dev clang libclang-rt-dev hipcc libamdhip64-dev)
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0
sudo=""
[ "$(id -u)" -ne 0 ] && sudo="sudo"
echo "installing: ${missing[*]}"
$sudo apt-get update -qq
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
