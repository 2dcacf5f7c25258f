#!/usr/bin/env bash
# The main job: installs the Debian packages, builds diorama, and shows what it can run here — the
# plugins it found (and why any was refused) and the op support matrix of the chosen backend
# (DIORAMA_BACKEND or --backend, default cpu). Later pipelines (text/image/video to world) hang off
# the same binary: build/bin/diorama.
set -euo pipefail
cd "$(dirname "$0")/.."
tools/deps.sh
jobs=$(nproc 2>/dev/null || echo 2)
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release
cmake --build build -j "$jobs"
build/bin/diorama --version
build/bin/diorama plugins
build/bin/diorama ops "$@"
