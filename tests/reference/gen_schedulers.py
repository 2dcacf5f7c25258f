"""Scheduler fixtures: sigma/timestep tables, UniPC (flow, order 2, bh2, x0-predict) steps, DMD2/TrigFlow and rCM.

Writes tests/fixtures/schedulers/{schedulers.safetensors, schedulers.json}.

Where each rule comes from (also in tests/fixtures/schedulers/README.md):
- diffusers (run here): `UniPCMultistepScheduler` with the Cosmos-2.5 config written by diffusers'
  conversion script (schedule B, Karras in EDM sigma, mapped to flow sigma), and the same class with the
  Wan-style flow config `use_flow_sigmas=True, flow_shift=5` (schedule A). Tables and step outputs are
  diffusers' own numbers.
- written from the notes (NOT NVIDIA's code): the native set_timesteps formulas for schedule A / B
  (cosmos-reference.md §3.1), the DMD2/TrigFlow 4-step sampler (§3.2) and the rCM sampler (§3.3). diffusers
  has no implementation of these; the fixture pins the documented rule, and an independent float64 model
  of the UniPC update (also from §3.1 / diffusers-reference §6) is cross-checked against diffusers.
"""
import math
import os
import sys

import numpy as np
import torch
from safetensors.torch import save_file

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from common import deterministic, fixture_dir, save_json, versions  # noqa: E402

from diffusers import UniPCMultistepScheduler  # noqa: E402

TABLE_STEPS = [1, 4, 10, 35, 36]
STEP_RUNS = [4, 10]
SHAPE = (1, 16, 2, 4, 6)  # element-wise rules: a small 5-D latent is enough

# Cosmos-2.5 scheduler config as diffusers' conversion script writes it (diffusers-reference §1); the rest
# are the class defaults (num_train_timesteps=1000, solver_order=2, solver_type="bh2", predict_x0=True,
# lower_order_final=True, final_sigmas_type="zero", disable_corrector=[], flow_shift=1.0 unused here).
CONFIG_B = dict(use_karras_sigmas=True, use_flow_sigmas=True, prediction_type="flow_prediction",
                sigma_max=200.0, sigma_min=0.01)
# Schedule A through diffusers: the same class, flow sigmas with shift 5 (the Wan configuration); its table
# is compared below with the native formula.
CONFIG_A = dict(use_flow_sigmas=True, flow_shift=5.0, prediction_type="flow_prediction")
# diffusers' own flow grid is linspace(1, 1/1000, N+1)[:-1] (then shift), not the native
# linspace(0.999, 0, N+1)[:N]; so schedule A is driven through set_timesteps(sigmas=<native unshifted grid>),
# which diffusers then shifts with flow_shift=5 exactly like the native code. Both tables are stored.

# Published N=35 integer timesteps (cosmos-reference §3.1), used as a check of the native formulas.
NOTES_A35 = [999, 993, 987, 981, 974, 967, 960, 952, 943, 935, 925, 915, 905, 894, 882, 869, 855, 840, 824,
             807, 789, 768, 746, 722, 695, 666, 633, 596, 555, 508, 454, 391, 318, 232, 128]
NOTES_B35 = [995, 994, 993, 992, 990, 988, 986, 984, 981, 977, 973, 967, 960, 951, 941, 927, 910, 889, 863,
             831, 791, 742, 684, 618, 543, 462, 380, 301, 228, 166, 116, 77, 49, 30, 17, 9]


# ------------------------------------------------------------------------------------------------------
# Native schedule formulas, written from cosmos-reference.md §3.1.
# ------------------------------------------------------------------------------------------------------
def native_grid_a(n):
    sigma_max = float(np.float32(0.999))  # the train grid's first sigma, held as float32
    return np.linspace(sigma_max, 0.0, n + 1)[:n]


def native_schedule_a(n, shift=5.0):
    s = native_grid_a(n)
    s = shift * s / (1.0 + (shift - 1.0) * s)
    t = (s * 1000.0).astype(np.int64)
    return np.concatenate([s, [0.0]]).astype(np.float32), t


