"""Golden fixtures for the Wan 2.1 VAE (diffusers AutoencoderKLWan) with a tiny base_dim.

Writes tests/fixtures/vae/ (described in the hand-written tests/fixtures/vae/README.md):
  config.json, diffusion_pytorch_model.safetensors   save_pretrained output, diffusers key names
  tokenizer.pth                                        the same weights under the native Wan 2.1 names,
                                                       a torch zip pickle like the released tokenizer.pth
  keys.txt, keys_native.txt                            sorted key lists with shapes
  tensors.safetensors                                  inputs, per-chunk activations and outputs
  vae.json                                             config, seeds, shapes, chunk rule, tolerances, stats

Importing this module has no side effects; the pipeline generator uses tiny_vae_config() and
build_tiny_vae(). Run with the pinned venv: tests/reference/.venv/bin/python tests/reference/gen_vae.py
"""
import collections
import hashlib
import inspect
import io
import os
import re
import sys

import torch

_HERE = os.path.dirname(os.path.abspath(__file__))
if _HERE not in sys.path:
    sys.path.insert(0, _HERE)
import common  # noqa: E402

# Pixel size of every case: multiples of 8, H != W (catches an H/W transposition); latent 3x5.
HEIGHT = 24
WIDTH = 40
ENCODE_FRAMES = (1, 5, 13)  # pixel frames of the encode cases (T = 1 mod 4)
DECODE_LATENT_FRAMES = (1, 2, 4)  # latent frames of the decode cases (-> 1, 5, 13 pixel frames)
VAE_SEED = 1
INPUT_SEED = 10  # + case index
CONV_OUT_SCALE = 0.8  # decoder.conv_out weight and bias are multiplied by this: a few dozen decoded
#                       values (0.04 %) reach the [-1, 1] clamp, so it is exercised but rare
MAX_CLAMPED_FRACTION = 0.01

# Every module whose per-chunk output is saved (each fires once per temporal chunk).
NUM_DOWN_BLOCKS = 11  # flat encoder list for num_res_blocks=2 and 4 levels


def tiny_vae_config():
    """AutoencoderKLWan kwargs: the real Wan 2.1 module tree, base_dim 4 instead of 96.

    z_dim stays 16 so the released latents_mean/latents_std (the constructor defaults) still apply;
    dim_mult, num_res_blocks and temperal_downsample are the real ones, so key names, feat-cache slot
    order and every channel-changing shortcut conv (encoder 4->8, 8->16; decoder up_blocks.1.resnets.0
    8->16) are kept. base_dim must be even (the decoder halves channels after each upsampler).
    """
    return dict(
        base_dim=4,
        z_dim=16,
        dim_mult=[1, 2, 4, 4],
        num_res_blocks=2,
        attn_scales=[],
        temperal_downsample=[False, True, True],
        dropout=0.0,
        is_residual=False,
        in_channels=3,
        out_channels=3,
        patch_size=None,
    )


def build_tiny_vae(seed=VAE_SEED):
    """The tiny fp32 VAE in eval mode: default init under `seed`, Wan RMS_norm gammas perturbed to
    1 + 0.1*randn, decoder.conv_out scaled by CONV_OUT_SCALE. Same seed -> identical weights."""
    from diffusers import AutoencoderKLWan

    common.seed(seed)
    vae = AutoencoderKLWan(**tiny_vae_config())
    common.perturb_norms(vae)
    with torch.no_grad():
        vae.decoder.conv_out.weight.mul_(CONV_OUT_SCALE)
        vae.decoder.conv_out.bias.mul_(CONV_OUT_SCALE)
    return vae.eval()  # fp32: the default dtype of the constructor


# ---------------------------------------------------------------------------------------------
# Native (original Wan 2.1 / Cosmos tokenizer.pth) key names. Derived from §8 of the diffusers
# reference notes (the inverse of diffusers' Wan VAE conversion) and checked below against the
# installed diffusers single-file converter when it is available.


def _native_block(rest):
    """Renames inside a residual / attention / resample block (the part after its index)."""
    rest = re.sub(r"^norm1\.", "residual.0.", rest)
    rest = re.sub(r"^conv1\.", "residual.2.", rest)
    rest = re.sub(r"^norm2\.", "residual.3.", rest)
    rest = re.sub(r"^conv2\.", "residual.6.", rest)
    rest = re.sub(r"^conv_shortcut\.", "shortcut.", rest)
    return rest


