#!/usr/bin/env python3
"""torch_dit — the PyTorch side of bench/run_dit.sh: diffusers' CosmosTransformer3DModel on this CPU.

Subcommands (run with tests/reference/.venv, the one venv that has diffusers; nothing is installed):
  gen     random weights for a config, saved once with save_pretrained (safetensors) into OUT/<name>/
          (f32; with --bf16 also OUT/<name>-bf16/), plus OUT/<name>.inputs.safetensors: the forward's inputs
          (in.hidden_states, in.timestep, in.encoder_hidden_states, in.condition_mask, in.padding_mask),
          which bench_dit loads too, so both sides run the same weights file on the same inputs.
  time    loads OUT/<name>/ (from_config + load_state_dict of the same safetensors file), times W warm-up + N forwards with T threads (torch's CPU
          ops are synchronous), writes the output of the last forward to OUT/<name>.torch_out.safetensors
          (bench_dit checks its own output against it) and prints one JSON line: best/median s, peak RSS.
  report  reads the speed logs of run_dit.sh and prints the table (best round per side).
  project reads bench_dit's --memory JSON lines and fits peak RSS = c + a*N per point set, projects to the
          2B at 720p/93 frames (N = 84,480 tokens, text 512), with the arena computed from dit_forward.c's
          plan() (restated here) and the weights' bytes; prints the table (markdown) for bench/README-dit.md.

Weights: every Linear weight ~ N(0, 1/fan_in), biases 0.1*N(0,1), RMSNorm weights 1 + 0.1*N(0,1) (as the
golden fixtures, tests/reference/gen_dit.py), so activations stay O(1) through the blocks and the
agreement check means something. Inputs: latents ~ N(0,1), text ~ N(0,1), timestep 0.7 per sample
(mode diffusers: the timestep as given), zero condition and padding masks.
"""
import argparse
import json
import os
import resource
import statistics
import sys
import time

import torch


def peak_rss_mib():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def machine_busy_s():
    """CPU seconds the machine spent busy (steal included) since boot, from /proc/stat; None if unknown."""
    try:
        with open("/proc/stat") as f:
            v = [int(x) for x in f.readline().split()[1:9]]
        return (v[0] + v[1] + v[2] + v[5] + v[6] + v[7]) / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError):
        return None


def self_cpu_s():
    ru = resource.getrusage(resource.RUSAGE_SELF)
    return ru.ru_utime + ru.ru_stime


def config(args):
    return dict(
        in_channels=17, out_channels=16, num_attention_heads=args.heads, attention_head_dim=args.head_dim,
        num_layers=args.blocks, mlp_ratio=4.0, text_embed_dim=args.text_dim, adaln_lora_dim=256,
        max_size=(128, 240, 240), patch_size=(1, 2, 2), rope_scale=(1.0, 3.0, 3.0), concat_padding_mask=True,
        extra_pos_embed_type=None, use_crossattn_projection=True, crossattn_proj_in_channels=args.text_in,
        encoder_hidden_states_channels=args.text_dim, controlnet_block_every_n=None, img_context_dim_in=None)


def cmd_gen(args):
    from diffusers import CosmosTransformer3DModel
    from safetensors.torch import save_file
    torch.manual_seed(args.seed)
    if args.inputs_only:
        return write_inputs(args, save_file)
    model = CosmosTransformer3DModel(**config(args))
    with torch.no_grad():
        for name, p in model.named_parameters():
            if name.endswith(".bias"):
                p.copy_(0.1 * torch.randn_like(p))
            elif p.dim() == 2:
                p.copy_(torch.randn_like(p) / p.shape[1] ** 0.5)
            elif "norm" in name:
                p.copy_(1 + 0.1 * torch.randn_like(p))
    model.eval()
    d = os.path.join(args.out, args.name)
    if not args.bf16_only:
        model.save_pretrained(d, safe_serialization=True)
    if args.bf16 or args.bf16_only:
        model.to(torch.bfloat16).save_pretrained(d + "-bf16", safe_serialization=True)
    n = sum(p.numel() for p in model.parameters())
    del model
    write_inputs(args, save_file)
    print(f"torch_dit gen: {args.name}: {n / 1e6:.1f} M parameters, {args.blocks} blocks x {args.heads * args.head_dim}"
          f" ({args.heads} heads of {args.head_dim}), text {args.L} x {args.text_in} -> {args.text_dim}, in {d}")


