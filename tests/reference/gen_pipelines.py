"""End-to-end Cosmos2_5_PredictBasePipeline fixtures with the tiny components (diffusers-reference.md §6, §7.8).

Writes tests/fixtures/pipelines/{pipelines.safetensors, pipelines.json}.

Text2World, Image2World and Video2World at 48x64, 13 frames (latent [1,16,4,6,8]), 4 UniPC steps on the
Cosmos-2.5 Karras schedule, guidance 7, max_sequence_length 64, fp32 on CPU. The initial latents are drawn
with the documented generator (numpy RandomState(seed).standard_normal(...).astype(float32), see
tests/fixtures/noise) and passed as `latents=`, so torch's RNG is never used. Recorded per mode: the initial
latents, cond_latents / cond_mask / cond_indicator / gt_velocity, each transformer call's inputs and output
(2 per step: positive then negative prompt), the guided velocity handed to the scheduler, the latents after
each step (callback_on_step_end), the VAE decode input and the decoded [-1, 1] video.

The tiny components are built by the sibling generators with their fixed seeds (gen_dit.build_tiny_dit,
gen_vae.build_tiny_vae, gen_text.build_tiny_text_encoder / load_tokenizer), so the weights are the ones in
tests/fixtures/{dit,vae,text}/; a sha256 of each state dict is recorded and compared with those files.

Safety checker: diffusers raises if it is None and its real one needs `cosmos_guardrail`. A stand-in object
(StandInSafetyChecker below: text always safe, video returned unchanged, `.to()` a no-op) is passed. Because it
is not an instance of the pipeline's CosmosSafetyChecker, the pipeline skips the uint8 round trip of the video
in postprocessing, so the output is exactly (decoded / 2 + 0.5).clamp(0, 1).
"""
import hashlib
import os
import sys

import numpy as np
import torch

_HERE = os.path.dirname(os.path.abspath(__file__))
if _HERE not in sys.path:
    sys.path.insert(0, _HERE)
from common import deterministic, fixture_dir, save_json, save_tensors, versions  # noqa: E402
from gen_schedulers import CONFIG_B  # noqa: E402

HEIGHT, WIDTH, NUM_FRAMES = 48, 64, 13
STEPS = 4
GUIDANCE = 7.0
MAX_SEQ = 64
CONDITIONAL_FRAME_TIMESTEP = 0.0001  # the pipeline default (v0.39+)
PROMPT = "A red cube slides across a wooden table while the camera pans left."
NOISE_SEEDS = {"t2w": 0, "i2w": 1, "v2w": 2}  # numpy RandomState seeds of the initial latents
IMAGE_SEED = 30
VIDEO_SEED = 31
V2W_INPUT_FRAMES = 7  # more than the 5 kept, so "take the last 4*(n-1)+1 frames" is exercised
V2W_LATENT_COND = 2


class StandInSafetyChecker:
    """Offline stand-in for cosmos_guardrail's checker: accepts every prompt, returns the video unchanged."""

    def to(self, *args, **kwargs):
        return self

    def check_text_safety(self, prompt):
        return True

    def check_video_safety(self, video):
        return video


def synthetic_image(seed, t=0.0):
    """A deterministic uint8 HxWx3 picture: gradients, a bright square that moves with t, mild noise."""
    rs = np.random.RandomState(seed)
    y, x = np.mgrid[0:HEIGHT, 0:WIDTH].astype(np.float64)
    r = 0.5 + 0.5 * np.sin(x / WIDTH * 2 * np.pi + t)
    g = y / (HEIGHT - 1)
    b = 0.5 + 0.5 * np.cos((x + y) / 17.0 - t)
    img = np.stack([r, g, b], axis=-1)
    x0 = int(8 + 6 * t)
    img[12:28, x0:x0 + 16, :] = [0.95, 0.9, 0.2]
    img = img + 0.04 * rs.standard_normal(img.shape)
    return np.clip(np.round(img * 255.0), 0, 255).astype(np.uint8)


def synthetic_video(seed, n):
    return np.stack([synthetic_image(seed + k, t=0.5 * k) for k in range(n)], axis=0)


def content_sha256(tensors):
    """Name-independent digest of a set of tensors (sorted per-tensor sha256 of shape, dtype and bytes), so
    a module's state dict and its save_pretrained file compare equal even where key layouts differ."""
    per = []
    for v in tensors:
        v = v.detach().cpu().contiguous()
        h = hashlib.sha256(f"{tuple(v.shape)}{v.dtype}".encode())
        h.update(v.numpy().tobytes())
        per.append(h.hexdigest())
    return hashlib.sha256("".join(sorted(per)).encode()).hexdigest()


