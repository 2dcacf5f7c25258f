#!/usr/bin/env python3
"""report — joins the JSON lines of bench_ops (diorama) and torch_ops (PyTorch) from one run of
bench/run.sh into the table people read and bench/out/results.json.

Design: a row per PyTorch case, paired with the diorama case of the same name, or, for a torch
variant named CASE_SUFFIX (e.g. linear_qkvo_bf16w_upcast), with diorama's CASE. When run.sh ran
several rounds (ours, torch, ours, torch, ...) each side keeps, per case, its best round, so neither
side pays for a slow moment of the shared machine that only it saw. The ratio is ours / torch on
best-of-N GFLOP/s (above 1: diorama faster). "% ceil" is against the sgemm ceiling bench_ops measured
in the same run (oneDNN dnnl_sgemm), for both columns. "others" is the larger share of the machine
that other processes took while either side's kept timing ran: a row with a large one is suspect.
Stdlib only, so it runs with any python3.
"""
import argparse
import datetime
import json
import os
import platform
import sys


def gflops(rec):
    if rec and rec.get("status") in ("ok", "check_failed") and rec.get("gflops"):
        return rec["gflops"]
    return None


def read_side(paths, bench):
    """Per case the record with the highest GFLOP/s over all rounds, in first-seen order, and the
    _process record with the largest peak RSS."""
    cases, order, proc = {}, [], {}
    for path in paths:
        if not os.path.exists(path):
            continue
        with open(path) as f:
            for line in f:
                line = line.strip()
                if not line.startswith("{"):
                    continue
                try:
                    rec = json.loads(line)
                except ValueError:
                    continue
                if rec.get("bench") != bench:
                    continue
                name = rec.get("case")
                if name == "_process":
                    if (rec.get("max_rss_mib") or 0) >= (proc.get("max_rss_mib") or 0):
                        proc = rec
                elif name not in cases:
                    cases[name] = rec
                    order.append(name)
                elif (gflops(rec) or 0) > (gflops(cases[name]) or 0):
                    cases[name] = rec
    return cases, order, proc


def cpu_model():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def fmt(v, width, prec=1, suffix=""):
    """v right-aligned in width characters ('-' when missing)."""
    text = "-" if v is None else f"{v:.{prec}f}{suffix}"
    return text.rjust(width)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--ours", action="append", required=True, help="bench_ops output; once per round")
    ap.add_argument("--torch", action="append", required=True, help="torch_ops output; once per round")
    ap.add_argument("--out", required=True, help="results.json to write")
    ap.add_argument("--threads", type=int, default=0)
    args = ap.parse_args()

    ours, ours_order, ours_proc = read_side(args.ours, "diorama")
    torch_, torch_order, torch_proc = read_side(args.torch, "torch")
    ceiling = gflops(ours.get("sgemm_ceiling"))

    # Rows: diorama's order, each case followed by its torch variants; then torch-only cases.
    names = []
    for c in ours_order:
        names.append(c)
        names += [t for t in torch_order if t.startswith(c + "_") and t not in ours]
    names += [t for t in torch_order if t not in names]

    rows = []
    for name in names:
        base = name if name in ours else next((c for c in ours_order if name.startswith(c + "_")), None)
        o, t = ours.get(base) if base else None, torch_.get(name)
        og, tg = gflops(o), gflops(t)
        others = [r.get("other_cpu_pct") for r in (o, t) if r and r.get("other_cpu_pct") is not None]
        row = {
            "case": name,
            "ours_case": base,
            "shape": (o or t or {}).get("shape", ""),
            "torch_note": (t or {}).get("note") or None,
            "ours_gflops": og,
            "torch_gflops": tg,
            "ratio_ours_over_torch": og / tg if og and tg else None,
            "ours_pct_ceiling": 100.0 * og / ceiling if og and ceiling else None,
            "torch_pct_ceiling": 100.0 * tg / ceiling if tg and ceiling else None,
            "others_cpu_pct_max": max(others) if others else None,
            "ours": o,
            "torch": t,
        }
        rows.append(row)

    print()
    print(f"diorama vs PyTorch, same machine, same run: {cpu_model()}, {os.cpu_count()} CPUs, "
          f"{args.threads or '?'} threads, torch {torch_proc.get('torch_version', '?')}, "
          f"{len(args.ours)} round(s), best of each side's rounds")
    print(f"sgemm ceiling (oneDNN dnnl_sgemm, measured in this run): {fmt(ceiling, 0)} GFLOP/s; "
          f"GFLOP/s = best of N timed calls after warm-up")
    hdr = (f"{'case':<30} {'ours GF/s':>9} {'torch GF/s':>10} {'ours/torch':>10} {'ours %ceil':>10} "
           f"{'torch %ceil':>11} {'others':>6}  note")
    print(hdr)
    print("-" * (len(hdr) + 30))
    for r in rows:
        note = []
        if r["case"] == "sgemm_ceiling":
            note.append("ours = dnnl_sgemm, torch = torch.mm")
        elif r["torch_note"]:
            note.append(r["torch_note"])
        for side in ("ours", "torch"):
            rec = r[side]
            if rec and rec.get("status") != "ok":
                note.append(f"{side} {rec.get('status')}: {(rec.get('message') or '')[:70]}")
        print(f"{r['case']:<30} {fmt(r['ours_gflops'], 9)} {fmt(r['torch_gflops'], 10)} "
              f"{fmt(r['ratio_ours_over_torch'], 10, 2)} {fmt(r['ours_pct_ceiling'], 10, 1, '%')} "
              f"{fmt(r['torch_pct_ceiling'], 11, 1, '%')} {fmt(r['others_cpu_pct_max'], 6, 0, '%')}  "
              f"{'; '.join(note)}")
    om, tm = ours_proc.get("max_rss_mib"), torch_proc.get("max_rss_mib")
    print(f"peak RSS of the process: ours {fmt(om, 0, 0)} MiB, torch {fmt(tm, 0, 0)} MiB"
          + (f" (ours/torch {om / tm:.2f}; torch's includes its own runtime)" if om and tm else ""))
    noisy = [r["case"] for r in rows if (r["others_cpu_pct_max"] or 0) > 10]
    if noisy:
        print(f"note: other processes took over 10% of the machine during {', '.join(noisy)}; "
              f"rerun on a quiet machine before trusting those rows")

    result = {
        "generated": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "machine": {"cpu": cpu_model(), "cpus": os.cpu_count(), "platform": platform.platform()},
        "threads": args.threads,
        "rounds": len(args.ours),
        "torch_version": torch_proc.get("torch_version"),
        "ceiling_gflops": ceiling,
        "ceiling_source": "oneDNN dnnl_sgemm, square f32, best of N, measured by bench_ops in this run",
        "ratio": "ours_gflops / torch_gflops, best of N (and of rounds); above 1 means diorama is faster",
        "max_rss_mib": {"ours": om, "torch": tm},
        "rows": rows,
    }
    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    with open(args.out, "w") as f:
        json.dump(result, f, indent=2)
        f.write("\n")
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