def native_schedule_b(n, smin=0.01, smax=200.0, rho=7.0):
    i = np.arange(n + 1, dtype=np.float64)
    edm = (smax ** (1 / rho) + (i / n) * (smin ** (1 / rho) - smax ** (1 / rho))) ** rho
    s = edm / (1.0 + edm)
    t = (s * 1000.0).astype(np.int64)
    return np.concatenate([s, [0.0]]).astype(np.float32), t


# ------------------------------------------------------------------------------------------------------
# Independent float64 model of the UniPC bh2 x0-predict flow update (cosmos-reference §3.1,
# diffusers-reference §6): used only to cross-check diffusers and to publish per-step coefficients.
# ------------------------------------------------------------------------------------------------------
def lam(s):
    s = float(s)
    if s == 0.0:
        return math.inf
    return math.log(1.0 - s) - math.log(s)


def unipc_coeffs(sig, i, order_p, order_c):
    """Scalars of step i: corrector (if i>0) then predictor. sig: float32 sigma table as float64."""
    c = {"step": i, "order_p": order_p, "order_c": order_c, "sigma": float(sig[i]), "sigma_next": float(sig[i + 1])}
    if i > 0:
        h = lam(sig[i]) - lam(sig[i - 1])
        hh = -h
        b_h = math.expm1(hh)
        c["corrector"] = {"h": h, "h_phi_1": math.expm1(hh), "B_h": b_h,
                          "ratio": float(sig[i]) / float(sig[i - 1]), "alpha_t": 1.0 - float(sig[i])}
        if order_c == 1:
            c["corrector"]["rhos_c"] = [0.5]
        else:
            r = (lam(sig[i - 2]) - lam(sig[i - 1])) / h
            h_phi_k = math.expm1(hh) / hh - 1.0
            b1 = h_phi_k / b_h
            h_phi_k2 = h_phi_k / hh - 1.0 / 2.0
            b2 = h_phi_k2 * 2.0 / b_h
            # R = [[1, 1], [r, 1]], b = [b1, b2]
            det = 1.0 * 1.0 - 1.0 * r
            rho0 = (b1 * 1.0 - 1.0 * b2) / det
            rho1 = (1.0 * b2 - r * b1) / det
            c["corrector"].update({"r": r, "rhos_c": [rho0, rho1]})
    hn = lam(sig[i + 1]) - lam(sig[i])
    hh = -hn
    p = {"h": hn, "h_phi_1": math.expm1(hh), "B_h": math.expm1(hh),
         "ratio": float(sig[i + 1]) / float(sig[i]), "alpha_next": 1.0 - float(sig[i + 1])}
    if order_p == 2:
        p["r"] = (lam(sig[i - 1]) - lam(sig[i])) / hn
        p["rhos_p"] = [0.5]
    c["predictor"] = p
    return c


def unipc_reference(sig, sample0, model_outputs):
    """Float64 replay of the whole chain from the same inputs; returns the per-step outputs."""
    n = len(model_outputs)
    x = sample0.double()
    ms, last = [], None
    outs, coeffs = [], []
    prev_order = None
    for i in range(n):
        m = x - float(sig[i]) * model_outputs[i].double()
        order_p = min(2, n - i, len(ms) + 1)
        order_c = prev_order if i > 0 else None
        c = unipc_coeffs(sig, i, order_p, order_c)
        if i > 0:
            cc = c["corrector"]
            m0 = ms[-1]
            x_ = cc["ratio"] * last - cc["alpha_t"] * cc["h_phi_1"] * m0
            corr = 0.0
            if order_c == 2:
                corr = cc["rhos_c"][0] * (ms[-2] - m0) / cc["r"]
            x = x_ - cc["alpha_t"] * cc["B_h"] * (corr + cc["rhos_c"][-1] * (m - m0))
        ms.append(m)
        last = x
        pp = c["predictor"]
        if float(sig[i + 1]) == 0.0:
            x = m.clone()  # lambda_next = +inf: expm1(-inf) = -1 and the update is exactly x0
        else:
            x_ = pp["ratio"] * x - pp["alpha_next"] * pp["h_phi_1"] * m
            if order_p == 2:
                x_ = x_ - pp["alpha_next"] * pp["B_h"] * 0.5 * (ms[-2] - m) / pp["r"]
            x = x_
        prev_order = order_p
        outs.append(x)
        coeffs.append(c)
    return outs, coeffs


