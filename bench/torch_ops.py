#!/usr/bin/env python3
"""torch_ops — the PyTorch side of bench/run.sh: the same cases as bench_ops.c, on the same machine,
with the same thread count and the same warm-up/repetition policy, printed as the same JSON lines.

Design: each case is what a PyTorch user would write for the DiT's layers on this CPU.
  - linear_*_f32w: F.linear(x, w) in f32 (nn.Linear layout: w is [out, in]).
  - linear_*_bf16w: bf16 weights as torch runs them, x and w both bf16 (F.linear has no mixed-dtype
    form; this is the bf16 matmul that torch does on this CPU). Inputs are converted before timing.
  - linear_*_bf16w_upcast: bf16-stored weights used from an f32 model, F.linear(x, w.float()), the
    upcast inside the timed call (the other way torch can hold bf16 weights, shown for reference).
  - attention_blhd_view: q/k/v stored [B, L, H, D] (a projection's output) passed to
    F.scaled_dot_product_attention as transpose(1, 2) views, and the result brought back to
    [B, L, H*D] for the output projection, as the DiT needs it (bench_ops writes that layout directly).
  - attention_bhld_contig: contiguous [B, H, L, D] q/k/v.
  - sgemm_ceiling: torch.mm on the same square f32 problem as bench_ops' dnnl_sgemm (informational;
    always run and first, with at least 3 warm-up and 10 timed calls, as there).
Timing: W untimed calls, then N timed calls (torch's CPU ops are synchronous); best and median are
reported, GFLOP/s from the best; "others" is the % of the machine's CPU other processes took meanwhile.
Inputs are the same distributions as bench_ops (not the same bits).
Needs only torch; stdlib otherwise. Never run by CI.
"""
import argparse
import json
import os
import resource
import statistics
import sys
import time

import torch
import torch.nn.functional as F


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


# (name stem, K / width, N / width): attention q/k/v/o projections, MLP up (4x), MLP down.
LINEARS = (("linear_qkvo", 1, 1), ("linear_mlp_up", 1, 4), ("linear_mlp_down", 4, 1))


def timed(fn, warmup, reps):
    """best, median, n, and the % of the machine other processes used during the timed calls."""
    for _ in range(warmup):
        fn()
    ts = []
    w0, b0, s0 = time.perf_counter(), machine_busy_s(), self_cpu_s()
    for _ in range(reps):
        t0 = time.perf_counter()
        fn()
        ts.append(time.perf_counter() - t0)
    w1, b1, s1 = time.perf_counter(), machine_busy_s(), self_cpu_s()
    other = None
    if b0 is not None and b1 is not None and w1 > w0:
        other = 100.0 * max(0.0, (b1 - b0) - (s1 - s0)) / ((w1 - w0) * (os.cpu_count() or 1))
    return min(ts), statistics.median(ts), reps, other


def emit(args, name, op, shape, flop, fn, note="", warmup=None, reps=None):
    warmup = args.warmup if warmup is None else warmup
    reps = args.reps if reps is None else reps
    rec = {"bench": "torch", "case": name, "op": op, "shape": shape, "note": note, "flop": flop, "reps": 0,
           "warmup": warmup}
    try:
        best, med, n, other = timed(fn, warmup, reps)
        rec.update(status="ok", reps=n, best_s=best, median_s=med, gflops=flop / best * 1e-9,
                   gflops_median=flop / med * 1e-9, other_cpu_pct=other)
        print(f"  {name:<30} {shape:<36} {best * 1e3:9.2f} {med * 1e3:9.2f} {rec['gflops']:9.1f} "
              f"{other if other is not None else float('nan'):6.0f}%  {note}")
    except Exception as e:  # a case torch cannot run is reported, never fatal
        rec.update(status="error", message=f"{type(e).__name__}: {e}")
        print(f"  {name:<30} {shape:<36} error: {rec['message']}")
    print(json.dumps(rec), flush=True)


