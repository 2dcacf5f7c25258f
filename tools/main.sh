#!/usr/bin/env bash
# The main job: installs the Debian packages, builds diorama, lists the plugins it found, and runs the
# tiny Text2World sample graph end to end (prompt → text encoder → DiT with UniPC and guidance → VAE
# decode → MP4), writing out/tiny-text2world.mp4 and printing what `diorama info` reads back from it.
# Extra arguments go to `diorama generate` (e.g. -p "a prompt" -s 7 --backend cpu -o out/x.webp).
set -euo pipefail
cd "$(dirname "$0")/.."
tools/deps.sh
jobs=$(nproc 2>/dev/null || echo 2)
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release
cmake --build build -j "$jobs"
build/bin/diorama --version
build/bin/diorama plugins
mkdir -p out
build/bin/diorama generate --graph samples/graphs/tiny-text2world.json -o out/tiny-text2world.mp4 "$@"
out=out/tiny-text2world.mp4
for a in "$@"; do [ "${prev:-}" = "-o" ] || [ "${prev:-}" = "--output" ] && out=$a; prev=$a; done
build/bin/diorama info "$out"