def write_inputs(args, save_file):
    if args.T:
        g = torch.Generator().manual_seed(args.seed + 1)
        B, T, H, W = 1, args.T, args.H, args.W
        inp = {
            "in.hidden_states": torch.randn(B, 16, T, H, W, generator=g),
            "in.timestep": torch.full((B,), 0.7),
            "in.encoder_hidden_states": torch.randn(B, args.L, args.text_in, generator=g),
            "in.condition_mask": torch.zeros(B, 1, T, H, W),
            "in.padding_mask": torch.zeros(1, 1, H, W),
        }
        save_file(inp, os.path.join(args.out, args.inputs_name or (args.name + ".inputs.safetensors")))


def cmd_time(args):
    from diffusers import CosmosTransformer3DModel
    from safetensors.torch import load_file, save_file
    torch.set_num_threads(args.threads)
    # from_pretrained needs `accelerate` (absent here) for this model; config + load_state_dict is the same.
    d = os.path.join(args.out, args.name)
    with open(os.path.join(d, "config.json")) as f:
        model = CosmosTransformer3DModel.from_config(json.load(f))
    model.load_state_dict(load_file(os.path.join(d, "diffusion_pytorch_model.safetensors")), strict=True)
    model.eval()
    inp = load_file(os.path.join(args.out, args.name + ".inputs.safetensors"))
    kw = dict(hidden_states=inp["in.hidden_states"], timestep=inp["in.timestep"],
              encoder_hidden_states=inp["in.encoder_hidden_states"], condition_mask=inp["in.condition_mask"],
              padding_mask=inp["in.padding_mask"], return_dict=False)
    ts = []
    out = None
    with torch.inference_mode():
        for i in range(args.warmup + args.reps):
            t0 = time.perf_counter()
            out = model(**kw)[0]
            dt = time.perf_counter() - t0
            if i >= args.warmup:
                ts.append(dt)
            if i + 1 == args.warmup:
                w0, b0, s0 = time.perf_counter(), machine_busy_s(), self_cpu_s()
            print(f"  torch forward {i + 1}/{args.warmup + args.reps}: {dt:.3f} s{' (warm-up)' if i < args.warmup else ''}",
                  flush=True)
    w1, b1, s1 = time.perf_counter(), machine_busy_s(), self_cpu_s()
    other = -1.0
    if args.warmup > 0 and b0 is not None and b1 is not None and w1 > w0:
        other = 100.0 * max(0.0, (b1 - b0) - (s1 - s0)) / ((w1 - w0) * (os.cpu_count() or 1))
    save_file({"out": out.float().contiguous()}, os.path.join(args.out, args.name + ".torch_out.safetensors"))
    rec = {"bench": "torch", "case": "dit_forward", "name": args.name, "threads": torch.get_num_threads(),
           "warmup": args.warmup, "reps": len(ts), "best_s": min(ts), "median_s": statistics.median(ts),
           "max_rss_mib": peak_rss_mib(), "other_cpu_pct": other, "torch": torch.__version__}
    print(json.dumps(rec))


# ---- memory projection ----

