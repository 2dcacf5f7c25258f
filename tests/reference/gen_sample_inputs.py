"""Writes samples/inputs/: the tiny pipelines' conditioning image and video as files, losslessly.

The pipeline fixture (tests/fixtures/pipelines) stores its inputs as uint8 tensors (input.image_u8
[48,64,3], input.video_u8 [7,48,64,3]). The sample graphs and `diorama generate` read files, so this
writes them as a PNG and as PNG-coded frames in Matroska (lossless RGB, so the decoded frames equal the
tensors byte for byte; tests/pipeline checks that). Needs only the ffmpeg command line; the safetensors
header is read by hand so no Python package is needed.
"""
import json, os, struct, subprocess, sys, tempfile

root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
src = os.path.join(root, "tests/fixtures/pipelines/pipelines.safetensors")
out = os.path.join(root, "samples/inputs")
with open(src, "rb") as f:
    n = struct.unpack("<Q", f.read(8))[0]
    header = json.loads(f.read(n))
    base = 8 + n
    def tensor(name):
        h = header[name]
        assert h["dtype"] == "U8", name
        a, b = h["data_offsets"]
        f.seek(base + a)
        return h["shape"], f.read(b - a)
    img_shape, img = tensor("input.image_u8")
    vid_shape, vid = tensor("input.video_u8")
os.makedirs(out, exist_ok=True)
def encode(raw, shape, frames, path, codec_args):
    h, w = shape[-3], shape[-2]
    with tempfile.NamedTemporaryFile() as t:
        t.write(raw); t.flush()
        subprocess.run(["ffmpeg", "-v", "error", "-y", "-f", "rawvideo", "-pix_fmt", "rgb24", "-s", f"{w}x{h}",
                        "-r", "16", "-i", t.name, "-frames:v", str(frames)] + codec_args + [path], check=True)
encode(img, img_shape, 1, os.path.join(out, "tiny-image.png"), ["-c:v", "png", "-pix_fmt", "rgb24"])
encode(vid, vid_shape, vid_shape[0], os.path.join(out, "tiny-video.mkv"), ["-c:v", "png", "-pix_fmt", "rgb24"])
print("wrote", out)