def set_schedule(sch, tag, n):
    if tag == "A":
        sch.set_timesteps(sigmas=native_grid_a(n).copy())
    else:
        sch.set_timesteps(n)


def run_unipc(tag, n, seed):
    """Runs diffusers' step() on a seeded sample with seeded 'velocities'; records every intermediate."""
    sch = UniPCMultistepScheduler(**(CONFIG_A if tag == "A" else CONFIG_B))
    set_schedule(sch, tag, n)
    g = torch.Generator().manual_seed(seed)
    eps = torch.randn(SHAPE, generator=g, dtype=torch.float32)
    x0_true = 0.5 * torch.randn(SHAPE, generator=g, dtype=torch.float32)
    # Velocities near the flow target (eps - x0) plus a perturbation, so the chain stays O(1).
    vs = [(eps - x0_true) + 0.3 * torch.randn(SHAPE, generator=g, dtype=torch.float32) for _ in range(n)]

    rec = {"x0": {}, "corrected": {}}
    orig_convert = sch.convert_model_output
    orig_corr = sch.multistep_uni_c_bh_update

    def convert(*args, **kw):
        out = orig_convert(*args, **kw)
        rec["x0"][sch.step_index] = out.clone()
        return out

    def corr(*args, **kw):
        out = orig_corr(*args, **kw)
        rec["corrected"][sch.step_index] = out.clone()
        return out

    sch.convert_model_output = convert
    sch.multistep_uni_c_bh_update = corr

    t = {"sample.0": eps.clone(), "x0_target": x0_true}
    x = eps.clone()
    orders = []
    for i, ts in enumerate(sch.timesteps):
        t[f"model_output.{i}"] = vs[i]
        x = sch.step(vs[i], ts, x, return_dict=False)[0]
        orders.append(int(sch.this_order))
        t[f"sample.{i + 1}"] = x.clone()
    for i, v in rec["x0"].items():
        t[f"x0_pred.{i}"] = v
    for i, v in rec["corrected"].items():
        t[f"corrected.{i}"] = v
    t["sigmas"] = sch.sigmas.clone()
    t["timesteps"] = sch.timesteps.clone()

    ref, coeffs = unipc_reference(sch.sigmas.double().numpy(), eps, vs)
    err = max(float((ref[i] - t[f"sample.{i + 1}"].double()).abs().max()) for i in range(n))
    assert err < 1e-5, err
    # last step: exactly the x0 prediction
    assert torch.equal(t[f"sample.{n}"], t[f"x0_pred.{n - 1}"])
    info = {"n": n, "seed": seed, "predictor_orders": orders,
            "corrector_orders": [None] + orders[:-1], "corrector_ran_at_steps": sorted(rec["corrected"]),
            "max_abs_diff_vs_float64_model": err, "coefficients_float64": coeffs}
    return t, info


# ------------------------------------------------------------------------------------------------------
# DMD2 / TrigFlow 4-step sampler, written from cosmos-reference.md §3.2 (diffusers has none).
# ------------------------------------------------------------------------------------------------------
def dmd2_trigflow(seed):
    taus = [math.pi / 2, math.atan(15.0), math.atan(5.0), math.atan(5.0 / 3.0), 0.0]
    g = torch.Generator().manual_seed(seed)
    init_noise = torch.randn(SHAPE, generator=g, dtype=torch.float32)
    x0_true = 0.5 * torch.randn(SHAPE, generator=g, dtype=torch.float32)
    t = {"init_noise": init_noise}
    steps = []
    x = init_noise.double()
    for k in range(4):
        tau, tau_next = taus[k], taus[k + 1]
        s = math.cos(tau) + math.sin(tau)
        c_in, c_noise, c_skip, c_out = 1.0 / s, math.sin(tau) / s, 1.0 / s, -math.sin(tau) / s
        net_in = x * c_in
        # a given "network output" F (an RF velocity, since x0 = x_rf - t*F), seeded, saved
        f = ((init_noise - x0_true) + 0.3 * torch.randn(SHAPE, generator=g, dtype=torch.float32))
        x0 = c_skip * x + c_out * f.double()
        t[f"net_input.{k}"] = net_in
        t[f"net_output.{k}"] = f
        t[f"x0.{k}"] = x0
        if tau_next > 0:
            x = math.cos(tau_next) * x0 + math.sin(tau_next) * init_noise.double()
            t[f"x.{k + 1}"] = x
        steps.append({"k": k, "tau": tau, "tau_next": tau_next, "rf_t": c_noise, "c_in": c_in,
                      "c_noise": c_noise, "c_skip": c_skip, "c_out": c_out})
    return t, {"seed": seed, "output": "x0.3", "taus": taus, "rf_t": [math.sin(a) / (math.cos(a) + math.sin(a)) for a in taus],
               "steps": steps}