def arena_bytes(N, L, D=2048, heads=16, head_dim=128, mlp=8192, text_dim=1024, text_in=100352, F=18 * 4,
                Fo=16 * 4, lora=256, G=1, B=1, ea=4, et=4, text_ea=4):
    """dit_forward.c plan(), restated: 256-byte aligned regions in one backend buffer."""
    BN, BG, BL = B * N, B * G, B * L
    scratch = max(BN * mlp * ea, 2 * BN * F * ea, BN * (2 * D + 2 * Fo) * 4)
    sz = [16] + [BN * D * ea] * 6 + [scratch]
    sz += [BL * text_in * ea if text_ea != ea else 0, BL * text_dim * ea, BL * D * ea, BL * D * ea, BL * D * ea]
    sz += [BG * D * 4, BG * D * et, BG * D * et, BG * D * et, BG * D * et, BG * 3 * D * et, BG * lora * et,
           BG * 3 * D * et, BG * 3 * D * ea, N * head_dim * 4, N * head_dim * 4]
    return sum((s + 255) // 256 * 256 for s in sz), dict(residual_and_work=6 * BN * D * ea, scratch=scratch)


def fit(xs, ys):
    n = len(xs)
    mx, my = sum(xs) / n, sum(ys) / n
    a = sum((x - mx) * (y - my) for x, y in zip(xs, ys)) / sum((x - mx) ** 2 for x in xs)
    return my - a * mx, a


def cmd_project(args):
    recs = []
    for path in args.logs:
        with open(path) as f:
            for line in f:
                if line.startswith("{") and '"dit_memory"' in line:
                    recs.append(json.loads(line))
    if not recs:
        sys.exit("torch_dit project: no dit_memory records")
    MiB = 1024.0 ** 2
    print("| blocks | tokens N | text L | weights file MiB | RSS after create MiB | peak RSS MiB | arena MiB (plan) | forward s |")
    print("|---:|---:|---:|---:|---:|---:|---:|---:|")
    for r in recs:
        print(f"| {r['blocks']} | {r['tokens']} | {r['text_len']} | {r['weights_mib']:.0f} | {r['rss_created_mib']:.0f} "
              f"| {r['max_rss_mib']:.0f} | {r['arena_mib']:.0f} | {r['forward_s']:.1f} |")
    base = [r for r in recs if r["blocks"] == min(x["blocks"] for x in recs)]
    xs = [r["tokens"] for r in base]
    out = {}
    if len(set(xs)) >= 2:
        # peak minus the weights file (resident once touched) against N.
        c, a = fit(xs, [r["max_rss_mib"] - r["weights_mib"] for r in base])
        ca, aa = fit(xs, [r["arena_mib"] for r in base])
        out.update(fixed_mib=c, per_token_kib=a * 1024, arena_per_token_kib=aa * 1024)
        print(f"\nfit over N (blocks={base[0]['blocks']}): peak RSS - weights = {c:.0f} MiB + {a * 1024:.2f} KiB * N"
              f"   (arena alone: {ca:.0f} MiB + {aa * 1024:.2f} KiB * N)")
        resid = [r["max_rss_mib"] - r["weights_mib"] - (c + a * r["tokens"]) for r in base]
        print("  residuals MiB: " + ", ".join(f"{x:+.0f}" for x in resid))
    nb = sorted(set(r["blocks"] for r in recs))
    per_block = None
    if len(nb) >= 2:
        same_n = {}
        for r in recs:
            same_n.setdefault(r["tokens"], {})[r["blocks"]] = r
        for n_, byb in same_n.items():
            if len(byb) >= 2:
                b0, b1 = min(byb), max(byb)
                d_rss = byb[b1]["max_rss_mib"] - byb[b0]["max_rss_mib"]
                d_w = byb[b1]["weights_mib"] - byb[b0]["weights_mib"]
                per_block = d_w / (b1 - b0)
                print(f"\nblocks {b0} -> {b1} at N={n_}: peak RSS +{d_rss:.0f} MiB, weights file +{d_w:.0f} MiB "
                      f"(+{per_block:.1f} MiB per block): activations do not grow with depth")
    # The 2B: 28 blocks; weights file bytes = top-level + 28 * per block (both measured from the files).
    N, L = 84480, 512
    if per_block is not None and "per_token_kib" in out:
        w28 = base[0]["weights_mib"] + (28 - base[0]["blocks"]) * per_block
        arena, parts = arena_bytes(N, L)
        arena_bf16, _ = arena_bytes(N, L, ea=2)
        proj = w28 + out["fixed_mib"] + out["per_token_kib"] / 1024 * N
        print(f"\nprojection, 2B (28 x 2048, 16 x 128 heads), 720p / 93 frames: N = {N} (24 x 44 x 80), text {L} x 100352:")
        print(f"  weights (bf16, mmap'd, resident once touched): {w28:.0f} MiB")
        print(f"  arena from plan() at N={N}: {arena / MiB:.0f} MiB f32 activations "
              f"(6 x [N, 2048] = {parts['residual_and_work'] / MiB:.0f}, scratch [N, 8192] = {parts['scratch'] / MiB:.0f}); "
              f"{arena_bf16 / MiB:.0f} MiB with dtype=bf16")
        print(f"  projected peak RSS (fit): {proj:.0f} MiB = {proj / 1024:.2f} GiB  (limit 24 GiB: "
              f"{'fits' if proj < 24 * 1024 else 'DOES NOT FIT'})")


def cmd_report(args):
    """Best round per side (lowest best_s); a failed check on our side posts no time."""
    best = {}
    failed = []
    for path in args.logs:
        with open(path) as f:
            for line in f:
                if not line.startswith("{"):
                    continue
                r = json.loads(line)
                if r.get("case") != "dit_forward":
                    continue
                key = "torch" if r["bench"] == "torch" else r["label"]
                if r.get("status", "ok") != "ok":
                    failed.append((key, r))
                    continue
                if key not in best or r["best_s"] < best[key]["best_s"]:
                    best[key] = r
    t = best.get("torch")
    print("| side | weights | best s | median s | ours/torch (best) | max abs err / max abs ref | rel L2 | peak RSS MiB | others % |")
    print("|---|---|---:|---:|---:|---:|---:|---:|---:|")
    if t:
        print(f"| PyTorch {t['torch']} + diffusers | f32 | {t['best_s']:.3f} | {t['median_s']:.3f} | 1 | (reference) | | "
              f"{t['max_rss_mib']:.0f} | {t.get('other_cpu_pct', -1):.0f} |")
    for key in ("f32w", "bf16w"):
        r = best.get(key)
        if r:
            ratio = f"{r['best_s'] / t['best_s']:.2f}" if t else "n/a"
            print(f"| diorama cpu | {r['weights']} | {r['best_s']:.3f} | {r['median_s']:.3f} | {ratio} | "
                  f"{r['max_rel_err']:.2g} | {r['rel_l2_err']:.2g} | {r['max_rss_mib']:.0f} | {r.get('other_cpu_pct', -1):.0f} |")
    for key, r in failed:
        print(f"| diorama cpu {key} | FAILED: {r.get('why')} | | | | {r.get('max_rel_err')} | {r.get('rel_l2_err')} | |")
    if t:
        print(f"\nthreads {t['threads']}, warm-up {t['warmup']}, best/median of {t['reps']} forwards per round, best round per side;\n"
              "others: % of the machine's CPU time other processes took during the timed forwards (a shared machine)")
    sys.exit(1 if failed or not t else 0)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("cmd", choices=["gen", "time", "project", "report"])
    ap.add_argument("--out", default=os.path.join(os.path.dirname(os.path.abspath(__file__)), "out", "dit"))
    ap.add_argument("--name", default="dit8x512")
    ap.add_argument("--blocks", type=int, default=8)
    ap.add_argument("--heads", type=int, default=8)
    ap.add_argument("--head-dim", type=int, default=64)
    ap.add_argument("--text-dim", type=int, default=1024)
    ap.add_argument("--text-in", type=int, default=1024)
    ap.add_argument("--L", type=int, default=512)
    ap.add_argument("--T", type=int, default=4)
    ap.add_argument("--H", type=int, default=64)
    ap.add_argument("--W", type=int, default=64)
    ap.add_argument("--seed", type=int, default=1234)
    ap.add_argument("--bf16", action="store_true", help="gen: also a bf16 copy of the weights")
    ap.add_argument("--bf16-only", action="store_true", help="gen: only the bf16 copy")
    ap.add_argument("--inputs-only", action="store_true", help="gen: only the inputs file")
    ap.add_argument("--inputs-name", default=None, help="gen: inputs file name (default NAME.inputs.safetensors)")
    ap.add_argument("--threads", type=int, default=os.cpu_count())
    ap.add_argument("--warmup", type=int, default=1)
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("logs", nargs="*")
    args = ap.parse_args()
    os.makedirs(args.out, exist_ok=True)
    {"gen": cmd_gen, "time": cmd_time, "project": cmd_project, "report": cmd_report}[args.cmd](args)


if __name__ == "__main__":
    main()
