"""Noise fixtures: numpy legacy RandomState(seed).standard_normal, and what the pipelines draw from a seed.

Writes tests/fixtures/noise/{noise.safetensors, noise.json}.

The native Cosmos-Predict2.5 sampler (cosmos-reference.md §3.1 "Initial noise and seed") draws its initial
latents as `numpy.random.RandomState(seed).standard_normal(shape).astype(float32)` (C order). That is the
generator the C engine documents, so it is fixed here bit-exactly (float64 and the float32 cast), together
with the raw MT19937 words and 53-bit doubles it is built from. A small pure-Python model of the generator
(written from the algorithm description in tests/fixtures/noise/README.md, not from numpy's source) is
checked against numpy on every case, so the README's description is verified, not assumed.

diffusers' Cosmos2_5_PredictBasePipeline instead calls `randn_tensor` (torch's CPU generator) when no
`latents=` are passed. Those values are recorded too (`torch_randn.*`), but C is not expected to reproduce
them; the pipeline fixtures always pass numpy-drawn latents explicitly.
"""
import hashlib
import math
import os
import sys

import numpy as np
import torch
from safetensors.torch import save_file

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from common import deterministic, fixture_dir, save_json, versions  # noqa: E402

SEEDS = [0, 1, 42, 2**31 - 1]
# (16,): one latent pixel's channels; (7,): odd count, leaves a cached gauss behind;
# (1,16,4,6,8): the latent of a 13-frame 48x64 clip, the tiny pipeline fixtures' shape.
SHAPES = [(16,), (7,), (1, 16, 4, 6, 8)]
# The real 2B default canvas (93 frames, 704x1280): too big to store, fixed by hash and a few values.
BIG_SHAPE = (1, 16, 24, 88, 160)


# ---------------------------------------------------------------------------------------------------------
# Independent model of numpy's legacy generator (MT19937 + 53-bit doubles + polar Box-Muller with caching).
# ---------------------------------------------------------------------------------------------------------
class LegacyNormal:
    N, M = 624, 397

    def __init__(self, seed):
        s = seed & 0xFFFFFFFF
        mt = [0] * self.N
        mt[0] = s
        for i in range(1, self.N):
            mt[i] = (1812433253 * (mt[i - 1] ^ (mt[i - 1] >> 30)) + i) & 0xFFFFFFFF
        self.mt, self.pos = mt, self.N
        self.has_gauss, self.cached = False, 0.0

    def _twist(self):
        mt, n, m = self.mt, self.N, self.M
        for i in range(n):
            y = (mt[i] & 0x80000000) | (mt[(i + 1) % n] & 0x7FFFFFFF)
            v = mt[(i + m) % n] ^ (y >> 1)
            if y & 1:
                v ^= 0x9908B0DF
            mt[i] = v
        self.pos = 0

    def next_u32(self):
        if self.pos >= self.N:
            self._twist()
        y = self.mt[self.pos]
        self.pos += 1
        y ^= y >> 11
        y ^= (y << 7) & 0x9D2C5680
        y ^= (y << 15) & 0xEFC60000
        y ^= y >> 18
        return y & 0xFFFFFFFF

    def next_double(self):
        a = self.next_u32() >> 5
        b = self.next_u32() >> 6
        return (a * 67108864.0 + b) / 9007199254740992.0

    def gauss(self):
        if self.has_gauss:
            self.has_gauss = False
            return self.cached
        while True:
            x1 = 2.0 * self.next_double() - 1.0
            x2 = 2.0 * self.next_double() - 1.0
            r2 = x1 * x1 + x2 * x2
            if r2 < 1.0 and r2 != 0.0:
                break
        f = math.sqrt(-2.0 * math.log(r2) / r2)
        self.cached = f * x1
        self.has_gauss = True
        return f * x2

    def standard_normal(self, n):
        return np.array([self.gauss() for _ in range(n)], dtype=np.float64)


def sha256(a):
    return hashlib.sha256(np.ascontiguousarray(a).tobytes()).hexdigest()


def name_of(shape):
    return "x".join(str(d) for d in shape)