def native_key(key, num_res_blocks=2, num_levels=4):
    """Maps one diffusers AutoencoderKLWan key to the native Wan 2.1 VAE key."""
    if key.startswith("quant_conv."):
        return "conv1." + key[len("quant_conv."):]
    if key.startswith("post_quant_conv."):
        return "conv2." + key[len("post_quant_conv."):]
    side, rest = key.split(".", 1)
    assert side in ("encoder", "decoder"), key
    if rest.startswith("conv_in."):
        return f"{side}.conv1.{rest[len('conv_in.'):]}"
    if rest.startswith("norm_out."):
        return f"{side}.head.0.{rest[len('norm_out.'):]}"
    if rest.startswith("conv_out."):
        return f"{side}.head.2.{rest[len('conv_out.'):]}"
    m = re.match(r"^mid_block\.(resnets|attentions)\.(\d+)\.(.*)$", rest)
    if m:
        kind, i, tail = m.group(1), int(m.group(2)), m.group(3)
        slot = {("resnets", 0): 0, ("attentions", 0): 1, ("resnets", 1): 2}[(kind, i)]
        return f"{side}.middle.{slot}.{_native_block(tail)}"
    m = re.match(r"^down_blocks\.(\d+)\.(.*)$", rest)
    if m:
        return f"{side}.downsamples.{m.group(1)}.{_native_block(m.group(2))}"
    per_level = num_res_blocks + 2  # (num_res_blocks + 1) resnets and one resample
    m = re.match(r"^up_blocks\.(\d+)\.resnets\.(\d+)\.(.*)$", rest)
    if m:
        flat = int(m.group(1)) * per_level + int(m.group(2))
        return f"{side}.upsamples.{flat}.{_native_block(m.group(3))}"
    m = re.match(r"^up_blocks\.(\d+)\.upsamplers\.0\.(.*)$", rest)
    if m:
        level = int(m.group(1))
        assert level < num_levels - 1, key
        flat = level * per_level + num_res_blocks + 1
        return f"{side}.upsamples.{flat}.{m.group(2)}"
    raise KeyError(key)


_RANK = {
    # top level, then encoder / decoder children, then leaves, in module-registration order
    "encoder": 0, "conv1": 1, "conv2": 2, "decoder": 3,
    "downsamples": 1, "upsamples": 2, "middle": 1, "head": 3,
    "residual": 0, "shortcut": 1, "norm": 0, "to_qkv": 1, "proj": 2, "resample": 0, "time_conv": 1,
    "gamma": 0, "weight": 0, "bias": 1,
}


def _native_order(key):
    """Sort key reproducing the native module's state_dict order (encoder: conv1 < downsamples <
    middle < head; decoder: conv1 < middle < upsamples < head)."""
    parts = key.split(".")
    out = []
    for depth, p in enumerate(parts):
        if p.isdigit():
            out.append(int(p))
        elif depth == 1 and p == "conv1":
            out.append(0)  # encoder.conv1 / decoder.conv1 come first
        elif depth == 1 and parts[0] == "encoder" and p == "middle":
            out.append(2)
        else:
            out.append(_RANK[p])
    return out


def native_state_dict(vae):
    sd = vae.state_dict()
    cfg = tiny_vae_config()
    pairs = [(native_key(k, cfg["num_res_blocks"], len(cfg["dim_mult"])), v) for k, v in sd.items()]
    names = [n for n, _ in pairs]
    assert len(set(names)) == len(names), "native key collision"
    pairs.sort(key=lambda kv: _native_order(kv[0]))
    return collections.OrderedDict((n, v.detach().clone().contiguous()) for n, v in pairs)


def save_torch_pickle(path, state_dict):
    """torch.save (zip format, pickle protocol 2) to memory, then written once; bytes are checked to
    be reproducible by saving twice."""
    blobs = []
    for _ in range(2):
        buf = io.BytesIO()
        torch.save(state_dict, buf)
        blobs.append(buf.getvalue())
    assert blobs[0] == blobs[1], "torch.save is not byte-reproducible in this environment"
    with open(path, "wb") as f:
        f.write(blobs[0])


