"""Small PyTorch checkpoints for tests/weights/test_pt.c (the torch.save reader in core/pt_*.c).

Writes tests/fixtures/pt/: good checkpoints saved by torch.save itself, each with the tensors it must
expose in a safetensors file beside it (<name>.expect.safetensors: the same dotted names, contiguous
copies, same dtypes), and hostile checkpoints: hand-assembled pickles in a torch-like zip (CRCs correct,
so each reaches the check it is about). Nothing here is executed by the build; the outputs are
committed. Run with the pinned reference venv: tests/reference/regen.sh pt_samples
(or .venv/bin/python tests/reference/gen_pt_samples.py). Standalone: needs torch and safetensors only.
"""
import collections
import io
import json
import os
import shutil
import struct
import tempfile
import zipfile

import torch
from safetensors.torch import save_file

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
OUT = os.path.join(REPO, "tests", "fixtures", "pt")


def out(name):
    return os.path.join(OUT, name)


def tsave(path, obj, **kw):
    """torch.save with the archive prefix taken from the final name; checked to be byte-reproducible."""
    blobs = []
    with tempfile.TemporaryDirectory() as tmp:
        for i in range(2):
            p = os.path.join(tmp, str(i))
            os.makedirs(p)
            f = os.path.join(p, os.path.basename(path))
            torch.save(obj, f, **kw)
            with open(f, "rb") as fh:
                blobs.append(fh.read())
    if blobs[0] != blobs[1]:
        raise RuntimeError("torch.save is not byte-reproducible here")
    with open(path, "wb") as f:
        f.write(blobs[0])


def expect(path, tensors):
    """The tensors a reader must expose, by dotted name, as contiguous copies."""
    save_file({k: v.detach().contiguous().clone() for k, v in sorted(tensors.items())}, path)


def values(dtype, shape, seed):
    g = torch.Generator().manual_seed(seed)
    if dtype.is_floating_point:
        return (torch.randn(shape, generator=g) * 3).to(dtype)
    if dtype == torch.bool:
        return torch.randint(0, 2, shape, generator=g).bool()
    if dtype == torch.uint8:
        return torch.randint(0, 256, shape, generator=g).to(dtype)
    return torch.randint(-1000, 1000, shape, generator=g).to(dtype)


# ---- good checkpoints, saved by torch ----

def gen_dtypes():
    read = [torch.float32, torch.float16, torch.bfloat16, torch.int32, torch.int64, torch.uint8,
            torch.float8_e4m3fn, torch.float8_e5m2]
    shapes = [(3, 4), (5,), (2, 3, 2), (7,), (2, 2), (9,), (4, 2), (3, 1, 2)]
    left_out = [torch.float64, torch.bool, torch.int8, torch.int16, torch.complex64, torch.uint16]
    d, e = {}, {}
    for i, (dt, shape) in enumerate(zip(read, shapes)):
        name = "t_" + str(dt).replace("torch.", "")
        d[name] = e[name] = values(dt, shape, 100 + i)
    for dt in left_out:
        d["skip_" + str(dt).replace("torch.", "")] = torch.arange(3).to(dt)
    tsave(out("dtypes.pt"), d)
    expect(out("dtypes.expect.safetensors"), e)


def gen_nested():
    w = values(torch.float32, (4, 3), 1)
    inner = collections.OrderedDict()
    inner["net.blocks.0.mlp.layer1.weight"] = values(torch.bfloat16, (6, 4), 2)
    inner["net.blocks.0.mlp.layer2.weight"] = values(torch.bfloat16, (4, 6), 3)
    obj = {
        "model": {"net.x_embedder.proj.1.weight": w, "ema": inner},
        "layers": [values(torch.float16, (2,), 4), (values(torch.int64, (3,), 5), "label")],
        "by_id": {0: values(torch.float32, (1,), 6), 7: {"x": values(torch.uint8, (2, 2), 7)}},
        "epoch": 12,
        "big": -(2 ** 40),
        "lr": 0.25,
        "name": "cosmos-tiny \u00e9",
        "ok": True,
        "nothing": None,
        "dtype": torch.float32,
    }
    tsave(out("nested.pt"), obj)
    e = {
        "model.net.x_embedder.proj.1.weight": w,
        "model.ema.net.blocks.0.mlp.layer1.weight": inner["net.blocks.0.mlp.layer1.weight"],
        "model.ema.net.blocks.0.mlp.layer2.weight": inner["net.blocks.0.mlp.layer2.weight"],
        "layers.0": obj["layers"][0],
        "layers.1.0": obj["layers"][1][0],
        "by_id.0": obj["by_id"][0],
        "by_id.7.x": obj["by_id"][7]["x"],
    }
    expect(out("nested.expect.safetensors"), e)