def main():
    deterministic()
    out = fixture_dir("noise")
    tensors = {}
    cases = []

    # 1. standard_normal for each seed and shape, float64 and the float32 cast (arch_invariant_rand).
    for s in SEEDS:
        for shape in SHAPES:
            a = np.random.RandomState(s).standard_normal(shape)
            assert a.dtype == np.float64
            model = LegacyNormal(s).standard_normal(int(np.prod(shape))).reshape(shape)
            assert np.array_equal(a.view(np.uint64), model.view(np.uint64)), (s, shape)
            k = f"standard_normal.seed{s}.{name_of(shape)}"
            tensors[k + ".f64"] = torch.from_numpy(a.copy())
            tensors[k + ".f32"] = torch.from_numpy(a.astype(np.float32))
            cases.append({"name": k, "seed": s, "shape": list(shape),
                          "call": f"np.random.RandomState({s}).standard_normal({tuple(shape)})",
                          "f32": "the f64 array .astype(np.float32) (round to nearest even)"})

    # 2. The building blocks: raw MT19937 words (1300: crosses two regenerations of the 624-word state)
    #    and 53-bit doubles. Stored as int64 (the uint32 value) and float64.
    for s in [0, 2**31 - 1]:
        rs = np.random.RandomState(s)
        words = rs.randint(0, 2**32, size=1300, dtype=np.uint64)  # full 32-bit range: one word per value
        m = LegacyNormal(s)
        mw = np.array([m.next_u32() for _ in range(1300)], dtype=np.uint64)
        assert np.array_equal(words, mw), s
        tensors[f"mt19937.seed{s}.u32_as_i64"] = torch.from_numpy(words.astype(np.int64))
        d = np.random.RandomState(s).random_sample(16)
        m = LegacyNormal(s)
        md = np.array([m.next_double() for _ in range(16)])
        assert np.array_equal(d.view(np.uint64), md.view(np.uint64)), s
        tensors[f"random_sample.seed{s}.16.f64"] = torch.from_numpy(d)
    # randint(0, 2**32, dtype=uint64) draws a masked 32-bit value; the mask is all ones, so each value is
    # exactly one tempered MT19937 output. Checked above against the model's next_u32.

    # 3. Sequential calls on one RandomState: the cached second gauss carries over between calls.
    rs = np.random.RandomState(42)
    a5 = rs.standard_normal(5)
    a3 = rs.standard_normal(3)
    both = np.random.RandomState(42).standard_normal(8)
    assert np.array_equal(np.concatenate([a5, a3]), both)
    tensors["sequential.seed42.first5.f64"] = torch.from_numpy(a5)
    tensors["sequential.seed42.next3.f64"] = torch.from_numpy(a3)

    # 4. The full-size default canvas (not stored): hashes and the first / last values.
    big = np.random.RandomState(0).standard_normal(BIG_SHAPE)
    big32 = big.astype(np.float32)
    flat = big.reshape(-1)
    m = LegacyNormal(0)
    head = m.standard_normal(32)
    assert np.array_equal(head.view(np.uint64), flat[:32].view(np.uint64))
    big_info = {
        "seed": 0, "shape": list(BIG_SHAPE), "count": int(flat.size),
        "sha256_f64_le": sha256(big), "sha256_f32_le": sha256(big32),
        "first16_f64_hex": [float(x).hex() for x in flat[:16]],
        "last16_f64_hex": [float(x).hex() for x in flat[-16:]],
        "sum_f64": float(np.sum(flat, dtype=np.float64)).hex(),
        "note": "the 704x1280, 93-frame (24 latent frames) 2B default; RandomState(0).standard_normal(shape)",
    }

    # 5. What diffusers' pipeline would draw if no latents= were given: randn_tensor with a CPU
    #    torch.Generator seeded like the docs' example (torch.Generator().manual_seed(seed)).
    from diffusers.utils.torch_utils import randn_tensor

    torch_cases = []
    for s in [0, 1]:
        g = torch.Generator(device="cpu").manual_seed(s)
        t = randn_tensor((1, 16, 4, 6, 8), generator=g, device=torch.device("cpu"), dtype=torch.float32)
        tensors[f"torch_randn.seed{s}.1x16x4x6x8.f32"] = t
        torch_cases.append({"name": f"torch_randn.seed{s}.1x16x4x6x8.f32", "seed": s,
                            "call": "diffusers.utils.torch_utils.randn_tensor((1,16,4,6,8), "
                                    f"generator=torch.Generator('cpu').manual_seed({s}), dtype=float32)"})

    path = os.path.join(out, "noise.safetensors")
    save_file({k: tensors[k].contiguous() for k in sorted(tensors)}, path)

    meta = {
        "fixture": "noise",
        "generator": "tests/reference/gen_noise.py",
        "versions": versions(),
        "source": "cosmos-reference.md §3.1 'Initial noise and seed' (arch_invariant_rand); "
                  "diffusers-reference.md §6 (latents drawn by randn_tensor unless passed)",
        "standard_normal_cases": cases,
        "mt19937": {
            "u32_as_i64": "first 1300 tempered MT19937 outputs after RandomState(seed) (init_genrand), "
                          "as int64 holding the uint32 value",
            "random_sample": "first 16 doubles of RandomState(seed).random_sample(): (a>>5, b>>6) -> "
                             "(a*2^26 + b) / 2^53",
        },
        "sequential": "RandomState(42): standard_normal(5) then standard_normal(3) equals standard_normal(8) "
                      "from a fresh state; the odd 5th call leaves a cached gauss used by the next call",
        "big_canvas": big_info,
        "torch_randn": torch_cases,
        "pipeline_seed_to_latents": {
            "native": "latents = np.random.RandomState(seed).standard_normal((B,16,T,H/8,W/8)).astype(float32), "
                      "C order; no scaling by sigma_0 (cosmos-reference §3.1)",
            "diffusers": "randn_tensor(shape, generator, dtype=float32) with a torch.Generator when latents= is "
                         "None (torch's RNG; not reproduced in C). NVIDIA's diffusers example scripts pass "
                         "latents from arch_invariant_rand instead; our pipeline fixtures do the same.",
        },
        "tolerance": "exact: f64 bit-identical; f32 bit-identical to the round-to-nearest cast of the f64",
        "dtypes": {k: str(tensors[k].dtype).replace("torch.", "") for k in sorted(tensors)},
        "shapes": {k: list(tensors[k].shape) for k in sorted(tensors)},
    }
    save_json(os.path.join(out, "noise.json"), meta)
    print("noise:", len(tensors), "tensors,", os.path.getsize(path), "bytes")


if __name__ == "__main__":
    main()