def file_content_sha256(path):
    """content_sha256 over a saved safetensors file (missing file -> None)."""
    if not os.path.exists(path):
        return None
    from safetensors.torch import load_file

    return content_sha256(load_file(path).values())


def build_pipeline():
    from diffusers import Cosmos2_5_PredictBasePipeline, UniPCMultistepScheduler
    from gen_dit import build_tiny_dit
    from gen_text import build_tiny_text_encoder, load_tokenizer
    from gen_vae import build_tiny_vae

    dit = build_tiny_dit()
    vae = build_tiny_vae()
    te = build_tiny_text_encoder()
    tok = load_tokenizer()
    pipe = Cosmos2_5_PredictBasePipeline(
        text_encoder=te, tokenizer=tok, transformer=dit, vae=vae,
        scheduler=UniPCMultistepScheduler(**CONFIG_B), safety_checker=StandInSafetyChecker())
    pipe.set_progress_bar_config(disable=True)
    return pipe


class Recorder:
    """Wraps the pipeline's transformer, scheduler.step, prepare_latents and vae.encode/decode for one run."""

    def __init__(self, pipe):
        self.pipe = pipe
        self.calls, self.steps, self.cb = [], [], []
        self.prep = None
        self.enc_in, self.dec_in, self.dec_out = [], [], []
        self.handles = []
        self.saved = {}

    def __enter__(self):
        p = self.pipe

        def pre(mod, args, kwargs):
            self.calls.append({k: (v.detach().clone() if torch.is_tensor(v) else v) for k, v in kwargs.items()})

        def post(mod, args, kwargs, out):
            o = out[0] if isinstance(out, (tuple, list)) else out.sample
            self.calls[-1]["output"] = o.detach().clone()

        self.handles.append(p.transformer.register_forward_pre_hook(pre, with_kwargs=True))
        self.handles.append(p.transformer.register_forward_hook(post, with_kwargs=True))

        for obj, name, fn in ((p.scheduler, "step", self._step), (p, "prepare_latents", self._prep),
                              (p.vae, "encode", self._enc), (p.vae, "decode", self._dec)):
            self.saved[(id(obj), name)] = (obj, name, getattr(obj, name))
            setattr(obj, name, fn)
        return self

    def __exit__(self, *exc):
        for h in self.handles:
            h.remove()
        for obj, name, _ in self.saved.values():
            delattr(obj, name)  # drops the instance attribute; the class method is visible again
        return False

    def _orig(self, obj, name):
        return self.saved[(id(obj), name)][2]

    def _step(self, model_output, timestep, sample, return_dict=True):
        out = self._orig(self.pipe.scheduler, "step")(model_output, timestep, sample, return_dict=return_dict)
        prev = out[0] if isinstance(out, tuple) else out.prev_sample
        self.steps.append({"velocity": model_output.detach().clone(), "timestep": int(timestep),
                           "sample_in": sample.detach().clone(), "sample_out": prev.detach().clone()})
        return out

    def _prep(self, *args, **kwargs):
        out = self._orig(self.pipe, "prepare_latents")(*args, **kwargs)
        self.prep = [t.detach().clone() for t in out]
        return out

    def _enc(self, x, *args, **kwargs):
        self.enc_in.append(x.detach().clone())
        return self._orig(self.pipe.vae, "encode")(x, *args, **kwargs)

    def _dec(self, z, *args, **kwargs):
        self.dec_in.append(z.detach().clone())
        out = self._orig(self.pipe.vae, "decode")(z, *args, **kwargs)
        self.dec_out.append((out[0] if isinstance(out, tuple) else out.sample).detach().clone())
        return out

    def callback(self, pipe, i, t, kw):
        self.cb.append(kw["latents"].detach().clone())
        return {}


def expected_encode_input(mode, image_u8=None, video_u8=None):
    """The VAE input the notes describe (diffusers-reference §6), rebuilt independently, [1,3,T,H,W] in [-1,1]."""
    if mode == "i2w":
        first = torch.from_numpy(image_u8).permute(2, 0, 1).float() / 255.0  # torchvision to_tensor
        frames = torch.cat([first[None], torch.zeros(NUM_FRAMES - 1, 3, HEIGHT, WIDTH)], dim=0)
    else:
        keep = 4 * (V2W_LATENT_COND - 1) + 1
        v = torch.from_numpy(video_u8[-keep:]).permute(0, 3, 1, 2).float() / 255.0
        frames = torch.cat([v, v[-1:].repeat(NUM_FRAMES - keep, 1, 1, 1)], dim=0)
    x = frames * 2.0 - 1.0
    return x.permute(1, 0, 2, 3)[None]


