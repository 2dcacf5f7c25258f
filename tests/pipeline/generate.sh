#!/usr/bin/env bash
# `diorama generate` with each tiny sample graph: an MP4 and an animated WebP that ffprobe reads with the
# right frame count, size and fps; a 3-chunk long video (37 frames = 13 + 12 + 12); the metadata read back
# by `diorama info`; a usage error for a flag the graph has no variable for.
# usage: generate.sh DIORAMA PLUGIN_DIR SOURCE_DIR WORK_DIR
set -euo pipefail
bin=$1 plugins=$2 src=$3 work=$4
rm -rf "$work" && mkdir -p "$work"
export DIORAMA_CACHE_DIR="$work/cache"
fail=0
probe() { # file frames width height fps
  local got
  got=$(ffprobe -v error -count_frames -select_streams v:0 \
        -show_entries stream=nb_read_frames,width,height,r_frame_rate -of csv=p=0 "$1" 2>&1 || true)
  # csv order: width,height,r_frame_rate,nb_read_frames
  if [ "$got" != "$3,$4,$5,$2" ]; then
    echo "FAIL $1: ffprobe says '$got', expected '$3,$4,$5,$2'"; fail=1
  else
    echo "ok   $1: ${3}x$4, $2 frames, $5 fps"
  fi
}
gen() { "$bin" --plugin-dir "$plugins" generate "$@"; }
for g in tiny-text2world tiny-image2world tiny-video2world; do
  gen --graph "$src/samples/graphs/$g.json" -o "$work/$g.mp4" > "$work/$g.log" 2>&1 || { cat "$work/$g.log"; echo "FAIL $g mp4"; fail=1; }
  probe "$work/$g.mp4" 13 64 48 16/1
  gen --graph "$src/samples/graphs/$g.json" -o "$work/$g.webp" > "$work/$g-webp.log" 2>&1 || { cat "$work/$g-webp.log"; echo "FAIL $g webp"; fail=1; }
  # ffprobe cannot count animated WebP frames in FFmpeg 5.1; diorama info reads them with libwebp's demuxer.
  info=$("$bin" info "$work/$g.webp" 2>&1 || true)
  if echo "$info" | grep -Eq "^frames +13$" && echo "$info" | grep -Eq "^size +64x48$" && echo "$info" | grep -Eq "^fps +16$"
  then echo "ok   $work/$g.webp: 64x48, 13 frames, 16 fps (diorama info)"
  else echo "FAIL $g.webp: diorama info says: $info"; fail=1; fi
done
# metadata round trip
info=$("$bin" info "$work/tiny-text2world.mp4" 2>&1 || true)
if echo "$info" | grep -q "A red cube slides" && echo "$info" | grep -q "seed"; then echo "ok   metadata: prompt and seed stored"
else echo "FAIL metadata: $info"; fail=1; fi
# a long video: 3 chunks
gen --graph "$src/samples/graphs/tiny-text2world.json" --video-frames 37 -o "$work/long.mp4" --json-progress \
  > "$work/long.json" 2> "$work/long.log" || { cat "$work/long.log"; echo "FAIL long video"; fail=1; }
probe "$work/long.mp4" 37 64 48 16/1
if grep -q '"chunks":3' "$work/long.json"; then echo "ok   long video ran in 3 chunks"; else echo "FAIL long video chunks"; fail=1; fi
# usage errors
if gen --graph "$src/samples/graphs/tiny-text2world.json" -i x.png -o "$work/x.mp4" > "$work/usage.log" 2>&1; then
  echo "FAIL -i on a Text2World graph was accepted"; fail=1
elif grep -q 'image' "$work/usage.log" && [ ! -e "$work/x.mp4" ]; then echo "ok   -i on Text2World: $(cat "$work/usage.log" | head -1)"
else echo "FAIL usage message: $(cat "$work/usage.log")"; fail=1; fi
exit $fail
