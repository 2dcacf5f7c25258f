"""Golden fixtures for the Cosmos-Predict2.5 DiT (diffusers CosmosTransformer3DModel with the 2.5 flags).

Run through tests/reference/regen.sh (pinned venv). Writes tests/fixtures/dit/:

  config.json, diffusion_pytorch_model.safetensors   the tiny model, `save_pretrained` (diffusers layout)
  config_rope_t2.json                                 the same model with rope_scale (2,3,3) (case rope_t2)
  tiny_ema_fp32.pt, tiny_ema_bf16.pt                  the same weights in the native layout (`net.` keys), as a
                                                      real torch zip pickle, structured like the released
                                                      `*_ema_bf16.pt` files (see native_state_dict)
  keys.json                                           both key lists with shapes, and the native->diffusers map
  <case>.safetensors                                  inputs, hooked intermediates and the output of one case
  dit.json                                            config, seeds, cases, tensor shapes, tolerances, versions

Importable without side effects: `tiny_dit_config()` and `build_tiny_dit(seed)` are used by gen_pipelines.py.
"""
import json
import os
import sys

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import common  # noqa: E402

DIT_SEED = 0  # weights
INPUT_SEED = 100  # case k uses INPUT_SEED + k
B_LAT, T_LAT, H_LAT, W_LAT = 1, 4, 6, 8  # latent [B,16,4,6,8] = 13 frames of 48x64 pixels
H_PX, W_PX = 48, 64  # pixel size of the padding mask (the pipeline passes pixel size)
TEXT_LEN = 64  # max_sequence_length of the tiny pipeline
COND_T = 0.0001  # conditional_frame_timestep of the 2.5 pipeline


def tiny_dit_config():
    """diffusers-reference.md section 2, 'Tiny 2.5 transformer config' (every 2.5 path, real key names)."""
    return dict(
        in_channels=17,
        out_channels=16,
        num_attention_heads=2,
        attention_head_dim=32,
        num_layers=2,
        mlp_ratio=4.0,
        text_embed_dim=32,
        adaln_lora_dim=8,
        max_size=(128, 240, 240),
        patch_size=(1, 2, 2),
        rope_scale=(1.0, 3.0, 3.0),
        concat_padding_mask=True,
        extra_pos_embed_type=None,
        use_crossattn_projection=True,
        crossattn_proj_in_channels=64,
        encoder_hidden_states_channels=32,
        controlnet_block_every_n=None,
        img_context_dim_in=None,
    )


def build_tiny_dit(seed=DIT_SEED, **overrides):
    """The tiny DiT in eval mode, fp32, on CPU. Deterministic for a given seed (reseeds the global RNG).

    Weights: every Linear weight ~ N(0, 1/fan_in) (activations stay O(1) through the layers; the default
    kaiming-uniform init shrinks them), the crossattn_proj bias ~ N(0, 0.1^2), then common.perturb_norms:
    every RMSNorm weight (time_embed.norm, attn{1,2}.norm_{q,k}) becomes 1 + 0.1*N(0,1).
    `overrides` change config entries that own no parameters (e.g. rope_scale); the weights stay the same.
    """
    from diffusers import CosmosTransformer3DModel

    cfg = tiny_dit_config()
    for k in overrides:
        if k not in ("rope_scale",):
            raise ValueError(f"override {k} would change the weights; only rope_scale is allowed")
    cfg.update(overrides)
    common.seed(seed)
    model = CosmosTransformer3DModel(**cfg)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if name.endswith(".bias"):
                p.copy_(0.1 * torch.randn_like(p))
            elif p.dim() == 2:
                p.copy_(torch.randn_like(p) / p.shape[1] ** 0.5)
    common.perturb_norms(model)
    return model.eval()


# ----------------------------------------------------------------------------------------------------------
# Native (NVIDIA cosmos-predict2.5, MiniTrainDIT/MinimalV1LVGDiT) layout
# ----------------------------------------------------------------------------------------------------------

