#!/usr/bin/env bash
# `diorama generate --backend gpuemu`: the tiny Text2World graph through the GPU backends' sources on the
# SIMT emulator into an MP4 that ffprobe reads back (13 frames, 64x48); then the same run with the emulated
# device holding 1 MB: a clear out-of-device-memory message naming the node and the bytes, a non-zero exit,
# and no output file (nor a temporary one) left behind.
# usage: generate.sh DIORAMA PLUGIN_DIR EMU_PLUGIN_DIR SOURCE_DIR WORK_DIR
set -euo pipefail
bin=$1 plugins=$2 emu=$3 src=$4 work=$5
rm -rf "$work" && mkdir -p "$work"
export DIORAMA_CACHE_DIR="$work/cache"
fail=0
gen() { "$bin" --plugin-dir "$plugins" --plugin-dir "$emu" generate --backend gpuemu \
  --graph "$src/samples/graphs/tiny-text2world.json" "$@"; }
# (the logs are ours; anything else named oom* or *.tmp* would be a leftover of the failed run)
if gen -o "$work/t2w.mp4" > "$work/t2w.log" 2>&1; then
  got=$(ffprobe -v error -count_frames -select_streams v:0 -show_entries stream=nb_read_frames,width,height \
        -of csv=p=0 "$work/t2w.mp4" 2>&1 || true)
  if [ "$got" = "64,48,13" ]; then echo "ok   gpuemu text2world: 64x48, 13 frames"
  else echo "FAIL gpuemu text2world: ffprobe says '$got'"; fail=1; fi
else
  cat "$work/t2w.log"; echo "FAIL gpuemu text2world"; fail=1
fi
if DIORAMA_GPU_EMU_MEMORY_MB=1 gen -o "$work/oom.mp4" > "$work/oom.log" 2>&1; then
  echo "FAIL a 1 MB device ran the pipeline"; fail=1
elif ! grep -q "gpuemu backend: cannot allocate [0-9]* bytes on device 0" "$work/oom.log"; then
  cat "$work/oom.log"; echo "FAIL out of device memory: no clear message"; fail=1
else
  echo "ok   out of device memory: $(tail -1 "$work/oom.log")"
fi
if ls -A "$work" | grep -v '\.log$' | grep -q 'oom\|\.tmp'; then ls -la "$work"; echo "FAIL an output was left behind"; fail=1; fi
exit $fail