def gen_views():
    base = values(torch.float32, (24,), 10)
    half = values(torch.float16, (10,), 11)
    m = values(torch.float32, (3, 4), 12)
    obj = {
        "shared.a": base[2:8].view(2, 3),       # offset 2 in a 24-element storage
        "shared.b": base[8:20].view(3, 4),      # offset 8, same storage
        "shared.all": base,                     # the whole storage
        "half.lo": half[:5],
        "half.hi": half[5:],
        "scalar": torch.tensor(3.5),
        "scalar_i64": torch.tensor(-7, dtype=torch.int64),
        "empty": torch.zeros(0, 4),
        "empty_bf16": torch.zeros(2, 0, 3, dtype=torch.bfloat16),
        "transposed": m.t(),                    # non-contiguous: copied
        "column": m[:, 1],                      # non-contiguous: copied
        "expanded": values(torch.float32, (1, 3), 13).expand(4, 3),  # stride 0: copied
        "param": torch.nn.Parameter(values(torch.float32, (2, 2), 14)),
        "unit_dims": values(torch.float32, (1, 3, 1), 15),
    }
    tsave(out("views.pt"), obj)
    expect(out("views.expect.safetensors"), obj)


def gen_module():
    torch.manual_seed(3)
    m = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.LayerNorm(4), torch.nn.BatchNorm1d(4))
    sd = m.state_dict()  # an OrderedDict with a _metadata attribute: BUILD
    tsave(out("module.pt"), sd)
    expect(out("module.expect.safetensors"), dict(sd))


def gen_protocol4():
    obj = {"a": values(torch.float32, (2, 3), 20), "b": [values(torch.bfloat16, (4,), 21)], "s": "x"}
    tsave(out("proto4.pt"), obj, pickle_protocol=4)  # FRAME, MEMOIZE, STACK_GLOBAL, SHORT_BINUNICODE
    expect(out("proto4.expect.safetensors"), {"a": obj["a"], "b.0": obj["b"][0]})


def gen_hf_shards():
    """A Hugging Face style folder: pytorch_model-*.bin (torch.save zips) and their index."""
    d = out("hf_bin")
    os.makedirs(d, exist_ok=True)
    s1 = {"model.embed.weight": values(torch.bfloat16, (4, 2), 30), "model.norm.weight": values(torch.float32, (2,), 31)}
    s2 = {"lm_head.weight": values(torch.bfloat16, (3, 2), 32)}
    tsave(os.path.join(d, "pytorch_model-00001-of-00002.bin"), s1)
    tsave(os.path.join(d, "pytorch_model-00002-of-00002.bin"), s2)
    wm = {k: "pytorch_model-00001-of-00002.bin" for k in s1}
    wm.update({k: "pytorch_model-00002-of-00002.bin" for k in s2})
    with open(os.path.join(d, "pytorch_model.bin.index.json"), "w") as f:
        json.dump({"metadata": {"total_size": 0}, "weight_map": wm}, f, indent=1, sort_keys=True)
        f.write("\n")
    expect(out("hf_bin.expect.safetensors"), {**s1, **s2})


def gen_legacy():
    # No tensor in it: the legacy format keys storages by memory address, which would change every run.
    tsave(out("legacy.pt"), {"a": 1}, _use_new_zipfile_serialization=False)


def gen_refused_by_torch_save():
    """Files torch itself writes that the reader refuses on purpose."""
    deep = {"w": torch.ones(1)}
    for _ in range(80):
        deep = {"d": deep}
    tsave(out("deep.pt"), deep)                        # nesting deeper than 64
    tsave(out("root_list.pt"), [torch.ones(2)])        # not a dict
    tsave(out("seven_dims.pt"), {"x": torch.zeros(1, 1, 1, 1, 1, 1, 2)})
    # (a non-contiguous tensor first: its copy must be freed when the open fails)
    tsave(out("name_clash.pt"), {"t": torch.ones(2, 3).t(), "a.b": torch.ones(1), "a": {"b": torch.zeros(1)}})
    t = torch.ones(2)
    cyc = [t]
    cyc.append(cyc)
    tsave(out("cycle.pt"), {"c": cyc})                 # a list inside itself
    # A compressed record: torch's own file, rewritten with data/0 deflated.
    buf = io.BytesIO()
    torch.save({"a": torch.arange(64, dtype=torch.float32)}, buf)
    buf.seek(0)
    with zipfile.ZipFile(buf) as src, zipfile.ZipFile(out("compressed.pt"), "w") as dst:
        for info in src.infolist():
            data = src.read(info.filename)
            zi = zipfile.ZipInfo(info.filename, date_time=(1980, 1, 1, 0, 0, 0))
            zi.compress_type = zipfile.ZIP_DEFLATED if info.filename.endswith("/data/0") else zipfile.ZIP_STORED
            dst.writestr(zi, data)


