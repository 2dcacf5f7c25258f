"""Shared helpers for the fixture generators in tests/reference/ (never used by the build or CI).

Every generator is deterministic: one CPU thread, deterministic algorithms, a fixed seed per object,
and every random tensor saved (C never reproduces torch's RNG). Fixtures are fp32 safetensors plus
one JSON per fixture; `manifest.json` in tests/fixtures/ lists them with the versions that made them.
"""
import json
import os
import random

import numpy as np
import torch
from safetensors.torch import save_file

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
FIXTURES = os.path.join(REPO, "tests", "fixtures")


def deterministic():
    """One thread and deterministic kernels, so the same machine kind regenerates identical bytes."""
    torch.set_num_threads(1)
    torch.use_deterministic_algorithms(True)
    torch.manual_seed(0)
    np.random.seed(0)
    random.seed(0)


def seed(n):
    """Seeds torch (and numpy) before building one object; record n in the fixture JSON."""
    torch.manual_seed(n)
    np.random.seed(n)
    return n


def norm_param_names(module):
    """Names (in named_parameters order) of the parameters that belong directly to a normalisation module:
    any submodule whose class name contains "norm" (RMSNorm, LayerNorm, GroupNorm, WanRMS_norm, Qwen2RMSNorm,
    ...). Linear layers that merely live under a module *named* norm* (the AdaLN-LoRA `norm1.linear_1` of the
    Cosmos DiT, `norm_out.linear_2`) are not norm parameters and are excluded."""
    owned = set()
    for mod_name, mod in module.named_modules():
        if "norm" in type(mod).__name__.lower():
            for p_name, _ in mod.named_parameters(recurse=False):
                owned.add(f"{mod_name}.{p_name}" if mod_name else p_name)
    return [n for n, _ in module.named_parameters() if n in owned]


def perturb_norms(module, scale=0.1, bias_scale=0.05):
    """Moves every norm weight (and bias) away from its init so a missing multiply shows.

    Selection is by owning module class (see norm_param_names): weights/gammas become w * (1 + scale*N(0,1)),
    biases b + bias_scale*N(0,1), drawn from the global torch RNG in named_parameters order (seed first).
    """
    names = set(norm_param_names(module))
    with torch.no_grad():
        for name, p in module.named_parameters():
            if name not in names:
                continue
            if name.endswith("bias"):
                p.add_(bias_scale * torch.randn_like(p))
            else:
                p.mul_(1.0 + scale * torch.randn_like(p))
    return module


def fixture_dir(name):
    d = os.path.join(FIXTURES, name)
    os.makedirs(d, exist_ok=True)
    return d


def save_tensors(path, tensors, metadata=None):
    """fp32 contiguous tensors (ints kept as int32/int64) to safetensors, names sorted for stable bytes.

    The safetensors writer keeps `__metadata__` in a Rust HashMap, so two or more metadata keys come out in a
    random order on every run (checked: safetensors 0.8.0). To keep the bytes reproducible, metadata with more
    than one key is stored as a single key "json" holding json.dumps(metadata, sort_keys=True).
    """
    out = {}
    for k in sorted(tensors):
        t = tensors[k]
        if not torch.is_tensor(t):
            t = torch.as_tensor(np.asarray(t))
        t = t.detach().cpu()
        if t.is_floating_point():
            t = t.to(torch.float32)
        out[k] = t.contiguous()
    save_file(out, path, metadata=stable_metadata(metadata))


def stable_metadata(metadata):
    """safetensors metadata that serialises the same way every run (at most one key; values are strings)."""
    if not metadata:
        return {}
    if len(metadata) == 1:
        (k, v), = metadata.items()
        return {str(k): str(v)}
    return {"json": json.dumps({str(k): v for k, v in metadata.items()}, sort_keys=True)}


def save_torch_pickle(path, obj, archive_name="archive"):
    """torch.save (zip container, default pickle protocol 2) with a chosen archive prefix, byte-reproducible.

    torch.save names the zip's top folder after the file it writes to (`<stem>/data.pkl`, ...), so the object
    is saved to `<tmpdir>/<archive_name>.pt` and moved into place: the prefix is then independent of the final
    file name, as in released checkpoints that were renamed after saving. Checked for torch 2.14: every zip entry
    has the fixed 1980-01-01 timestamp, entries are stored (no compression), and `.data/serialization_id` is
    derived from the records' CRC32s and sizes, not random; the bytes are still compared against a second save.
    """
    import shutil
    import tempfile

    blobs = []
    with tempfile.TemporaryDirectory() as tmp:
        for i in range(2):
            p = os.path.join(tmp, str(i))
            os.makedirs(p)
            f = os.path.join(p, archive_name + ".pt")
            torch.save(obj, f)
            with open(f, "rb") as fh:
                blobs.append(fh.read())
        if blobs[0] != blobs[1]:
            raise RuntimeError("torch.save is not byte-reproducible in this environment")
        shutil.move(os.path.join(tmp, "0", archive_name + ".pt"), path)
    return path


def sha256_file(path):
    import hashlib

    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def save_json(path, obj, inline_lists=False):
    """indent 1, sorted keys. inline_lists=True writes every list that holds no dict or list of dicts on one
    line (shapes, key/shape/dtype rows), which keeps long key tables readable."""
    with open(path, "w") as f:
        if inline_lists:
            f.write(_dumps_inline(obj, 0))
        else:
            json.dump(obj, f, indent=1, sort_keys=True)
        f.write("\n")


def _dumps_inline(obj, level):
    pad, inner = " " * level, " " * (level + 1)

    def scalar(o):
        return not isinstance(o, (dict, list))

    def flat(o):  # a shape, or a row such as ["name", [64, 72], "float32"]; not a table of rows
        return isinstance(o, list) and all(scalar(x) or (isinstance(x, list) and all(map(scalar, x))) for x in o) \
            and not (o and all(isinstance(x, list) for x in o))

    if isinstance(obj, dict):
        if not obj:
            return "{}"
        items = [f"{inner}{json.dumps(str(k))}: {_dumps_inline(obj[k], level + 1)}" for k in sorted(obj)]
        return "{\n" + ",\n".join(items) + "\n" + pad + "}"
    if isinstance(obj, list) and obj and not flat(obj):
        items = [inner + _dumps_inline(x, level + 1) for x in obj]
        return "[\n" + ",\n".join(items) + "\n" + pad + "]"
    return json.dumps(obj, separators=(", ", ": "))


def versions():
    """Package versions of the reference environment (the manifest adds python and platform)."""
    import diffusers
    import PIL
    import safetensors
    import torchvision
    import transformers

    return {
        "torch": torch.__version__,
        "torchvision": torchvision.__version__,
        "diffusers": diffusers.__version__,
        "transformers": transformers.__version__,
        "safetensors": safetensors.__version__,
        "numpy": np.__version__,
        "pillow": PIL.__version__,
    }