def run_mode(pipe, mode, image_u8=None, video_u8=None):
    from PIL import Image

    shape = (1, 16, (NUM_FRAMES - 1) // 4 + 1, HEIGHT // 8, WIDTH // 8)
    latents0 = torch.from_numpy(np.random.RandomState(NOISE_SEEDS[mode]).standard_normal(shape).astype(np.float32))
    kw = dict(prompt=PROMPT, negative_prompt=None, height=HEIGHT, width=WIDTH, num_frames=NUM_FRAMES,
              num_inference_steps=STEPS, guidance_scale=GUIDANCE, max_sequence_length=MAX_SEQ,
              conditional_frame_timestep=CONDITIONAL_FRAME_TIMESTEP, latents=latents0.clone(),
              output_type="pt", return_dict=False, callback_on_step_end_tensor_inputs=["latents"])
    if mode == "i2w":
        kw["image"] = Image.fromarray(image_u8, mode="RGB")
    elif mode == "v2w":
        kw["video"] = [Image.fromarray(f, mode="RGB") for f in video_u8]
        kw["num_latent_conditional_frames"] = V2W_LATENT_COND
    with Recorder(pipe) as rec:
        frames = pipe(callback_on_step_end=rec.callback, **kw)[0]

    T = {}
    lat, cond_lat, cond_mask, cond_ind = rec.prep
    assert torch.equal(lat, latents0)
    T["latents.init"] = latents0
    T["cond_latents"] = cond_lat
    T["cond_mask"] = cond_mask
    T["cond_indicator"] = cond_ind
    T["gt_velocity"] = (lat - cond_lat) * cond_mask
    n_cond = int(cond_ind.sum().item())
    assert len(rec.calls) == 2 * STEPS and len(rec.steps) == STEPS and len(rec.cb) == STEPS
    sig = pipe.scheduler.sigmas
    embeds = {}
    for i in range(STEPS):
        cpos, cneg = rec.calls[2 * i], rec.calls[2 * i + 1]
        for k in ("hidden_states", "condition_mask", "timestep", "padding_mask"):
            assert torch.equal(cpos[k], cneg[k]), k
        expect_t = cond_ind * CONDITIONAL_FRAME_TIMESTEP + (1 - cond_ind) * sig[i].view(1, 1, 1, 1, 1)
        assert torch.equal(cpos["timestep"], expect_t)
        assert torch.equal(cpos["condition_mask"], cond_mask)
        T[f"step{i}.transformer_in"] = cpos["hidden_states"]
        T[f"step{i}.timestep_in"] = cpos["timestep"]
        T[f"step{i}.out_pos"] = cpos["output"]
        T[f"step{i}.out_neg"] = cneg["output"]
        T[f"step{i}.velocity"] = rec.steps[i]["velocity"]
        T[f"step{i}.latents"] = rec.cb[i]
        assert torch.equal(rec.steps[i]["sample_out"], rec.cb[i])
        # CFG as the notes state it: v = v_c + w (v_c - v_u), with gt velocity on conditioned frames
        gt = T["gt_velocity"]
        vc = gt + cpos["output"] * (1 - cond_mask)
        vu = gt + cneg["output"] * (1 - cond_mask)
        assert torch.equal(vc + GUIDANCE * (vc - vu), rec.steps[i]["velocity"])
        embeds.setdefault("pos", cpos["encoder_hidden_states"])
        embeds.setdefault("neg", cneg["encoder_hidden_states"])
        assert torch.equal(embeds["pos"], cpos["encoder_hidden_states"])
        assert torch.equal(embeds["neg"], cneg["encoder_hidden_states"])
        assert torch.count_nonzero(cpos["padding_mask"]) == 0
    if mode == "t2w":
        assert not rec.enc_in and n_cond == 0
    else:
        assert len(rec.enc_in) == 1
        assert torch.equal(rec.enc_in[0], expected_encode_input(mode, image_u8, video_u8)), "VAE input rule"
    assert len(rec.dec_in) == 1
    mean = torch.tensor(pipe.vae.config.latents_mean).view(1, 16, 1, 1, 1)
    inv_std = 1.0 / torch.tensor(pipe.vae.config.latents_std).view(1, 16, 1, 1, 1)
    assert torch.equal(rec.dec_in[0], rec.cb[-1] / inv_std + mean)
    T["vae_decode_in"] = rec.dec_in[0]
    T["video_decoded"] = rec.dec_out[0]
    assert torch.equal(frames, (rec.dec_out[0] / 2 + 0.5).clamp(0, 1).permute(0, 2, 1, 3, 4))
    info = {
        "noise_seed": NOISE_SEEDS[mode],
        "latents_init": f"np.random.RandomState({NOISE_SEEDS[mode]}).standard_normal({shape}).astype(float32)",
        "num_conditioned_latent_frames": n_cond,
        "scheduler_timesteps": [s["timestep"] for s in rec.steps],
        "sigmas": [float(v) for v in sig],
        "decoded_min": float(rec.dec_out[0].min()), "decoded_max": float(rec.dec_out[0].max()),
        "decoded_clamped_fraction": float((rec.dec_out[0].abs() >= 1.0).float().mean()),
        "final_latents_abs_max": float(rec.cb[-1].abs().max()),
    }
    return T, info, embeds


def main():
    deterministic()
    out = fixture_dir("pipelines")
    pipe = build_pipeline()
    image_u8 = synthetic_image(IMAGE_SEED)
    video_u8 = synthetic_video(VIDEO_SEED, V2W_INPUT_FRAMES)

    T = {"input.image_u8": torch.from_numpy(image_u8), "input.video_u8": torch.from_numpy(video_u8)}
    meta = {
        "fixture": "pipelines", "generator": "tests/reference/gen_pipelines.py", "versions": versions(),
        "pipeline": "diffusers.Cosmos2_5_PredictBasePipeline",
        "settings": {"height": HEIGHT, "width": WIDTH, "num_frames": NUM_FRAMES, "num_inference_steps": STEPS,
                     "guidance_scale": GUIDANCE, "max_sequence_length": MAX_SEQ, "prompt": PROMPT,
                     "negative_prompt": "None -> the pipeline's DEFAULT_NEGATIVE_PROMPT (truncated to 64 tokens)",
                     "conditional_frame_timestep": CONDITIONAL_FRAME_TIMESTEP,
                     "v2w_num_latent_conditional_frames": V2W_LATENT_COND, "v2w_input_frames": V2W_INPUT_FRAMES,
                     "image_seed": IMAGE_SEED, "video_seed": VIDEO_SEED, "output_type": "pt"},
        "scheduler_config": {k: v for k, v in pipe.scheduler.config.items() if not k.startswith("_")},
        "safety_checker": "StandInSafetyChecker (plain object; text always safe, video unchanged); the "
                          "pipeline's uint8 round trip is skipped because it is not a CosmosSafetyChecker",
        "modes": {},
    }
    comps = {"transformer": (pipe.transformer, "dit/diffusion_pytorch_model.safetensors"),
             "vae": (pipe.vae, "vae/diffusion_pytorch_model.safetensors"),
             "text_encoder": (pipe.text_encoder, "text/text_encoder/model.safetensors")}
    meta["components"] = {}
    for name, (mod, rel) in comps.items():
        mine = content_sha256(mod.state_dict().values())
        theirs = file_content_sha256(os.path.join(out, "..", rel))
        meta["components"][name] = {"fixture_file": "tests/fixtures/" + rel, "content_sha256": mine,
                                    "matches_fixture_file": (None if theirs is None else theirs == mine),
                                    "class": type(mod).__name__}
    embeds_all = None
    for mode in ("t2w", "i2w", "v2w"):
        t, info, embeds = run_mode(pipe, mode, image_u8, video_u8)
        for k, v in t.items():
            T[f"{mode}.{k}"] = v
        meta["modes"][mode] = info
        if embeds_all is None:
            embeds_all = embeds
        assert torch.equal(embeds_all["pos"], embeds["pos"]) and torch.equal(embeds_all["neg"], embeds["neg"])
    T["prompt_embeds"] = embeds_all["pos"]
    T["negative_prompt_embeds"] = embeds_all["neg"]
    T["padding_mask"] = torch.zeros(1, 1, HEIGHT, WIDTH)

    path = os.path.join(out, "pipelines.safetensors")
    save_tensors(path, T)
    meta["shapes"] = {k: list(T[k].shape) for k in sorted(T)}
    meta["dtypes"] = {k: str(T[k].dtype).replace("torch.", "") for k in sorted(T)}
    meta["tolerances"] = {"transformer_out": "1e-4 abs (tiny DiT, fp32)", "velocity": "1e-3 abs (x8 CFG)",
                          "latents_per_step": "1e-3 abs", "video_decoded": "1e-3 abs",
                          "cond_latents": "1e-4 abs (VAE encode)", "masks_timesteps": "exact"}
    save_json(os.path.join(out, "pipelines.json"), meta)
    print("pipelines:", len(T), "tensors,", os.path.getsize(path), "bytes")


if __name__ == "__main__":
    main()
