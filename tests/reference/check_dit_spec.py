"""Recomputes every DiT fixture case from the written description in diffusers-reference.md section 3 (plain
torch ops, no diffusers), with the weights read from tests/fixtures/dit/, and compares stage by stage with the
hooked diffusers activations. It checks that the notes the C code follows describe what diffusers computes.

    tests/reference/.venv/bin/python tests/reference/check_dit_spec.py     (after gen_dit.py; writes nothing)
"""
import json
import math
import os
import sys

import torch
import torch.nn.functional as F
from safetensors.torch import load_file

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import common  # noqa: E402

DIR = os.path.join(common.FIXTURES, "dit")


def rms(x, w, eps):
    return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + eps) * w


def ln(x):
    return F.layer_norm(x, x.shape[-1:], eps=1e-6)


def spec_forward(W, cfg, x, t, ehs, cond, pad, fps=None):
    """diffusers-reference.md section 3, steps 1-9. Returns {stage name: tensor} with the fixture's names."""
    S = {}
    B, _, T, H, Wd = x.shape
    heads, d = cfg["num_attention_heads"], cfg["attention_head_dim"]
    D = heads * d
    # 1. input assembly; the padding mask is nearest-resized (source index floor(i * in / out)) to H x W
    hi = (torch.arange(H) * pad.shape[-2] // H)
    wi = (torch.arange(Wd) * pad.shape[-1] // Wd)
    pad_r = pad[:, :, hi][:, :, :, wi]
    xin = torch.cat([x, cond, pad_r[:, :, None].expand(B, 1, T, H, Wd)], 1)
    S["act.x_in"] = xin
    # 2. RoPE
    Tp, Hp, Wp = T, H // 2, Wd // 2
    dh = d // 6 * 2
    dt = d - 2 * dh
    sc = cfg["rope_scale"]

    def freqs(dim, s):
        theta = 10000.0 * s ** (dim / (dim - 2))
        return 1.0 / theta ** (torch.arange(0, dim, 2, dtype=torch.float32)[: dim // 2] / dim)

    tpos = torch.arange(Tp, dtype=torch.float32)
    if fps is not None:
        tpos = tpos / fps * 24
    at = torch.outer(tpos, freqs(dt, sc[0]))[:, None, None].expand(Tp, Hp, Wp, -1)
    ah = torch.outer(torch.arange(Hp, dtype=torch.float32), freqs(dh, sc[1]))[None, :, None].expand(Tp, Hp, Wp, -1)
    aw = torch.outer(torch.arange(Wp, dtype=torch.float32), freqs(dh, sc[2]))[None, None].expand(Tp, Hp, Wp, -1)
    ang = torch.cat([at, ah, aw] * 2, -1).reshape(Tp * Hp * Wp, d)
    cos, sin = ang.cos(), ang.sin()
    S["act.rope.cos"], S["act.rope.sin"] = cos, sin
    # 4. patch embed: feature order (c, p_t, p_h, p_w)
    p = xin.reshape(B, 18, Tp, 1, Hp, 2, Wp, 2).permute(0, 2, 4, 6, 1, 3, 5, 7).reshape(B, Tp, Hp, Wp, 72)
    h = p @ W["patch_embed.proj.weight"].T
    S["act.patch_embed"] = h
    h = h.reshape(B, -1, D)
    N = h.shape[1]
    # 5. timestep embedding
    tv = t.flatten()
    half = D // 2
    fr = torch.exp(-math.log(10000) * torch.arange(half, dtype=torch.float32) / half)
    s = torch.cat([torch.cos(tv[:, None] * fr), torch.sin(tv[:, None] * fr)], -1)
    S["act.time_proj"] = s
    temb = F.silu(s @ W["time_embed.t_embedder.linear_1.weight"].T) @ W["time_embed.t_embedder.linear_2.weight"].T
    emb = rms(s, W["time_embed.norm.weight"], 1e-6)
    S["act.temb"], S["act.embedded_timestep"] = temb, emb
    if t.dim() == 5:  # per frame -> per token
        temb = temb.view(B, Tp, 1, -1).expand(B, Tp, Hp * Wp, -1).reshape(B, N, -1)
        emb = emb.view(B, Tp, 1, -1).expand(B, Tp, Hp * Wp, -1).reshape(B, N, -1)
    else:
        temb, emb = temb[:, None], emb[:, None]
    # 6. text projection (exact GELU)
    ctx = F.gelu(ehs @ W["crossattn_proj.0.weight"].T + W["crossattn_proj.0.bias"])
    S["act.crossattn_proj"] = ctx

    def rope(q):
        q1, q2 = q[..., : d // 2], q[..., d // 2:]
        return q * cos + torch.cat([-q2, q1], -1) * sin

    def attn(pre, xq, kv, use_rope, blk_i):
        q = (xq @ W[pre + "to_q.weight"].T).view(B, -1, heads, d).transpose(1, 2)
        k = (kv @ W[pre + "to_k.weight"].T).view(B, -1, heads, d).transpose(1, 2)
        v = (kv @ W[pre + "to_v.weight"].T).view(B, -1, heads, d).transpose(1, 2)
        q = rms(q, W[pre + "norm_q.weight"], 1e-5)
        k = rms(k, W[pre + "norm_k.weight"], 1e-5)
        if blk_i == 0:
            S[f"act.blocks.0.{pre.split('.')[-2]}.norm_q"], S[f"act.blocks.0.{pre.split('.')[-2]}.norm_k"] = q, k
        if use_rope:
            q, k = rope(q), rope(k)
        a = torch.softmax(q @ k.transpose(-1, -2) / math.sqrt(d), -1) @ v
        return a.transpose(1, 2).reshape(B, -1, D) @ W[pre + "to_out.0.weight"].T

    def mod(pre, n_chunks):
        m = F.silu(emb) @ W[pre + "linear_1.weight"].T @ W[pre + "linear_2.weight"].T + temb[..., : n_chunks * D]
        return m.chunk(n_chunks, -1)

    # 7. blocks
    for i in range(cfg["num_layers"]):
        pb = f"transformer_blocks.{i}."
        sh, scl, g = mod(pb + "norm1.", 3)
        n = ln(h) * (1 + scl) + sh
        a = attn(pb + "attn1.", n, n, True, i)
        if i == 0:
            S["act.blocks.0.norm1.x"], S["act.blocks.0.norm1.gate"], S["act.blocks.0.attn1"] = n, g, a
        h = h + g * a
        sh, scl, g = mod(pb + "norm2.", 3)
        n = ln(h) * (1 + scl) + sh
        a = attn(pb + "attn2.", n, ctx, False, i)
        if i == 0:
            S["act.blocks.0.norm2.x"], S["act.blocks.0.norm2.gate"], S["act.blocks.0.attn2"] = n, g, a
        h = h + g * a
        sh, scl, g = mod(pb + "norm3.", 3)
        n = ln(h) * (1 + scl) + sh
        f = F.gelu(n @ W[pb + "ff.net.0.proj.weight"].T) @ W[pb + "ff.net.2.weight"].T
        if i == 0:
            S["act.blocks.0.norm3.x"], S["act.blocks.0.norm3.gate"], S["act.blocks.0.ff"] = n, g, f
        h = h + g * f
        S[f"act.blocks.{i}.out"] = h
    # 8. final layer
    sh, scl = mod("norm_out.", 2)
    h = ln(h) * (1 + scl) + sh
    S["act.norm_out"] = h
    o = h @ W["proj_out.weight"].T
    S["act.proj_out"] = o
    # 9. unpatchify: feature order (p_h, p_w, p_t, C)
    C = cfg["out_channels"]
    o = o.view(B, Tp, Hp, Wp, 2, 2, 1, C).permute(0, 7, 1, 6, 2, 4, 3, 5).reshape(B, C, Tp, Hp * 2, Wp * 2)
    S["out.sample"] = o
    return S


def main():
    torch.set_num_threads(1)
    info = json.load(open(os.path.join(DIR, "dit.json")))
    W = load_file(os.path.join(DIR, "diffusion_pytorch_model.safetensors"))
    worst = {}
    for name, case in info["cases"].items():
        cfg = json.load(open(os.path.join(DIR, case["config"])))
        T = load_file(os.path.join(DIR, case["file"]))
        with torch.no_grad():
            S = spec_forward(W, cfg, T["in.hidden_states"], T["in.timestep"], T["in.encoder_hidden_states"],
                             T["in.condition_mask"], T["in.padding_mask"], **case["forward_kwargs"])
        for k, v in S.items():
            ref = T[k]
            assert ref.numel() == v.numel(), (name, k, ref.shape, v.shape)
            err = (v.reshape(ref.shape) - ref).abs().max().item()
            worst[k] = max(worst.get(k, 0.0), err)
            assert err < 1e-4, (name, k, err)
        missing = sorted(set(T) - set(S) - {k for k in T if k.startswith("in.")})
        assert not missing, missing
    for k in sorted(worst):
        print(f"{k:34s} max|spec - diffusers| = {worst[k]:.2e}")
    print(f"check_dit_spec: {len(info['cases'])} cases agree with diffusers-reference.md section 3")


if __name__ == "__main__":
    main()