# diffusers name fragment -> native fragment, per block (inverse of the table in diffusers'
# convert_cosmos_transformer_checkpoint_to_diffusers, "2.0" branch, which also serves 2.5).
_BLOCK_MAP = [
    ("attn1.to_q.weight", "self_attn.q_proj.weight"),
    ("attn1.norm_q.weight", "self_attn.q_norm.weight"),
    ("attn1.to_k.weight", "self_attn.k_proj.weight"),
    ("attn1.norm_k.weight", "self_attn.k_norm.weight"),
    ("attn1.to_v.weight", "self_attn.v_proj.weight"),
    ("attn1.to_out.0.weight", "self_attn.output_proj.weight"),
    ("attn2.to_q.weight", "cross_attn.q_proj.weight"),
    ("attn2.norm_q.weight", "cross_attn.q_norm.weight"),
    ("attn2.to_k.weight", "cross_attn.k_proj.weight"),
    ("attn2.norm_k.weight", "cross_attn.k_norm.weight"),
    ("attn2.to_v.weight", "cross_attn.v_proj.weight"),
    ("attn2.to_out.0.weight", "cross_attn.output_proj.weight"),
    ("ff.net.0.proj.weight", "mlp.layer1.weight"),
    ("ff.net.2.weight", "mlp.layer2.weight"),
    ("norm1.linear_1.weight", "adaln_modulation_self_attn.1.weight"),
    ("norm1.linear_2.weight", "adaln_modulation_self_attn.2.weight"),
    ("norm2.linear_1.weight", "adaln_modulation_cross_attn.1.weight"),
    ("norm2.linear_2.weight", "adaln_modulation_cross_attn.2.weight"),
    ("norm3.linear_1.weight", "adaln_modulation_mlp.1.weight"),
    ("norm3.linear_2.weight", "adaln_modulation_mlp.2.weight"),
]
_TOP_MAP = [
    ("patch_embed.proj.weight", "x_embedder.proj.1.weight"),
    ("time_embed.t_embedder.linear_1.weight", "t_embedder.1.linear_1.weight"),
    ("time_embed.t_embedder.linear_2.weight", "t_embedder.1.linear_2.weight"),
    ("norm_out.linear_1.weight", "final_layer.adaln_modulation.1.weight"),
    ("norm_out.linear_2.weight", "final_layer.adaln_modulation.2.weight"),
    ("proj_out.weight", "final_layer.linear.weight"),
    ("time_embed.norm.weight", "t_embedding_norm.weight"),
    ("crossattn_proj.0.weight", "crossattn_proj.0.weight"),
    ("crossattn_proj.0.bias", "crossattn_proj.0.bias"),
]
# TransformerEngine RMSNorm (q_norm, k_norm, t_embedding_norm) puts an `_extra_state` entry in the state dict;
# without FP8 state TE's BasicOperation.get_extra_state returns torch.Tensor() (empty, float32).
_TE_NORMS_IN_BLOCK = ["self_attn.q_norm", "self_attn.k_norm", "cross_attn.q_norm", "cross_attn.k_norm"]
# Training counters of WeightTrainingStat (buffers; values are arbitrary in a release, non-zero here).
_ACCUM = [
    ("accum_video_sample_counter", torch.tensor(1234567, dtype=torch.int64)),
    ("accum_image_sample_counter", torch.tensor(0, dtype=torch.int64)),
    ("accum_iteration", torch.tensor(25000, dtype=torch.int64)),
    ("accum_train_in_hours", torch.tensor(1234.5, dtype=torch.float32)),
]


def native_key_map(num_layers):
    """[(diffusers_key, native_key)] for every parameter, native keys with the `net.` prefix."""
    pairs = []
    for d, n in _TOP_MAP:
        pairs.append((d, "net." + n))
    for i in range(num_layers):
        for d, n in _BLOCK_MAP:
            pairs.append((f"transformer_blocks.{i}.{d}", f"net.blocks.{i}.{n}"))
    return pairs


