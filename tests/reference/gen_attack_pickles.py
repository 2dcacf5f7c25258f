"""Checkpoints built to attack the torch.save reader (core/pt_zip.c, core/pt_pickle.c), for
tests/hardening/test_attack.c.

Each file is a torch-like zip (<archive>/data.pkl, byteorder, version, data/<key> records; stored, CRCs
correct) so that the pickle reaches the unpickler. The code-execution payloads are made the way an
attacker makes them: Python's own pickle.dumps of an object whose __reduce__ returns a callable, at
protocol 2 (GLOBAL) and 4 (STACK_GLOBAL); the rest are hand-written opcodes. Every payload that would do
something when loaded by Python's pickle touches a marker file, /tmp/dio_attack_pwned (the test checks it
is never created). Nothing here is ever unpickled: pickletools.genops only walks the opcodes, to check
each file holds the opcode it is about.

Writes tests/hardening/attack/*.pt and cases.txt: one line per file, "file|status|substring|substring",
the substrings the error message must contain (the reason the reader gives). Needs only the standard
library. Run: python3 tests/reference/gen_attack_pickles.py
"""
import os
import pickle
import pickletools
import struct
import subprocess
import zipfile

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
OUT = os.path.join(REPO, "tests", "hardening", "attack")
MARKER = "/tmp/dio_attack_pwned"
TOUCH = "touch " + MARKER

CASES = []


def write_zip(name, pkl, records=None, extra=None):
    with zipfile.ZipFile(os.path.join(OUT, name), "w", zipfile.ZIP_STORED) as z:
        def add(entry, data):
            z.writestr(zipfile.ZipInfo(entry, date_time=(1980, 1, 1, 0, 0, 0)), data)
        add("archive/data.pkl", pkl)
        add("archive/byteorder", b"little")
        for k, v in (records or {}).items():
            add("archive/data/" + k, v)
        for k, v in (extra or {}).items():
            add(k, v)
        add("archive/version", b"3\n")


def case(name, pkl, want, records=None, extra=None, opcode=None):
    """A refused checkpoint: `want` are the substrings its BAD_FORMAT message must hold."""
    if opcode is not None:
        ops = {op.name for op, _, _ in pickletools.genops(pkl)}
        assert opcode in ops, (name, opcode, ops)
    write_zip(name, pkl, records, extra)
    CASES.append((name, "BAD_FORMAT") + tuple(want))


# ---- payloads pickled by Python itself ----

class Reduce:
    """pickle.dumps(Reduce(f, args)) is GLOBAL/STACK_GLOBAL f, the args tuple, REDUCE."""

    def __init__(self, fn, args):
        self.fn, self.args = fn, args

    def __reduce__(self):
        return self.fn, self.args


class StateDict(dict):
    """A state dict whose value is the payload, as a poisoned checkpoint would be."""


def dumps(obj, protocol):
    return pickle.dumps(obj, protocol=protocol)


def u(s):
    b = s.encode()
    return b"X" + struct.pack("<I", len(b)) + b


def integer(v):
    if 0 <= v < 256:
        return b"K" + bytes([v])
    if -2 ** 31 <= v < 2 ** 31:
        return b"J" + struct.pack("<i", v)
    n = (v.bit_length() + 8) // 8
    return b"\x8a" + bytes([n]) + v.to_bytes(n, "little", signed=True)


def tup(items):
    return b"(" + b"".join(items) + b"t"


def tensor(key, numel, offset, size, stride, storage=b"FloatStorage"):
    pid = tup([u("storage"), b"ctorch\n" + storage + b"\n", u(key), u("cpu"), integer(numel)])
    args = tup([pid + b"Q", integer(offset), tup([integer(v) for v in size]), tup([integer(v) for v in stride]),
                b"\x89", b"ccollections\nOrderedDict\n)R"])
    return b"ctorch._utils\n_rebuild_tensor_v2\n" + args + b"R"


def state(entries):
    return b"\x80\x02}(" + b"".join(u(k) + v for k, v in entries) + b"u."


F32x6 = struct.pack("<6f", 1, 2, 3, 4, 5, 6)