def check_native_against_diffusers(native_sd, diffusers_sd):
    """Independent check of the name map: diffusers' own single-file converter (the one behind
    AutoencoderKLWan.from_single_file) must turn the native dict back into the diffusers dict."""
    try:
        from diffusers.loaders import single_file_utils as sfu
    except Exception as e:  # pragma: no cover
        return f"not checked: {e!r}"
    conv = getattr(sfu, "convert_wan_vae_to_diffusers", None)
    if conv is None:
        return "not checked: diffusers.loaders.single_file_utils has no convert_wan_vae_to_diffusers"
    back = conv({k: v.clone() for k, v in native_sd.items()})
    assert set(back) == set(diffusers_sd), (
        sorted(set(back) ^ set(diffusers_sd))[:10])
    for k, v in diffusers_sd.items():
        assert torch.equal(back[k], v), k
    return "ok: diffusers.loaders.single_file_utils.convert_wan_vae_to_diffusers maps every native key back"


# ---------------------------------------------------------------------------------------------


class Recorder:
    """Forward hooks that keep every call's output, in call order, per module name."""

    def __init__(self, model, names):
        self.outputs = {n: [] for n in names}
        self.handles = []
        mods = dict(model.named_modules())
        for n in names:
            self.handles.append(mods[n].register_forward_hook(self._hook(n)))

    def _hook(self, name):
        def fn(_module, _inputs, output):
            out = output[0] if isinstance(output, (tuple, list)) else output
            self.outputs[name].append(out.detach().clone())

        return fn

    def close(self):
        for h in self.handles:
            h.remove()


class ChunkLog:
    """Pre-hook on encoder/decoder: the temporal length of every chunk the VAE feeds them."""

    def __init__(self, module):
        self.frames = []
        self.kwargs = []
        self.h = module.register_forward_pre_hook(self._pre, with_kwargs=True)

    def _pre(self, _module, args, kwargs):
        x = args[0] if args else kwargs["x"]
        self.frames.append(int(x.shape[2]))
        self.kwargs.append(kwargs.get("first_chunk"))

    def close(self):
        self.h.remove()


def pipeline_normalisation(vae):
    """(mean, std) [1,16,1,1,1] fp32 tensors as Cosmos2_5_PredictBasePipeline builds them from the VAE
    config; the pipeline keeps 1/std, see PIPELINE_LINES (asserted against the installed source)."""
    z = vae.config.z_dim
    latents_mean = torch.tensor(vae.config.latents_mean).view(1, z, 1, 1, 1)
    latents_std = torch.tensor(vae.config.latents_std).view(1, z, 1, 1, 1)
    return latents_mean, latents_std


# Lines the installed code must contain for this fixture's assumptions to hold.
PIPELINE_LINES = (
    "self.latents_std = 1.0 / latents_std",
    "cond_latents = (cond_latents - latents_mean) * latents_std",
    "latents = latents / latents_std + latents_mean",
    'retrieve_latents(self.vae.encode(vid.unsqueeze(0)), generator, sample_mode="argmax")',
)
VAE_LINES = (
    "iter_ = 1 + (num_frame - 1) // 4",
    "x[:, :, 1 + 4 * (i - 1) : 1 + 4 * i, :, :],",
    "for i in range(num_frame):",
    "out = torch.clamp(out, min=-1.0, max=1.0)",
    "CACHE_T = 2",
)


def source_facts():
    """Reads the installed diffusers source for the facts this fixture depends on."""
    from diffusers.models.autoencoders import autoencoder_kl_wan as akw
    from diffusers.pipelines.cosmos import pipeline_cosmos2_5_predict as pc

    facts = {}
    akw_src = inspect.getsource(akw)
    pc_src = inspect.getsource(pc)
    facts["autoencoder_kl_wan.py sha256"] = hashlib.sha256(akw_src.encode()).hexdigest()
    facts["pipeline_cosmos2_5_predict.py sha256"] = hashlib.sha256(pc_src.encode()).hexdigest()
    for line in PIPELINE_LINES:
        assert line in pc_src, f"installed pipeline lacks: {line}"
    for line in VAE_LINES:
        assert line in akw_src, f"installed autoencoder_kl_wan lacks: {line}"
    enc = inspect.getsource(akw.AutoencoderKLWan._encode)
    dec = inspect.getsource(akw.AutoencoderKLWan._decode)
    facts["encode loop"] = [ln.strip() for ln in enc.splitlines()
                            if "iter_" in ln or "x[:, :, " in ln]
    facts["decode loop"] = [ln.strip() for ln in dec.splitlines()
                            if "range(num_frame)" in ln or "x[:, :, i" in ln or "clamp" in ln]
    facts["pipeline latents_mean/std lines"] = sorted(set(
        ln.strip() for ln in pc_src.splitlines()
        if ("latents_mean" in ln or "latents_std" in ln) and "=" in ln))
    return facts


