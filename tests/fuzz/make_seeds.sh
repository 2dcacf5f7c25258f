#!/usr/bin/env bash
# Regenerates the committed seeds of tests/fuzz/seeds/ that are derived from fixtures or made with
# ffmpeg (the hand-written ones — graphs, prompts, the index — are edited directly). Run from anywhere;
# needs ffmpeg with libx264 and libwebp. Each media seed starts with the byte that picks its extension
# in fuzz_media.c (0 .mp4, 1 .webp, 2 .png, 3 .jpg, 4 .mkv, 5 none); each tokenizer_load seed with the
# byte that picks the file it replaces (0 vocab.json, 1 merges.txt, 2 tokenizer_config.json).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
seeds="$here/seeds"
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT

prefixed() { # BYTE SRC DST
  { printf "\\x$(printf %02x "$1")"; cat "$2"; } >"$3"
}

mkdir -p "$seeds/tokenizer_load" "$seeds/media" "$seeds/plugin_descriptor"
tiny="$root/tests/fixtures/text/tokenizer_tiny"
prefixed 0 "$tiny/vocab.json" "$seeds/tokenizer_load/vocab.json"
prefixed 1 "$tiny/merges.txt" "$seeds/tokenizer_load/merges.txt"
prefixed 2 "$tiny/tokenizer_config.json" "$seeds/tokenizer_load/tokenizer_config.json"

ff=(ffmpeg -hide_banner -loglevel error -y -f lavfi -i "testsrc=size=16x12:rate=8:duration=0.375")
"${ff[@]}" -c:v libx264 -pix_fmt yuv420p -g 2 "$tmp/v.mp4"
"${ff[@]}" -c:v mpeg4 "$tmp/v.mkv"
"${ff[@]}" -frames:v 1 "$tmp/i.png"
"${ff[@]}" -frames:v 1 -pix_fmt yuvj420p "$tmp/i.jpg"
"${ff[@]}" -c:v libwebp -loop 0 "$tmp/anim.webp"
"${ff[@]}" -frames:v 1 -c:v libwebp -lossless 1 "$tmp/still.webp"
prefixed 0 "$tmp/v.mp4" "$seeds/media/h264.mp4"
prefixed 4 "$tmp/v.mkv" "$seeds/media/mpeg4.mkv"
prefixed 2 "$tmp/i.png" "$seeds/media/image.png"
prefixed 3 "$tmp/i.jpg" "$seeds/media/image.jpg"
prefixed 1 "$tmp/anim.webp" "$seeds/media/anim.webp"
prefixed 1 "$tmp/still.webp" "$seeds/media/still.webp"
prefixed 5 "$tmp/v.mp4" "$seeds/media/h264_noext"

# Descriptor recipes (fuzz_plugin_descriptor.c): struct_size 72, kind, ABI [1.0, 1.1], name + version +
# the kind's table, name "cpu"; then the table: its struct_size (u16), a NULL mask of 0 (every slot
# set), the table's bytes (zero) and the port counts (zero).
recipe() { # KIND TABLE_SIZE COUNTS OUT
  {
    printf '\x48'; printf "\\x$(printf %02x "$1")"; printf '\x00\x01\x07\x03cpu'
    printf "\\x$(printf %02x $(($2 & 255)))\\x$(printf %02x $(($2 >> 8)))"; printf '\x00\x00\x00\x00'
    head -c "$2" /dev/zero; head -c "$3" /dev/zero
  } >"$4"
}
recipe 1 160 0 "$seeds/plugin_descriptor/backend"
recipe 2 80 3 "$seeds/plugin_descriptor/component"
recipe 3 72 1 "$seeds/plugin_descriptor/sampler"
echo "seeds written under $seeds"
