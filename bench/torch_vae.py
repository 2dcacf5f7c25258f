"""bench/torch_vae.py — diffusers' AutoencoderKLWan decode on the CPU, the PyTorch side of bench/run_vae.sh.

--make: builds the real Wan 2.1 VAE (base_dim 96, z_dim 16, dim_mult 1,2,4,4, 2 res blocks) with random
weights (seed 0; convs N(0, 1/fan_in) so activations stay O(1), norm gammas 1 + 0.1 N), saves them once
as bench/out/vae_bench.safetensors (diffusers key names) with the latents bench/out/vae_bench.inputs.safetensors
("z", [1, 16, 5, 32, 32] N(0, 1), normalised: 17 frames at 256x256 after decode). Later runs load both, so
the two sides decode the same thing. Times vae.decode (the untiled chunk loop, clamped) with the given
threads: W warm-up runs, then N timed; saves the output ("out") to bench/out/vae_bench.torch.safetensors
for bench_vae's agreement check, and prints one JSON line. The latents are de-normalised here
(z · std + mean) exactly as wan-vae-decoder does with normalize=true.
"""
import argparse
import json
import os
import time

import torch


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default=os.path.join(os.path.dirname(os.path.abspath(__file__)), "out"))
    ap.add_argument("--threads", type=int, default=os.cpu_count())
    ap.add_argument("--warmup", type=int, default=0)
    ap.add_argument("--reps", type=int, default=1)
    ap.add_argument("--latent", default="5,32,32", help="T,h,w of the latent")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    from diffusers import AutoencoderKLWan
    from safetensors.torch import load_file, save_file

    os.makedirs(args.out, exist_ok=True)
    wpath = os.path.join(args.out, "vae_bench.safetensors")
    ipath = os.path.join(args.out, "vae_bench.inputs.safetensors")
    vae = AutoencoderKLWan(base_dim=96, z_dim=16, dim_mult=[1, 2, 4, 4], num_res_blocks=2, attn_scales=[],
                           temperal_downsample=[False, True, True]).eval()
    T, h, w = (int(x) for x in args.latent.split(","))
    if not os.path.exists(wpath) or not os.path.exists(ipath):
        g = torch.Generator().manual_seed(0)
        with torch.no_grad():
            for name, p in vae.named_parameters():
                if name.endswith("gamma"):
                    p.copy_(1 + 0.1 * torch.randn(p.shape, generator=g))
                elif name.endswith("bias"):
                    p.copy_(0.02 * torch.randn(p.shape, generator=g))
                else:
                    fan_in = p[0].numel()
                    p.copy_(torch.randn(p.shape, generator=g) / fan_in**0.5)
        save_file({k: v.contiguous() for k, v in vae.state_dict().items()}, wpath)
        save_file({"z": torch.randn(1, 16, T, h, w, generator=g)}, ipath)
    vae.load_state_dict(load_file(wpath))
    z = load_file(ipath)["z"]
    mean = torch.tensor(vae.config.latents_mean).view(1, 16, 1, 1, 1)
    std = torch.tensor(vae.config.latents_std).view(1, 16, 1, 1, 1)
    zr = z * std + mean
    times = []
    with torch.no_grad():
        for i in range(args.warmup + args.reps):
            t0 = time.perf_counter()
            out = vae.decode(zr).sample
            dt = time.perf_counter() - t0
            if i >= args.warmup:
                times.append(dt)
    save_file({"out": out.contiguous()}, os.path.join(args.out, "vae_bench.torch.safetensors"))
    import resource
    print(json.dumps({"side": "torch", "case": "vae_decode", "latent": [T, h, w], "out": list(out.shape),
                      "threads": torch.get_num_threads(), "best_s": min(times),
                      "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0,
                      "torch": torch.__version__}))


if __name__ == "__main__":
    main()