# ---- hostile checkpoints, hand-assembled ----

def uni(s):
    b = s.encode("utf-8")
    return b"X" + struct.pack("<I", len(b)) + b


def integer(v):
    if 0 <= v < 256:
        return b"K" + bytes([v])
    if 0 <= v < 65536:
        return b"M" + struct.pack("<H", v)
    if -2 ** 31 <= v < 2 ** 31:
        return b"J" + struct.pack("<i", v)
    n = (v.bit_length() + 8) // 8
    return b"\x8a" + bytes([n]) + v.to_bytes(n, "little", signed=True)


def tup(items):
    return b"(" + b"".join(items) + b"t"


def tensor(key, numel, offset, size, stride, storage=b"FloatStorage"):
    """What torch.save writes for one tensor (protocol 2, no memo)."""
    pid = tup([uni("storage"), b"ctorch\n" + storage + b"\n", uni(key), uni("cpu"), integer(numel)])
    args = tup([pid + b"Q", integer(offset), tup([integer(v) for v in size]), tup([integer(v) for v in stride]),
                b"\x89", b"ccollections\nOrderedDict\n)R"])
    return b"ctorch._utils\n_rebuild_tensor_v2\n" + args + b"R"


def pickle_dict(entries):
    """{name: pickled value} as a protocol-2 pickle."""
    body = b"}(" + b"".join(uni(k) + v for k, v in entries) + b"u"
    return b"\x80\x02" + body + b"."


def write_zip(path, pkl, records, prefix="archive", duplicate=None):
    """A torch-like zip: <prefix>/data.pkl, <prefix>/data/<key> records, stored, fixed timestamps."""
    import warnings
    with warnings.catch_warnings(), zipfile.ZipFile(path, "w", zipfile.ZIP_STORED) as z:
        warnings.simplefilter("ignore")  # the duplicate name is the point of one file
        def add(name, data):
            zi = zipfile.ZipInfo(name, date_time=(1980, 1, 1, 0, 0, 0))
            z.writestr(zi, data)
        add(prefix + "/data.pkl", pkl)
        add(prefix + "/byteorder", b"little")
        for k, v in records.items():
            add(prefix + "/data/" + k, v)
        if duplicate:
            add(prefix + "/" + duplicate, b"again")
        add(prefix + "/version", b"3\n")


F32x6 = struct.pack("<6f", 1, 2, 3, 4, 5, 6)


