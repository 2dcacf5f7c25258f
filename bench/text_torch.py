"""bench/text_torch.py - the reference side of bench/run_text.sh: Hugging Face `tokenizers` and transformers.

prepare: writes, once, into bench/out/text/ the corpus (the repository's Markdown plus the fixture's hard
  strings, repeated to ~2 MB), the mid-size random Qwen2 encoder (8 layers, hidden 1024, 16/4 heads,
  intermediate 2816, vocab 4096; Qwen2ForCausalLM, so keys are `model.layers.*` as in released checkpoints)
  with its config.json, and 512 random input ids per config.
run: tokenizer MB/s (the real Qwen2 vocabulary of tests/fixtures/text/tokenizer/, built into a tokenizers
  Tokenizer exactly as tests/reference/gen_text.py builds the hub layout; one thread; the corpus as one
  string, no template), and the encoder's time (output_hidden_states, then the Cosmos per-layer
  normalisation and concatenation, as the pipeline does) for the tiny fixture model and the mid config, on
  the CPU with the given threads. Writes the ids' sha256 and each embedding (bench/out/text/torch_*.safetensors)
  so that bench_text can check agreement, and prints one JSON line per result.
"""

import hashlib
import json
import os
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
OUT = os.path.join(HERE, "out", "text")
FIX = os.path.join(ROOT, "tests", "fixtures", "text")
MID = dict(layers=8, hidden=1024, heads=16, kv=4, inter=2816, vocab=4096, tokens=512)


def corpus_path():
    return os.path.join(OUT, "corpus.txt")


def prepare():
    import torch
    from safetensors.torch import save_file
    from transformers import Qwen2Config, Qwen2ForCausalLM

    os.makedirs(OUT, exist_ok=True)
    parts = []
    for d, _, files in os.walk(ROOT):
        if any(x in d for x in ("/.git", "/build", "/.venv", "/out", "/fixtures/text/tokenizer")):
            continue
        for f in sorted(files):
            if f.endswith(".md"):
                with open(os.path.join(d, f), "rb") as fh:
                    parts.append(fh.read().decode("utf-8", "replace"))
    with open(os.path.join(FIX, "tokenizer_cases.json"), encoding="utf-8") as fh:
        cases = json.load(fh)["cases"]
    parts += [bytes.fromhex(c["utf8_hex"]).decode("utf-8") for c in cases]
    text = "\n".join(parts)
    while len(text.encode("utf-8")) < 2_000_000:
        text = text + "\n" + text
    data = text.encode("utf-8")[:2_000_000]
    data = data.decode("utf-8", "ignore").encode("utf-8")  # a cut inside a character is dropped
    with open(corpus_path(), "wb") as fh:
        fh.write(data)

    torch.manual_seed(7)
    cfg = Qwen2Config(
        vocab_size=MID["vocab"], hidden_size=MID["hidden"], intermediate_size=MID["inter"],
        num_hidden_layers=MID["layers"], num_attention_heads=MID["heads"], num_key_value_heads=MID["kv"],
        rms_norm_eps=1e-6, rope_theta=1e6, max_position_embeddings=4096, tie_word_embeddings=False,
    )
    model = Qwen2ForCausalLM(cfg).float().eval()
    with torch.no_grad():  # O(1) residual updates, as the fixture does
        for name, p in model.named_parameters():
            if "norm" in name:
                p.copy_(1 + 0.1 * torch.randn_like(p))
            elif name.endswith("bias"):
                p.normal_(0, 0.5)
            elif "embed" in name:
                p.normal_(0, 1)
            else:
                p.normal_(0, p.shape[1] ** -0.5)
    mid = os.path.join(OUT, "mid_encoder")
    model.save_pretrained(mid, safe_serialization=True)
    g = torch.Generator().manual_seed(11)
    save_file({"input_ids": torch.randint(0, MID["vocab"], (1, MID["tokens"]), generator=g)},
              os.path.join(OUT, "mid_inputs.safetensors"))
    save_file({"input_ids": torch.randint(0, 1000, (1, 512), generator=g)}, os.path.join(OUT, "tiny_inputs.safetensors"))
    print("prepared", OUT, file=sys.stderr)


def hf_tokenizer():
    from tokenizers import Tokenizer

    sys.path.insert(0, os.path.join(ROOT, "tests", "reference"))
    from gen_text import REAL_REGULAR, _tokenizer_json  # the project's own hub-layout builder

    with open(os.path.join(FIX, "tokenizer", "vocab.json"), encoding="utf-8") as fh:
        vocab = json.load(fh)
    with open(os.path.join(FIX, "tokenizer", "merges.txt"), encoding="utf-8") as fh:
        merges = [m for m in fh.read().split("\n")[1:] if m]
    return Tokenizer.from_str(_tokenizer_json(vocab, merges, REAL_REGULAR).decode("utf-8"))


def best_of(fn, reps):
    ts = []
    for _ in range(reps):
        t0 = time.perf_counter()
        r = fn()
        ts.append(time.perf_counter() - t0)
    return min(ts), r


def embed(model, ids):
    import torch

    out = model(input_ids=ids, output_hidden_states=True)
    hs = out.hidden_states[1:]
    return torch.cat([(h - h.mean(-1, keepdim=True)) / (h.std(-1, keepdim=True) + 1e-8) for h in hs], -1)


def run(threads, reps):
    import numpy as np
    import torch
    from safetensors.torch import load_file, save_file

    with open(corpus_path(), "rb") as fh:
        data = fh.read()
    text = data.decode("utf-8")
    tok = hf_tokenizer()
    tok.encode(text[:10000])
    t, enc = best_of(lambda: tok.encode(text, add_special_tokens=False), reps)
    ids = np.asarray(enc.ids, dtype=np.int32)
    print(json.dumps({"what": "tokenizer", "side": "hf", "mb_s": len(data) / t / 1e6, "seconds": t,
                      "bytes": len(data), "n_ids": int(ids.size),
                      "ids_sha256": hashlib.sha256(ids.tobytes()).hexdigest()}), flush=True)

    torch.set_num_threads(threads)
    for name, path, inputs in (
        ("tiny", os.path.join(FIX, "text_encoder"), "tiny_inputs.safetensors"),
        ("mid", os.path.join(OUT, "mid_encoder"), "mid_inputs.safetensors"),
    ):
        t0 = time.perf_counter()
        if name == "tiny":
            from transformers import Qwen2_5_VLForConditionalGeneration

            model = Qwen2_5_VLForConditionalGeneration.from_pretrained(path, torch_dtype=torch.float32).eval()
        else:
            from transformers import Qwen2ForCausalLM

            model = Qwen2ForCausalLM.from_pretrained(path, torch_dtype=torch.float32).eval()
        load = time.perf_counter() - t0
        ids_t = load_file(os.path.join(OUT, inputs))["input_ids"]
        with torch.inference_mode():
            embed(model, ids_t)
            t, e = best_of(lambda: embed(model, ids_t), reps)
        save_file({"embeddings": e.contiguous()}, os.path.join(OUT, f"torch_{name}.safetensors"))
        print(json.dumps({"what": f"encoder_{name}", "side": "torch", "seconds": t, "load_s": load,
                          "threads": threads, "shape": list(e.shape)}), flush=True)


if __name__ == "__main__":
    if sys.argv[1] == "prepare":
        prepare()
    else:
        run(int(sys.argv[2]), int(sys.argv[3]))