# ------------------------------------------------------------------------------------------------------
# rCM sampler (NVlabs/rcm, Wan2.1), written from cosmos-reference.md §3.3 (diffusers has none).
# ------------------------------------------------------------------------------------------------------
def rcm(n_steps, seed):
    taus = [math.atan(80.0), 1.5, 1.4, 1.0][:n_steps] + [0.0]
    ts = [math.sin(a) / (math.cos(a) + math.sin(a)) for a in taus]
    g = torch.Generator().manual_seed(seed)
    init_noise = torch.randn(SHAPE, generator=g, dtype=torch.float32)
    x0_true = 0.5 * torch.randn(SHAPE, generator=g, dtype=torch.float32)
    t = {"init_noise": init_noise}
    x = init_noise.double() * ts[0]
    t["x.0"] = x
    for k in range(n_steps):
        tc, tn = ts[k], ts[k + 1]
        v = (init_noise - x0_true) + 0.3 * torch.randn(SHAPE, generator=g, dtype=torch.float32)
        t[f"v.{k}"] = v
        t[f"net_time.{k}"] = torch.tensor([tc * 1000.0], dtype=torch.float64)
        if tn > 0:
            fresh = torch.randn(SHAPE, generator=g, dtype=torch.float32)
            t[f"fresh_noise.{k}"] = fresh
            x = (1.0 - tn) * (x - tc * v.double()) + tn * fresh.double()
        else:
            x = x - tc * v.double()
        t[f"x.{k + 1}"] = x
    return t, {"seed": seed, "n_steps": n_steps, "output": f"x.{n_steps}", "taus": taus, "rf_t": ts}