def gen():
    os.makedirs(OUT, exist_ok=True)
    for f in os.listdir(OUT):
        if f.endswith(".pt") or f == "cases.txt":
            os.remove(os.path.join(OUT, f))

    # Code execution through REDUCE, as pickle.dumps writes it. posix.system is what os.system pickles
    # as on Linux; the module names are written by pickle itself.
    # Protocol 2 writes Python 2 names for compatibility (builtins -> __builtin__, subprocess -> commands).
    callables = [
        ("os_system", os.system, (TOUCH,), "'posix system'", "'posix system'"),
        ("eval", eval, ("__import__('os').system(%r)" % TOUCH,), "'__builtin__ eval'", "'builtins eval'"),
        ("exec", exec, ("import os; os.system(%r)" % TOUCH,), "'__builtin__ exec'", "'builtins exec'"),
        ("popen", subprocess.Popen, (["touch", MARKER],), "'commands Popen'", "'subprocess Popen'"),
        ("getattr", getattr, (Reduce(__import__, ("os",)), "system"), "'__builtin__ getattr'",
         "'builtins getattr'"),
        ("open", open, (MARKER, "w"), "'io open'", "'io open'"),
    ]
    for tag, fn, args, want2, want4 in callables:
        case("reduce_%s_p2.pt" % tag, dumps(Reduce(fn, args), 2), [want2, "allow-list"], opcode="GLOBAL")
        case("reduce_%s_p4.pt" % tag, dumps(Reduce(fn, args), 4), [want4, "allow-list"], opcode="STACK_GLOBAL")
    # The payload inside a state dict next to a good tensor (the reader must not have handed anything on).
    poisoned = StateDict(w=Reduce(os.system, (TOUCH,)))
    case("poisoned_state_dict_p2.pt", dumps(poisoned, 2), ["allow-list"], opcode="REDUCE")
    # Python 2 spellings and the nt module (what a Windows-made payload names).
    case("reduce_builtin_py2.pt", b"\x80\x02c__builtin__\neval\n" + tup([u("1")]) + b"R.",
         ["'__builtin__ eval'", "allow-list"], opcode="REDUCE")
    case("reduce_nt_system.pt", b"\x80\x02cnt\nsystem\n" + tup([u(TOUCH)]) + b"R.", ["'nt system'", "allow-list"])
    # A protocol-0 GLOBAL with a module line that hides a second name after a NUL.
    case("global_nul.pt", b"\x80\x02ccollections\x00os\nOrderedDict\n)R.", ["'collections?os OrderedDict'", "allow-list"])

    # BUILD: on a class object (Python would call __setstate__ or update its __dict__), with a global as
    # the state, and on a value that is not a dict or a tensor.
    case("build_on_global.pt", b"\x80\x02ccollections\nOrderedDict\n}b.", ["BUILD"], opcode="BUILD")
    case("build_state_global.pt",
         b"\x80\x02}(" + u("w") + b"ccollections\nOrderedDict\n)Rcposix\nsystem\nbu.", ["'posix system'"],
         opcode="BUILD")
    case("build_on_str.pt", b"\x80\x02}(" + u("w") + u("x") + b"}bu.", ["BUILD"], opcode="BUILD")
    # The opcodes that construct objects without REDUCE: INST, OBJ, NEWOBJ, NEWOBJ_EX, and the copyreg
    # extension registry (EXT1/2/4 name a global by number).
    case("inst_system.pt", b"\x80\x02(" + u(TOUCH) + b"iposix\nsystem\n.", ["INST"], opcode="INST")
    case("obj_system.pt", b"\x80\x02(cposix\nsystem\n" + u(TOUCH) + b"o.", ["'posix system'"], opcode="OBJ")
    case("obj_allowed.pt", b"\x80\x02(ccollections\nOrderedDict\no.", ["OBJ"], opcode="OBJ")
    case("newobj_ex.pt", b"\x80\x04\x8c\x0bcollections\x8c\x0bOrderedDict\x93)}\x92.", ["NEWOBJ_EX"],
         opcode="NEWOBJ_EX")
    case("ext1.pt", b"\x80\x02\x82\x01)R.", ["EXT1"], opcode="EXT1")
    case("ext4.pt", b"\x80\x02\x84\x01\x00\x00\x00)R.", ["EXT4"], opcode="EXT4")
    # REDUCE on something that is not a global: a string, and a tensor record called again.
    case("reduce_on_str.pt", b"\x80\x02" + u("os.system") + tup([u(TOUCH)]) + b"R.", ["REDUCE"])

    # Persistent ids: keys that would leave the archive's data/ folder, an absolute path, a key that names
    # an existing record through "..", an empty key, a key with a NUL, the text-protocol PERSID.
    def pid_file(name, key, want, extra=None):
        case(name, state([("w", tensor(key, 6, 0, (6,), (1,)))]), want, {"0": F32x6}, extra, opcode="BINPERSID")
    pid_file("pid_dotdot.pt", "../version", ["storage key", "record name"])
    pid_file("pid_dotdot_existing.pt", "../../evil/x", ["storage key", "record name"],
             extra={"evil/x": F32x6, "archive/data/../../evil/x": F32x6})
    pid_file("pid_absolute.pt", "/etc/passwd", ["storage key", "record name"])
    pid_file("pid_empty.pt", "", ["storage key", "record name"])
    pid_file("pid_backslash.pt", "..\\..\\x", ["storage key", "record name"])
    pid_file("pid_missing.pt", "7", ["no record"])
    case("persid_text.pt", b"\x80\x02P0\n.", ["PERSID"], opcode="PERSID")
    case("pid_not_tuple.pt", b"\x80\x02" + u("0") + b"Q.", ["persistent id"])

    # Storages larger than their records; element counts and extents that overflow 64 bits.
    case("storage_larger.pt", state([("w", tensor("0", 1 << 20, 0, (6,), (1,)))]), ["storage '0'", "holds 24"],
         {"0": F32x6})
    case("storage_numel_overflow.pt", state([("w", tensor("0", 1 << 62, 0, (6,), (1,)))]), ["storage '0'"],
         {"0": F32x6})
    case("shape_overflow.pt", state([("w", tensor("0", 6, 0, (1 << 62, 1 << 62), (0, 0)))]), ["'w'", "overflow"],
         {"0": F32x6})
    case("shape_overflow_many.pt", state([("w", tensor("0", 6, 0, (1 << 11,) * 6, (0,) * 6))]),
         ["'w'", "overflow"], {"0": F32x6})
    case("stride_past.pt", state([("w", tensor("0", 6, 0, (2,), (1 << 40,)))]), ["'w'", "run past"],
         {"0": F32x6})
    case("negative_stride.pt", state([("w", tensor("0", 6, 5, (2,), (-1,)))]), ["'w'", "non-negative"],
         {"0": F32x6})
    case("int_past_64.pt", state([("w", b"\x8a\x10" + b"\x7f" * 16)]), ["LONG1", "64 bits"])
    case("long4_huge.pt", state([("w", b"\x8b\xff\xff\xff\x7f")]), ["LONG4"])

    # Resource exhaustion: 200,000 nested tuples, a memo index past the limit, a string longer than the
    # file, a huge container count.
    case("nested_tuples.pt", b"\x80\x02}(" + u("w") + b")" + b"\x85" * 200000 + b"u.", ["deeper than 64"])
    case("memo_huge.pt", b"\x80\x02}r\xff\xff\xff\x7f.", ["LONG_BINPUT index 2147483647", "limit"])
    case("string_past_end.pt", b"\x80\x02X\xff\xff\xff\x7fabc.", ["BINUNICODE"])
    case("unicode8_huge.pt", b"\x80\x04\x8d" + struct.pack("<Q", 1 << 63) + b"abc.", ["BINUNICODE8"])
    case("frame_huge.pt", b"\x80\x04\x95" + struct.pack("<Q", 1 << 62) + b"}.", ["FRAME"])

    with open(os.path.join(OUT, "cases.txt"), "w") as f:
        f.write("# file|status|substrings the message must hold (written by tests/reference/gen_attack_pickles.py)\n")
        for c in CASES:
            f.write("|".join(c) + "\n")


if __name__ == "__main__":
    gen()
    print("%d attack checkpoints in %s" % (len(CASES), OUT))