def uniform(shape, lo, hi, gen):
    return torch.empty(shape, dtype=torch.float32).uniform_(lo, hi, generator=gen)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--threads", type=int, default=0, help="torch.set_num_threads (default: torch's)")
    ap.add_argument("--warmup", type=int, default=2)
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--only", default=None, help="run only cases whose name contains this")
    ap.add_argument("--quick", action="store_true", help="small shapes (L = 1024)")
    args = ap.parse_args()
    if args.threads > 0:
        torch.set_num_threads(args.threads)
    gen = torch.Generator().manual_seed(0)
    tokens, width, heads, head_dim = (1024 if args.quick else 4096), 1024, 16, 64
    sel = lambda name: args.only is None or args.only in name  # noqa: E731

    print(f"torch_ops: torch {torch.__version__}, {torch.get_num_threads()} threads, "
          f"warm-up {args.warmup}, best/median of {args.reps}{', QUICK shapes' if args.quick else ''}")
    print(f"  {'case':<30} {'shape':<36} {'best ms':>9} {'median ms':>9} {'GFLOP/s':>9} {'others':>7}")

    with torch.inference_mode():
        # Always run and always first, as in bench_ops (--only does not skip it): at least 3 warm-up
        # calls and 10 timed ones, so it also absorbs the run's one-time start-up costs.
        n = 1024 if args.quick else 2048
        a, b = uniform((n, n), -1, 1, gen), uniform((n, n), -1, 1, gen)
        c = torch.empty(n, n)
        emit(args, "sgemm_ceiling", "torch.mm", f"[{n}]^3 f32", 2.0 * n ** 3,
             lambda: torch.mm(a, b, out=c), "torch.mm", max(args.warmup, 3), max(args.reps, 10))
        del a, b, c

        for wname in ("f32", "bf16"):
            for stem, kmul, nmul in LINEARS:
                m, k, nn_ = tokens, width * kmul, width * nmul
                name = f"{stem}_{wname}w"
                shape = f"[{m},{k}]x[{nn_},{k}]^T {wname}w"
                flop = 2.0 * m * k * nn_
                if not sel(name):
                    continue
                x = uniform((m, k), -1, 1, gen)
                w = uniform((nn_, k), -1, 1, gen)
                if wname == "f32":
                    emit(args, name, "F.linear", shape, flop, lambda x=x, w=w: F.linear(x, w))
                else:
                    xb, wb = x.to(torch.bfloat16), w.to(torch.bfloat16)
                    emit(args, name, "F.linear", shape, flop, lambda xb=xb, wb=wb: F.linear(xb, wb),
                         "torch: F.linear, x and w bf16")
                    emit(args, name + "_upcast", "F.linear", shape, flop,
                         lambda x=x, wb=wb: F.linear(x, wb.float()), "torch: F.linear(x, w_bf16.float())")
                    del xb, wb
                del x, w

        B, H, L, D = 1, heads, tokens, head_dim
        flop = 4.0 * B * H * L * L * D
        if sel("attention_blhd_view"):
            q, k, v = (uniform((B, L, H, D), lo, hi, gen) for lo, hi in ((-2, 2), (-2, 2), (-1, 1)))

            def attn_view():
                o = F.scaled_dot_product_attention(q.transpose(1, 2), k.transpose(1, 2), v.transpose(1, 2))
                return o.transpose(1, 2).reshape(B, L, H * D)

            emit(args, "attention_blhd_view", "F.scaled_dot_product_attention",
                 f"B{B} H{H} L{L} D{D} [B,L,H,D] view", flop, attn_view,
                 "torch: SDPA on transpose(1,2) views, out as [B,L,H*D]")
            del q, k, v
        if sel("attention_bhld_contig"):
            q, k, v = (uniform((B, H, L, D), lo, hi, gen) for lo, hi in ((-2, 2), (-2, 2), (-1, 1)))
            emit(args, "attention_bhld_contig", "F.scaled_dot_product_attention",
                 f"B{B} H{H} L{L} D{D} [B,H,L,D] contig", flop,
                 lambda: F.scaled_dot_product_attention(q, k, v))
            del q, k, v

    rss_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0
    print(json.dumps({"bench": "torch", "case": "_process", "torch_version": torch.__version__,
                      "threads": torch.get_num_threads(), "max_rss_mib": rss_mib}), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