def _config_for_json(config):
    """The model config; `_use_default_values` is built from a set, so it is sorted (stable bytes
    whatever PYTHONHASHSEED is)."""
    out = dict(config)
    if "_use_default_values" in out:
        out["_use_default_values"] = sorted(out["_use_default_values"])
    return out


def stats(t):
    t = t.detach().to(torch.float64)
    return {"rms": round(float(t.pow(2).mean().sqrt()), 6), "max_abs": round(float(t.abs().max()), 6)}


def run_encode(vae, x, tag, tensors, meta, latents_mean, latents_std):
    names = (["encoder.conv_in"] + [f"encoder.down_blocks.{k}" for k in range(NUM_DOWN_BLOCKS)] +
             ["encoder.mid_block", "encoder.conv_out", "quant_conv"])
    rec = Recorder(vae, names)
    log = ChunkLog(vae.encoder)
    with torch.no_grad():
        posterior = vae.encode(x).latent_dist
    rec.close()
    log.close()
    t_px = x.shape[2]
    n_chunks = 1 + (t_px - 1) // 4
    assert len(rec.outputs["quant_conv"]) == 1
    qc = rec.outputs["quant_conv"][0]
    mode = posterior.mode()
    assert torch.equal(mode, qc[:, : vae.config.z_dim]), "mode is not the first z_dim channels"
    # Cosmos2_5_PredictBasePipeline: (mode - mean) * (1/std)   (see vae.json "normalisation")
    latents = (mode - latents_mean) * (1.0 / latents_std)
    tensors[f"{tag}.x"] = x
    tensors[f"{tag}.quant_conv"] = qc
    tensors[f"{tag}.mode"] = mode
    tensors[f"{tag}.latents"] = latents
    for n in names[:-1]:
        outs = rec.outputs[n]
        assert len(outs) == n_chunks, (n, len(outs), n_chunks)
        for c, o in enumerate(outs):
            tensors[f"{tag}.chunk{c}.{n}"] = o
    meta["chunks"] = log.frames
    return latents


def run_decode(vae, latents, tag, tensors, meta, latents_mean, latents_std):
    names = (["post_quant_conv", "decoder.conv_in", "decoder.mid_block"] +
             [f"decoder.up_blocks.{i}" for i in range(4)] + ["decoder.conv_out"])
    # Cosmos2_5_PredictBasePipeline: latents / (1/std) + mean, then vae.decode
    z = latents / (1.0 / latents_std) + latents_mean
    rec = Recorder(vae, names)
    log = ChunkLog(vae.decoder)
    with torch.no_grad():
        sample = vae.decode(z).sample
    rec.close()
    log.close()
    t_lat = latents.shape[2]
    assert len(rec.outputs["post_quant_conv"]) == 1
    tensors[f"{tag}.latents"] = latents
    tensors[f"{tag}.z"] = z
    tensors[f"{tag}.post_quant_conv"] = rec.outputs["post_quant_conv"][0]
    for n in names[1:]:
        outs = rec.outputs[n]
        assert len(outs) == t_lat, (n, len(outs), t_lat)
        for c, o in enumerate(outs):
            tensors[f"{tag}.chunk{c}.{n}"] = o
    pre = torch.cat(rec.outputs["decoder.conv_out"], dim=2)
    assert torch.equal(sample, pre.clamp(-1.0, 1.0)), "decode output is not clamp(conv_out)"
    tensors[f"{tag}.sample"] = sample
    clamped = (pre.abs() >= 1.0).double().mean().item()
    meta["clamped_count"] = int((pre.abs() >= 1.0).sum())
    meta["chunks"] = log.frames
    meta["first_chunk_kwarg"] = log.kwargs
    meta["clamped_fraction"] = clamped
    meta["pre_clamp_max_abs"] = float(pre.abs().max())
    assert torch.isfinite(pre).all()
    assert clamped < MAX_CLAMPED_FRACTION, f"{tag}: {clamped:.4f} of decoded values at +-1"
    return sample