def main():
    deterministic()
    out = fixture_dir("schedulers")
    T = {}
    meta = {"fixture": "schedulers", "generator": "tests/reference/gen_schedulers.py", "versions": versions(),
            "shape": list(SHAPE), "tables": {}, "unipc": {}, "tolerances": {}}

    # 1. Tables.
    sch_b = UniPCMultistepScheduler(**CONFIG_B)
    sch_a = UniPCMultistepScheduler(**CONFIG_A)
    meta["config_B"] = {k: v for k, v in sch_b.config.items() if not k.startswith("_")}
    meta["config_A"] = {k: v for k, v in sch_a.config.items() if not k.startswith("_")}
    for n in TABLE_STEPS:
        row = {}
        for tag, sch, how in (("B", sch_b, "B"), ("A", sch_a, "A"), ("A_wan_grid", sch_a, "default")):
            if how == "default":
                sch.set_timesteps(n)  # diffusers' own flow grid with flow_shift=5 (Wan style)
            else:
                set_schedule(sch, how, n)
            T[f"table.{tag}.diffusers.N{n}.sigmas"] = sch.sigmas.clone()
            T[f"table.{tag}.diffusers.N{n}.timesteps"] = sch.timesteps.clone()
            row[f"{tag}.diffusers"] = {"sigmas": [float(v) for v in sch.sigmas],
                                       "timesteps": [int(v) for v in sch.timesteps]}
        sa, ta = native_schedule_a(n)
        sb, tb = native_schedule_b(n)
        T[f"table.A.native.N{n}.sigmas"] = torch.from_numpy(sa)
        T[f"table.A.native.N{n}.timesteps"] = torch.from_numpy(ta)
        T[f"table.B.native.N{n}.sigmas"] = torch.from_numpy(sb)
        T[f"table.B.native.N{n}.timesteps"] = torch.from_numpy(tb)
        row["A.native"] = {"sigmas": [float(v) for v in sa], "timesteps": [int(v) for v in ta]}
        row["B.native"] = {"sigmas": [float(v) for v in sb], "timesteps": [int(v) for v in tb]}
        # schedule A: diffusers' flow_shift=5 table against the native formula, same N
        da = T[f"table.A.diffusers.N{n}.sigmas"].double().numpy()
        row["A.diffusers_vs_native_max_abs_sigma_diff"] = float(np.abs(da - sa.astype(np.float64)).max())
        row["A.diffusers_vs_native_timesteps_equal"] = bool(
            np.array_equal(T[f"table.A.diffusers.N{n}.timesteps"].numpy(), ta))
        dw = T[f"table.A_wan_grid.diffusers.N{n}.sigmas"].double().numpy()
        row["A_wan_grid.vs_native_max_abs_sigma_diff"] = float(np.abs(dw - sa.astype(np.float64)).max())
        row["A_wan_grid.vs_native_timesteps_equal"] = bool(
            np.array_equal(T[f"table.A_wan_grid.diffusers.N{n}.timesteps"].numpy(), ta))
        meta["tables"][f"N{n}"] = row
    assert [int(v) for v in T["table.A.native.N35.timesteps"]] == NOTES_A35
    assert [int(v) for v in T["table.B.native.N35.timesteps"]] == NOTES_B35
    # diffusers' N=36 Karras table is the native N=35 one (N+1 points)
    db = T["table.B.diffusers.N36.sigmas"].double().numpy()
    nb = T["table.B.native.N35.sigmas"].double().numpy()
    meta["tables"]["B.diffusers_N36_vs_native_N35"] = {
        "max_abs_sigma_diff": float(np.abs(db - nb).max()),
        "timesteps_equal": bool(np.array_equal(T["table.B.diffusers.N36.timesteps"].numpy(),
                                               T["table.B.native.N35.timesteps"].numpy()))}

    # 2. UniPC step chains.
    for tag in ("B", "A"):
        for n in STEP_RUNS:
            seed = 100 + n + (0 if tag == "B" else 1000)
            t, info = run_unipc(tag, n, seed)
            for k, v in t.items():
                T[f"unipc.{tag}.N{n}.{k}"] = v
            meta["unipc"][f"{tag}.N{n}"] = info

    # 3. DMD2/TrigFlow and rCM.
    t, info = dmd2_trigflow(7)
    for k, v in t.items():
        T[f"dmd2.{k}"] = v
    meta["dmd2_trigflow"] = dict(info, source="written from cosmos-reference.md §3.2 (not NVIDIA code)")
    meta["rcm"] = {}
    for n in (1, 2, 4):
        t, info = rcm(n, 20 + n)
        for k, v in t.items():
            T[f"rcm.N{n}.{k}"] = v
        meta["rcm"][f"N{n}"] = dict(info, source="written from cosmos-reference.md §3.3 (not NVIDIA code)")

    meta["tolerances"] = {"tables_sigmas": "exact f32 (diffusers tables) / 1e-7 abs (native formulas)",
                          "tables_timesteps": "exact",
                          "unipc_step": "1e-6 abs per step on O(1) values",
                          "dmd2_rcm": "1e-6 abs (float64 rule)"}
    meta["dtypes"] = {k: str(T[k].dtype).replace("torch.", "") for k in sorted(T)}
    meta["shapes"] = {k: list(T[k].shape) for k in sorted(T)}
    path = os.path.join(out, "schedulers.safetensors")
    save_file({k: T[k].contiguous() for k in sorted(T)}, path)
    save_json(os.path.join(out, "schedulers.json"), meta)
    print("schedulers:", len(T), "tensors,", os.path.getsize(path), "bytes")


if __name__ == "__main__":
    main()