def gen_hostile():
    good = tensor("0", 6, 0, (2, 3), (3, 1))
    # A hand-assembled file that is fine, as a control for the ones below.
    write_zip(out("hand_ok.pt"), pickle_dict([("w", good)]), {"0": F32x6})

    # Code execution attempts: must be refused, never run.
    system = b"\x80\x02cposix\nsystem\n" + tup([uni("touch /tmp/dio_pt_pwned")]) + b"R."
    write_zip(out("evil_system.pt"), system, {})
    ev = b"\x80\x02}(" + uni("w") + b"cbuiltins\neval\n" + tup([uni("__import__('os').system('true')")]) + b"Ru."
    write_zip(out("evil_eval.pt"), ev, {})
    sg = b"\x80\x04\x8c\x02os\x94\x8c\x06system\x94\x93\x94\x8c\x04true\x94\x85\x94R\x94."
    write_zip(out("evil_stack_global.pt"), sg, {})
    # A torch global used the wrong way: calling a storage class.
    write_zip(out("evil_call_storage.pt"), b"\x80\x02ctorch\nFloatStorage\n)R.", {})
    # Opcodes torch.save never writes.
    write_zip(out("op_inst.pt"), b"\x80\x02(iposix\nsystem\n.", {})
    write_zip(out("op_newobj.pt"), b"\x80\x02ccollections\nOrderedDict\n)\x81.", {})
    write_zip(out("op_binbytes.pt"), pickle_dict([("w", b"C\x03abc")]), {})

    # Records and ranges.
    write_zip(out("offset_oob.pt"), pickle_dict([("w", tensor("0", 6, 5, (2,), (1,)))]), {"0": F32x6})
    write_zip(out("stride_oob.pt"), pickle_dict([("w", tensor("0", 6, 0, (2, 3), (4, 1)))]), {"0": F32x6})
    write_zip(out("size_overflow.pt"), pickle_dict([("w", tensor("0", 6, 0, (2 ** 40, 2 ** 40), (1, 1)))]),
              {"0": F32x6})
    write_zip(out("stride_overflow.pt"), pickle_dict([("w", tensor("0", 6, 0, (3,), (2 ** 62,)))]), {"0": F32x6})
    write_zip(out("offset_overflow.pt"), pickle_dict([("w", tensor("0", 6, 2 ** 62, (1,), (1,)))]), {"0": F32x6})
    write_zip(out("copy_then_oob.pt"), pickle_dict([("t", tensor("0", 6, 0, (3, 2), (1, 3))),
                                                     ("w", tensor("0", 6, 5, (2,), (1,)))]), {"0": F32x6})
    write_zip(out("negative_size.pt"), pickle_dict([("w", tensor("0", 6, 0, (-1,), (1,)))]), {"0": F32x6})
    write_zip(out("missing_record.pt"), pickle_dict([("w", tensor("9", 6, 0, (6,), (1,)))]), {"0": F32x6})
    write_zip(out("numel_mismatch.pt"), pickle_dict([("w", tensor("0", 7, 0, (6,), (1,)))]), {"0": F32x6})
    write_zip(out("long_too_wide.pt"), pickle_dict([("w", b"\x8a\x09" + b"\x01" * 9)]), {})

    # Pickle machine limits.
    write_zip(out("memo_oob.pt"), b"\x80\x02}q\x00h\xc8.", {})           # BINGET 200, never set
    write_zip(out("stack_underflow.pt"), b"\x80\x02s.", {})
    write_zip(out("no_stop.pt"), b"\x80\x02}", {})
    write_zip(out("after_stop.pt"), b"\x80\x02}.junk", {})
    write_zip(out("marks.pt"), b"\x80\x02" + b"(" * 5000 + b"}.", {})
    write_zip(out("protocol_99.pt"), b"\x80\x63}.", {})
    write_zip(out("bad_utf8.pt"), b"\x80\x02}(X\x02\x00\x00\x00\xff\xfeK\x01u.", {})
    write_zip(out("two_pickles.pt"), pickle_dict([]), {}, duplicate=None)
    with zipfile.ZipFile(out("two_pickles.pt"), "a") as z:
        z.writestr(zipfile.ZipInfo("other/data.pkl", date_time=(1980, 1, 1, 0, 0, 0)), pickle_dict([]))

    # Zip structure.
    write_zip(out("dup_entry.pt"), pickle_dict([("w", good)]), {"0": F32x6}, duplicate="version")
    write_zip(out("bad_crc.pt"), pickle_dict([("w", good)]), {"0": F32x6})
    with open(out("bad_crc.pt"), "r+b") as f:      # flip a byte inside data.pkl, leave its CRC
        data = f.read()
        at = data.index(b"storage")
        f.seek(at)
        f.write(b"Storage")
    write_zip(out("big_endian.pt"), pickle_dict([]), {})
    with open(out("big_endian.pt"), "r+b") as f:
        data = f.read()
        f.seek(data.index(b"little"))
        f.write(b"big\0\0\0")
    # (byteorder's CRC is not checked, by design: only data.pkl's is)


def main():
    if os.path.isdir(OUT):
        shutil.rmtree(OUT)
    os.makedirs(OUT)
    torch.set_num_threads(1)
    gen_dtypes()
    gen_nested()
    gen_views()
    gen_module()
    gen_protocol4()
    gen_hf_shards()
    gen_legacy()
    gen_refused_by_torch_save()
    gen_hostile()
    total = 0
    for root, _, files in os.walk(OUT):
        total += sum(os.path.getsize(os.path.join(root, f)) for f in files)
    with open(out("README.md"), "w") as f:
        f.write("Generated by tests/reference/gen_pt_samples.py with torch %s; read by tests/weights/test_pt.c.\n"
                "`*.expect.safetensors` hold what the checkpoint of the same name must expose.\n" % torch.__version__)
    print("tests/fixtures/pt: %d bytes" % total)


if __name__ == "__main__":
    main()