def chunk_window_check(vae, x, window):
    """Encodes x with chunks [1, window, window, ...] by driving vae.encoder with its own feat cache
    (as the native Cosmos tokenizer does with temporal_window=16) and returns the quant_conv output."""
    vae.clear_cache()
    outs = []
    t = x.shape[2]
    starts = [0, 1] + list(range(1 + window, t, window))
    with torch.no_grad():
        for i, s in enumerate(starts):
            e = 1 if i == 0 else min(s + window, t)
            if s >= t:
                break
            vae._enc_conv_idx = [0]
            outs.append(vae.encoder(x[:, :, s:e], feat_cache=vae._enc_feat_map, feat_idx=vae._enc_conv_idx))
        out = vae.quant_conv(torch.cat(outs, 2))
    vae.clear_cache()
    return out


def main():
    common.deterministic()
    out_dir = common.fixture_dir("vae")
    cfg = tiny_vae_config()
    vae = build_tiny_vae(VAE_SEED)
    for p in vae.parameters():
        assert torch.isfinite(p).all()

    # weights: diffusers format
    vae.save_pretrained(out_dir, safe_serialization=True)
    dsd = vae.state_dict()
    with open(os.path.join(out_dir, "keys.txt"), "w") as f:
        for k in sorted(dsd):
            f.write(f"{k}\t{list(dsd[k].shape)}\t{native_key(k)}\n")

    # weights: native Wan 2.1 names, as a torch pickle like the released tokenizer.pth / Wan2.1_VAE.pth
    nsd = native_state_dict(vae)
    save_torch_pickle(os.path.join(out_dir, "tokenizer.pth"), nsd)
    with open(os.path.join(out_dir, "keys_native.txt"), "w") as f:
        for k in sorted(nsd):
            f.write(f"{k}\t{list(nsd[k].shape)}\n")
    reloaded = torch.load(os.path.join(out_dir, "tokenizer.pth"), map_location="cpu", weights_only=True)
    assert list(reloaded) == list(nsd) and all(torch.equal(reloaded[k], nsd[k]) for k in nsd)
    native_check = check_native_against_diffusers(nsd, dsd)

    latents_mean, latents_std = pipeline_normalisation(vae)
    tensors = {}
    cases = {}
    seeds = {"vae": VAE_SEED}
    for i, t_px in enumerate(ENCODE_FRAMES):
        tag = f"enc{t_px}"
        seeds[f"{tag}.x"] = common.seed(INPUT_SEED + i)
        x = torch.rand(1, 3, t_px, HEIGHT, WIDTH, dtype=torch.float32) * 2.0 - 1.0
        meta = {}
        run_encode(vae, x, tag, tensors, meta, latents_mean, latents_std)
        cases[tag] = meta
    for i, t_lat in enumerate(DECODE_LATENT_FRAMES):
        tag = f"dec{t_lat}"
        seeds[f"{tag}.latents"] = common.seed(INPUT_SEED + len(ENCODE_FRAMES) + i)
        lat = torch.randn(1, cfg["z_dim"], t_lat, HEIGHT // 8, WIDTH // 8, dtype=torch.float32)
        meta = {}
        run_decode(vae, lat, tag, tensors, meta, latents_mean, latents_std)
        cases[tag] = meta

    n_clamped = sum(cases[f"dec{t}"]["clamped_count"] for t in DECODE_LATENT_FRAMES)
    assert n_clamped > 0, "no decoded value reaches the clamp; raise CONV_OUT_SCALE"

    # The chunk rule as observed through the hooks.
    for t_px in ENCODE_FRAMES:
        assert cases[f"enc{t_px}"]["chunks"] == [1] + [4] * ((t_px - 1) // 4), cases[f"enc{t_px}"]
    for t_lat in DECODE_LATENT_FRAMES:
        assert cases[f"dec{t_lat}"]["chunks"] == [1] * t_lat, cases[f"dec{t_lat}"]
        pix = [tensors[f"dec{t_lat}.chunk{c}.decoder.conv_out"].shape[2] for c in range(t_lat)]
        assert pix == [1] + [4] * (t_lat - 1), pix
        cases[f"dec{t_lat}"]["pixel_frames_per_chunk"] = pix

    # Larger encode chunks (native Cosmos uses 1 then 16) give the same result up to reordering.
    x13 = tensors["enc13.x"]
    window_diff = {}
    for w in (8, 12):
        alt = chunk_window_check(vae, x13, w)
        window_diff[f"1+{w}"] = float((alt - tensors["enc13.quant_conv"]).abs().max())
        assert window_diff[f"1+{w}"] < 1e-5, window_diff

    for k, v in tensors.items():
        assert torch.isfinite(v).all(), k
    common.save_tensors(os.path.join(out_dir, "tensors.safetensors"), tensors)

    facts = source_facts()
    info = {
        "fixture": "vae",
        "model": "diffusers AutoencoderKLWan (Wan 2.1 VAE), tiny base_dim, fp32, eval",
        "config": _config_for_json(vae.config),
        "constructor_kwargs": cfg,
        "seeds": seeds,
        "weights": {
            "diffusers": "diffusion_pytorch_model.safetensors (+ config.json), save_pretrained",
            "native": "tokenizer.pth: torch.save zip pickle of an OrderedDict, native Wan 2.1 names, fp32",
            "num_tensors": len(dsd),
            "num_params": int(sum(v.numel() for v in dsd.values())),
            "norm_perturbation": "gamma *= 1 + 0.1*randn (common.perturb_norms), after default init",
            "decoder.conv_out_scale": CONV_OUT_SCALE,
            "native_map_check": native_check,
        },
        "pixel_size": [HEIGHT, WIDTH],
        "latent_size": [HEIGHT // 8, WIDTH // 8],
        "inputs": {
            "enc*.x": "uniform [-1, 1), torch.rand*2-1 under the listed seed",
            "dec*.latents": "randn under the listed seed: normalised latents as the pipeline hands to decode",
        },
        "normalisation": {
            "encode": "latents = (mode - mean) * (1 / std)",
            "decode": "z = latents / (1 / std) + mean",
            "mean": list(vae.config.latents_mean),
            "std": list(vae.config.latents_std),
            "note": "per channel c of z_dim=16, broadcast as [1,16,1,1,1]; fp32",
        },
        "chunk_rule": {
            "encode": "chunk 0 = pixel frame 0 alone, then chunks of 4 frames (1-4, 5-8, ...); "
                      "one latent frame per chunk; quant_conv runs once on the concatenation",
            "decode": "post_quant_conv once on the whole latent, then one latent frame per decoder call; "
                      "chunk 0 -> 1 pixel frame, every later chunk -> 4; clamp to [-1,1] after concatenation",
            "observed": {k: v["chunks"] for k, v in cases.items()},
            "installed_source": facts,
            "larger_encode_windows_max_abs_diff_vs_4": window_diff,
        },
        "cases": cases,
        "tensors": {k: {"shape": list(v.shape), "dtype": "float32", **stats(v)}
                    for k, v in sorted(tensors.items())},
        "tolerances": {
            "encode_decode_outputs": {"atol": 1e-4, "rtol": 1e-4,
                                      "applies_to": "quant_conv, mode, latents, post_quant_conv, conv_out, sample"},
            "per_stage": {"atol": 1e-4, "rtol": 1e-4,
                          "note": "1e-5 expected on early stages; compare each chunk's hook output"},
            "bf16_vs_fp32_golden": {"rel_l2": 1e-2, "cosine_min": 0.999},
        },
        "versions": common.versions(),
    }
    common.save_json(os.path.join(out_dir, "vae.json"), info)

    total = 0
    for name in sorted(os.listdir(out_dir)):
        size = os.path.getsize(os.path.join(out_dir, name))
        total += size
        print(f"{size:10d}  {name}")
    print(f"{total:10d}  total")


if __name__ == "__main__":
    main()
