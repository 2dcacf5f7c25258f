"""Golden fixture for the Wan 2.1 VAE's tiled decode (diffusers AutoencoderKLWan.tiled_decode).

Reads the tiny random VAE of tests/fixtures/vae (gen_vae.py) and writes tests/fixtures/vae_tiled/tensors.safetensors:
  z       [1, 16, 2, 6, 10]  raw (de-normalised) latents, seed 20, N(0, 1)
  sample  [1, 3, 5, 48, 80]  vae.decode(z) with enable_tiling(tile 32 px, stride 16 px): 3 x 5 tiles of
                             4 x 4 latent cells every 2 cells, blended over 16 pixels, then clamped
The C side runs wan-vae-decoder with normalize=false, tiling=on, tile_size=32, tile_overlap=16.
Run with the pinned venv: tests/reference/.venv/bin/python tests/reference/gen_vae_tiled.py
"""
import os
import sys

import torch

_HERE = os.path.dirname(os.path.abspath(__file__))
if _HERE not in sys.path:
    sys.path.insert(0, _HERE)
import common  # noqa: E402

TILE = 32
STRIDE = 16
SHAPE = (1, 16, 2, 6, 10)
SEED = 20


def main():
    from diffusers import AutoencoderKLWan

    common.deterministic()
    vae = AutoencoderKLWan.from_pretrained(os.path.join(common.FIXTURES, "vae")).eval()
    common.seed(SEED)
    z = torch.randn(SHAPE)
    with torch.no_grad():
        untiled = vae.decode(z).sample
        vae.enable_tiling(tile_sample_min_height=TILE, tile_sample_min_width=TILE,
                          tile_sample_stride_height=STRIDE, tile_sample_stride_width=STRIDE)
        sample = vae.decode(z).sample
    out = common.fixture_dir("vae_tiled")
    common.save_tensors(os.path.join(out, "tensors.safetensors"), {"z": z, "sample": sample},
                        {"tile": f"{TILE} px, stride {STRIDE} px, seed {SEED}"})
    d = (sample - untiled).abs()
    print(f"tiled vs untiled (not saved): max abs {d.max().item():.4g}, rel L2 "
          f"{(d.norm() / untiled.norm()).item():.4g}")


if __name__ == "__main__":
    main()