def native_state_dict(model, dtype=torch.float32):
    """The diffusers weights as the released `*_ema_{fp32,bf16}.pt` dict would hold them.

    The release script (cosmos-predict2.5 scripts/convert_distcp_to_pt.py) loads the DCP checkpoint, keeps the
    `net_ema.*` entries renamed to `net.*` in a plain dict, saves it (ema_fp32), then casts every float32 tensor
    to bf16 and saves again (ema_bf16). So the dict holds everything in MiniTrainDIT.state_dict(), in module
    registration order: the WeightTrainingStat counters (int64 stay int64, accum_train_in_hours is float32 and
    becomes bf16), x_embedder, the persistent RoPE buffers pos_embedder.{seq,dim_spatial_range,dim_temporal_range},
    t_embedder, blocks (self_attn, cross_attn, mlp, adaln_*), final_layer, t_embedding_norm, crossattn_proj,
    plus TE `_extra_state` entries (empty tensors). Each tensor has its own storage.
    """
    cfg = model.config
    sd = model.state_dict()
    head_dim = cfg.attention_head_dim
    dim_h = head_dim // 6 * 2
    dim_t = head_dim - 2 * dim_h
    max_len = max(s // p for s, p in zip(cfg.max_size, cfg.patch_size))
    out = {}

    def put(key, t):
        t = t.detach().clone().contiguous()
        if dtype != torch.float32 and t.dtype == torch.float32:
            t = t.to(dtype)
        out[key] = t

    for name, t in _ACCUM:
        put("net." + name, t)
    put("net.x_embedder.proj.1.weight", sd["patch_embed.proj.weight"])
    put("net.pos_embedder.seq", torch.arange(max_len, dtype=torch.float32))
    put("net.pos_embedder.dim_spatial_range", torch.arange(0, dim_h, 2)[: dim_h // 2].float() / dim_h)
    put("net.pos_embedder.dim_temporal_range", torch.arange(0, dim_t, 2)[: dim_t // 2].float() / dim_t)
    put("net.t_embedder.1.linear_1.weight", sd["time_embed.t_embedder.linear_1.weight"])
    put("net.t_embedder.1.linear_2.weight", sd["time_embed.t_embedder.linear_2.weight"])
    block_order = [
        "self_attn.q_proj.weight", "self_attn.q_norm.weight", "self_attn.q_norm._extra_state",
        "self_attn.k_proj.weight", "self_attn.k_norm.weight", "self_attn.k_norm._extra_state",
        "self_attn.v_proj.weight", "self_attn.output_proj.weight",
        "cross_attn.q_proj.weight", "cross_attn.q_norm.weight", "cross_attn.q_norm._extra_state",
        "cross_attn.k_proj.weight", "cross_attn.k_norm.weight", "cross_attn.k_norm._extra_state",
        "cross_attn.v_proj.weight", "cross_attn.output_proj.weight",
        "mlp.layer1.weight", "mlp.layer2.weight",
        "adaln_modulation_self_attn.1.weight", "adaln_modulation_self_attn.2.weight",
        "adaln_modulation_cross_attn.1.weight", "adaln_modulation_cross_attn.2.weight",
        "adaln_modulation_mlp.1.weight", "adaln_modulation_mlp.2.weight",
    ]
    to_diff = {n: d for d, n in _BLOCK_MAP}
    for i in range(cfg.num_layers):
        for n in block_order:
            if n.endswith("._extra_state"):
                put(f"net.blocks.{i}.{n}", torch.Tensor())
            else:
                put(f"net.blocks.{i}.{n}", sd[f"transformer_blocks.{i}.{to_diff[n]}"])
    put("net.final_layer.linear.weight", sd["proj_out.weight"])
    put("net.final_layer.adaln_modulation.1.weight", sd["norm_out.linear_1.weight"])
    put("net.final_layer.adaln_modulation.2.weight", sd["norm_out.linear_2.weight"])
    put("net.t_embedding_norm.weight", sd["time_embed.norm.weight"])
    put("net.t_embedding_norm._extra_state", torch.Tensor())
    put("net.crossattn_proj.0.weight", sd["crossattn_proj.0.weight"])
    put("net.crossattn_proj.0.bias", sd["crossattn_proj.0.bias"])
    return out


def check_native(path, model, dtype):
    """Reload the .pt the way the native loader does and map it with diffusers' own converter (the
    from_single_file Cosmos 2.x table); it must give back exactly the diffusers state dict (rounded to dtype)."""
    from diffusers.loaders.single_file_utils import convert_cosmos_transformer_checkpoint_to_diffusers

    loaded = torch.load(path, map_location="cpu", weights_only=True)
    assert type(loaded) is dict, type(loaded)
    for k, v in loaded.items():
        assert k.startswith("net.") and torch.is_tensor(v), k
        if k.endswith("_extra_state"):
            assert v.numel() == 0
        elif v.is_floating_point():
            assert v.dtype == dtype, (k, v.dtype)
    converted = convert_cosmos_transformer_checkpoint_to_diffusers(dict(loaded))
    ref = model.state_dict()
    assert sorted(converted) == sorted(ref), set(converted) ^ set(ref)
    for k in ref:
        assert converted[k].dtype == dtype, k
        assert torch.equal(converted[k], ref[k].to(dtype)), k
    return len(loaded)


# ----------------------------------------------------------------------------------------------------------
# Cases
# ----------------------------------------------------------------------------------------------------------

def _timestep5(values, batch):
    """[B,1,T,1,1] per-frame timesteps; `values` is one list per batch row (or one list for all rows)."""
    rows = values if isinstance(values[0], (list, tuple)) else [values] * batch
    return torch.tensor(rows, dtype=torch.float32).view(batch, 1, len(rows[0]), 1, 1)


def _cond_mask(frames_per_row, batch):
    """[B,1,T,H,W], 1 on the first n latent frames of each row (n per row)."""
    m = torch.zeros(batch, 1, T_LAT, H_LAT, W_LAT)
    for b, n in enumerate(frames_per_row if isinstance(frames_per_row, (list, tuple)) else [frames_per_row] * batch):
        m[b, :, :n] = 1.0
    return m


CASES = [
    # name, batch, description
    ("t2w", 1, "Text2World: condition mask 0, 5-D timestep 0.7 on every frame (what the 2.5 pipeline sends)"),
    ("i2w", 1, "Image2World: latent frame 0 conditioned (mask 1), 5-D timestep [1e-4, 0.7, 0.7, 0.7]"),
    ("v2w", 1, "Video2World: frames 0-1 conditioned, 5-D mixed per-frame timestep [1e-4, 1e-4, 0.85, 0.35]"),
    ("ts1d", 2, "1-D timestep [B] = [0.7, 0.25] (AdaLN broadcast over all tokens), condition mask 0, B=2"),
    ("b2", 2, "B=2, per-row masks and 5-D timesteps: row 0 I2W [1e-4,.7,.7,.7], row 1 T2W [.4,.4,.4,.4]"),
    ("rope_t2", 1, "config_rope_t2.json: rope_scale (2,3,3) -> temporal NTK factor 2^(12/10); inputs as i2w"),
    ("fps16", 1, "fps=16 passed to forward: temporal RoPE positions t*24/16 (2.5 pipeline never passes fps)"),
    ("padmask", 1, "non-zero pixel padding mask [1,1,48,64] (nearest-resized to 6x8), otherwise as t2w"),
]


# Cases that reuse another case's random inputs, so that the difference between the two outputs comes only
# from the one thing the case changes (RoPE temporal scale, fps, padding mask).
INPUTS_FROM = {"rope_t2": "i2w", "fps16": "t2w", "padmask": "t2w"}


def case_inputs(name, batch):
    """Inputs of one case, drawn from seed INPUT_SEED + (index of the case, or of the case it reuses)."""
    names = [c[0] for c in CASES]
    seed = common.seed(INPUT_SEED + names.index(INPUTS_FROM.get(name, name)))
    x = torch.randn(batch, 16, T_LAT, H_LAT, W_LAT)
    ehs = torch.randn(batch, TEXT_LEN, tiny_dit_config()["crossattn_proj_in_channels"])
    pad = torch.zeros(1, 1, H_PX, W_PX)
    kwargs = {}
    if name in ("t2w", "fps16", "padmask"):
        cond, ts = _cond_mask(0, batch), _timestep5([0.7] * T_LAT, batch)
    elif name in ("i2w", "rope_t2"):
        cond, ts = _cond_mask(1, batch), _timestep5([COND_T, 0.7, 0.7, 0.7], batch)
    elif name == "v2w":
        cond, ts = _cond_mask(2, batch), _timestep5([COND_T, COND_T, 0.85, 0.35], batch)
    elif name == "ts1d":
        cond, ts = _cond_mask(0, batch), torch.tensor([0.7, 0.25], dtype=torch.float32)
    elif name == "b2":
        cond = _cond_mask([1, 0], batch)
        ts = _timestep5([[COND_T, 0.7, 0.7, 0.7], [0.4, 0.4, 0.4, 0.4]], batch)
    else:
        raise KeyError(name)
    if name == "padmask":
        pad = (torch.rand(1, 1, H_PX, W_PX) < 0.5).float()
    if name == "fps16":
        kwargs["fps"] = 16
    return seed, dict(hidden_states=x, timestep=ts, encoder_hidden_states=ehs, condition_mask=cond,
                      padding_mask=pad, **kwargs)


def _hook_all(model, store):
    """Forward hooks (with_kwargs=True) that copy the named activations into `store`."""
    handles = []

    def save(name, t):
        assert name not in store, f"{name} fired twice"
        store[name] = t.detach().clone()

    def pre(name):
        def fn(mod, args, kwargs):
            save(name, args[0] if args else next(iter(kwargs.values())))
        return fn

    def post(*names):
        def fn(mod, args, kwargs, output):
            outs = output if isinstance(output, tuple) else (output,)
            assert len(outs) == len(names), (names, len(outs))
            for n, o in zip(names, outs):
                save(n, o)
        return fn

    def reg_pre(mod, name):
        handles.append(mod.register_forward_pre_hook(pre(name), with_kwargs=True))

    def reg(mod, *names):
        handles.append(mod.register_forward_hook(post(*names), with_kwargs=True))

    reg_pre(model.patch_embed, "act.x_in")
    reg(model.rope, "act.rope.cos", "act.rope.sin")
    reg(model.patch_embed, "act.patch_embed")
    reg(model.time_embed.time_proj, "act.time_proj")
    reg(model.time_embed, "act.temb", "act.embedded_timestep")
    reg(model.crossattn_proj, "act.crossattn_proj")
    for i, blk in enumerate(model.transformer_blocks):
        p = f"act.blocks.{i}."
        reg(blk, p + "out")
        if i > 0:  # sub-layer detail for block 0 only (size budget); every block's output is kept
            continue
        for nm in ("norm1", "norm2", "norm3"):
            reg(getattr(blk, nm), p + nm + ".x", p + nm + ".gate")
        for a in ("attn1", "attn2"):
            attn = getattr(blk, a)
            reg(attn.norm_q, p + a + ".norm_q")
            reg(attn.norm_k, p + a + ".norm_k")
            reg(attn, p + a)
        reg(blk.ff, p + "ff")
    reg(model.norm_out, "act.norm_out")
    reg(model.proj_out, "act.proj_out")
    return handles


ACT_DOC = {
    "in.hidden_states": "latent [B,16,T,H,W]",
    "in.timestep": "[B,1,T,1,1] per-frame sigma (5-D) or [B] (1-D)",
    "in.encoder_hidden_states": "[B,L,crossattn_proj_in_channels] (concatenated normalised text states)",
    "in.condition_mask": "[B,1,T,H,W]",
    "in.padding_mask": "[1,1,H_px,W_px] (batch 1: the model repeats it over B)",
    "act.x_in": "pre-hook on patch_embed: [B,18,T,H,W] = latent | condition mask | resized padding mask",
    "act.rope.cos/sin": "[N, head_dim] RoPE table, N = T'H'W' tokens t-major",
    "act.patch_embed": "[B,T',H',W',D] patch_embed output (before the flatten to [B,N,D])",
    "act.time_proj": "[B*T or B, D] sinusoid, cos first",
    "act.temb / act.embedded_timestep": "time_embed outputs [B*T or B, 3D] / [B*T or B, D] before per-token expansion",
    "act.crossattn_proj": "[B,L,text_embed_dim] projected text (Linear + exact GELU)",
    "act.blocks.0.normK.x / .gate": "(block 0 only) AdaLN-LoRA outputs: modulated LayerNorm(x) [B,N,D] and gate ([B,N,D] for 5-D "
                                    "timesteps, [B,1,D] for 1-D)",
    "act.blocks.0.attnK.norm_q / norm_k": "(block 0 only) per-head RMSNorm outputs [B,heads,S,head_dim] (before RoPE)",
    "act.blocks.0.attn1 / attn2 / ff": "(block 0 only) sub-layer outputs [B,N,D] before the gate",
    "act.blocks.i.out": "every block's output [B,N,D]",
    "act.norm_out": "final AdaLN output [B,N,D]",
    "act.proj_out": "[B,N,p_h*p_w*p_t*C_out], feature order (p_h, p_w, p_t, C)",
    "out.sample": "[B,16,T,H,W] model output (velocity)",
}


def run_case(model, name, batch):
    seed, inputs = case_inputs(name, batch)
    store = {}
    handles = _hook_all(model, store)
    try:
        with torch.no_grad():
            out = model(**inputs, return_dict=False)[0]
    finally:
        for h in handles:
            h.remove()
    tensors = {f"in.{k_}": v for k_, v in inputs.items() if torch.is_tensor(v)}
    tensors.update(store)
    tensors["out.sample"] = out
    for k_, v in tensors.items():
        assert torch.isfinite(v).all(), (name, k_)
    scalars = {k_: v for k_, v in inputs.items() if not torch.is_tensor(v)}
    return seed, tensors, scalars


def _config_json(model):
    cfg = {k: v for k, v in model.config.items() if not k.startswith("_")}
    return json.loads(json.dumps(cfg))


def main():
    common.deterministic()
    out_dir = common.fixture_dir("dit")
    for f in os.listdir(out_dir):  # a clean folder: nothing stale survives a regeneration
        os.remove(os.path.join(out_dir, f))

    model = build_tiny_dit(DIT_SEED)
    perturbed = common.norm_param_names(model)
    expected = {n for n, _ in model.named_parameters() if n.endswith(("norm_q.weight", "norm_k.weight"))}
    expected.add("time_embed.norm.weight")
    assert set(perturbed) == expected, set(perturbed) ^ expected

    # diffusers layout
    model.save_pretrained(out_dir, safe_serialization=True)
    assert sorted(os.listdir(out_dir)) == ["config.json", "diffusion_pytorch_model.safetensors"]
    model_rope = build_tiny_dit(DIT_SEED, rope_scale=(2.0, 3.0, 3.0))
    for (n1, p1), (n2, p2) in zip(model.state_dict().items(), model_rope.state_dict().items()):
        assert n1 == n2 and torch.equal(p1, p2)
    with open(os.path.join(out_dir, "config.json")) as f:
        cfg_rope = json.load(f)
    cfg_rope["rope_scale"] = [2.0, 3.0, 3.0]
    with open(os.path.join(out_dir, "config_rope_t2.json"), "w") as f:  # same layout as save_pretrained's
        f.write(json.dumps(cfg_rope, indent=2, sort_keys=True) + "\n")
    # reload check without from_pretrained (it needs `accelerate` for this class: _keep_in_fp32_modules)
    from diffusers import CosmosTransformer3DModel
    from safetensors.torch import load_file

    with open(os.path.join(out_dir, "config.json")) as f:
        reloaded = CosmosTransformer3DModel.from_config(json.load(f))
    reloaded.load_state_dict(load_file(os.path.join(out_dir, "diffusion_pytorch_model.safetensors")), strict=True)
    for k, v in model.state_dict().items():
        assert torch.equal(reloaded.state_dict()[k], v), k

    # native layout (.pt, torch zip pickle)
    native_files = {}
    for tag, dtype in (("fp32", torch.float32), ("bf16", torch.bfloat16)):
        path = os.path.join(out_dir, f"tiny_ema_{tag}.pt")
        common.save_torch_pickle(path, native_state_dict(model, dtype), archive_name=f"model_ema_{tag}")
        native_files[tag] = {"file": os.path.basename(path), "entries": check_native(path, model, dtype),
                             "zip_prefix": f"model_ema_{tag}/"}
    nat32 = native_state_dict(model)
    key_map = native_key_map(model.config.num_layers)
    common.save_json(os.path.join(out_dir, "keys.json"), {
        "diffusers": [[k, list(v.shape), str(v.dtype).removeprefix("torch.")] for k, v in model.state_dict().items()],
        "native": [[k, list(v.shape), str(v.dtype).removeprefix("torch.")] for k, v in nat32.items()],
        "native_to_diffusers": {n: d for d, n in key_map},
        "native_ignored": [k for k in nat32 if k not in {n for _, n in key_map}],
    }, inline_lists=True)

    # cases
    cases = {}
    for name, batch, desc in CASES:
        m = model_rope if name == "rope_t2" else model
        seed, tensors, scalars = run_case(m, name, batch)
        fname = f"{name}.safetensors"
        common.save_tensors(os.path.join(out_dir, fname), tensors)
        cases[name] = {
            "file": fname,
            "description": desc,
            "config": "config_rope_t2.json" if name == "rope_t2" else "config.json",
            "input_seed": seed,
            "inputs_as_in": INPUTS_FROM.get(name),
            "forward_kwargs": scalars,
            "tensors": {k_: list(v.shape) for k_, v in sorted(tensors.items())},
            "out_sample_absmax": round(float(tensors["out.sample"].abs().max()), 6),
        }
    # consistency: a uniform 5-D timestep is the same as the 1-D timestep (t2w inputs)
    _, inp = case_inputs("t2w", 1)
    with torch.no_grad():
        a = model(**inp, return_dict=False)[0]
        inp["timestep"] = inp["timestep"].flatten()[:1]
        b = model(**inp, return_dict=False)[0]
    assert torch.allclose(a, b, atol=1e-5, rtol=0), (a - b).abs().max()
    info = {
        "what": "Cosmos-Predict2.5 DiT (diffusers CosmosTransformer3DModel, 2.5 flags), tiny random weights, fp32",
        "generator": "tests/reference/gen_dit.py",
        "config": _config_json(model),
        "weights_seed": DIT_SEED,
        "weights_init": "Linear weights N(0, 1/fan_in); crossattn_proj.0.bias N(0, 0.01); norm weights "
                        "1 + 0.1*N(0,1) (common.perturb_norms, after the Linear init)",
        "norm_params_perturbed": perturbed,
        "weights": {
            "diffusers": ["config.json", "diffusion_pytorch_model.safetensors"],
            "native": native_files,
            "native_format": "torch.save zip (pickle protocol 2) of a plain dict {str: Tensor}, keys 'net.*', "
                             "module registration order; bf16 file: every float32 tensor cast to bf16, int64 "
                             "counters kept; `*._extra_state` are empty tensors; pos_embedder.* and accum_* are "
                             "buffers to ignore. Zip folder prefix differs from the file name (as after a rename).",
            "keys": "keys.json",
        },
        "shapes": {"latent": [B_LAT, 16, T_LAT, H_LAT, W_LAT], "padding_mask_px": [1, 1, H_PX, W_PX],
                   "text_len": TEXT_LEN, "tokens": T_LAT * (H_LAT // 2) * (W_LAT // 2)},
        "activations": ACT_DOC,
        "cases": cases,
        "tolerances": {
            "fp32": {"per_op_and_norm": {"atol": 1e-5, "rtol": 1e-4},
                     "per_block": {"atol": 1e-4, "rtol": 1e-4},
                     "out_sample": {"atol": 1e-4, "rtol": 1e-4}},
            "bf16": "only against these fp32 values: relative L2 error < 1e-2 per block and cosine > 0.999",
        },
        "versions": common.versions(),
    }
    common.save_json(os.path.join(out_dir, "dit.json"), info, inline_lists=True)
    total = sum(os.path.getsize(os.path.join(out_dir, f)) for f in os.listdir(out_dir))
    print(f"dit: {len(os.listdir(out_dir))} files, {total} bytes")
    assert total < 8 * 1000 * 1000, "DiT fixture share is 8 MB"
    import check_dit_spec  # the written spec (diffusers-reference.md section 3) must reproduce every case

    check_dit_spec.main()


if __name__ == "__main__":
    main()
