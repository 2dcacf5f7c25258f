"""Writes tests/fixtures/manifest.json: every fixture file with its sha256 and size, the environment that made
them, the sources read, the generator sources, and the command. Run last by regen.sh.

Nothing machine-specific beyond the OS/architecture pair goes in (no host name, kernel release, time stamps,
absolute paths), so a regeneration on another machine gives the same manifest bytes when the fixtures match.
"""
import argparse
import os
import platform
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import common  # noqa: E402

BUDGET_BYTES = 25 * 1000 * 1000  # all fixtures together
SHARE_BYTES = {"dit": 8 * 1000 * 1000}  # per-folder shares that are checked here

# Installed files whose behaviour the fixtures (and the C code) follow, relative to site-packages. Their sha256
# pins the exact code read; PyPI wheels carry no git revision, the release tags are vX.Y.Z of each project.
SOURCES_READ = [
    "diffusers/models/transformers/transformer_cosmos.py",
    "diffusers/models/attention_processor.py",
    "diffusers/models/attention_dispatch.py",
    "diffusers/models/attention.py",
    "diffusers/models/normalization.py",
    "diffusers/models/embeddings.py",
    "diffusers/models/autoencoders/autoencoder_kl_wan.py",
    "diffusers/schedulers/scheduling_unipc_multistep.py",
    "diffusers/pipelines/cosmos/pipeline_cosmos2_5_predict.py",
    "diffusers/loaders/single_file_utils.py",
    "transformers/models/qwen2_5_vl/modeling_qwen2_5_vl.py",
    "transformers/models/qwen2_5_vl/configuration_qwen2_5_vl.py",
    "transformers/utils/output_capturing.py",
    "torchvision/transforms/functional.py",
]


def site_packages():
    import diffusers

    return os.path.dirname(os.path.dirname(os.path.abspath(diffusers.__file__)))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--command", default="tests/reference/regen.sh")
    args = ap.parse_args()

    root = common.FIXTURES
    out_path = os.path.join(root, "manifest.json")
    files = {}
    for d, dirs, names in os.walk(root):
        dirs.sort()
        for n in sorted(names):
            p = os.path.join(d, n)
            rel = os.path.relpath(p, root).replace(os.sep, "/")
            if rel == "manifest.json" or "__pycache__" in rel:
                continue
            files[rel] = {"sha256": common.sha256_file(p), "bytes": os.path.getsize(p)}
    total = sum(f["bytes"] for f in files.values())
    per_folder = {}
    for rel, f in files.items():
        top = rel.split("/")[0] if "/" in rel else "."
        per_folder[top] = per_folder.get(top, 0) + f["bytes"]

    sp = site_packages()
    sources = {}
    for rel in SOURCES_READ:
        p = os.path.join(sp, rel)
        sources[rel] = common.sha256_file(p) if os.path.exists(p) else None

    here = os.path.dirname(os.path.abspath(__file__))
    generators = {}
    for n in sorted(os.listdir(here)):
        if n.endswith((".py", ".sh", ".txt")) and not n.startswith("."):
            generators["tests/reference/" + n] = common.sha256_file(os.path.join(here, n))

    v = common.versions()
    v["python"] = platform.python_version()
    v["python_implementation"] = platform.python_implementation()
    v["platform"] = f"{platform.system()}-{platform.machine()}"
    manifest = {
        "command": args.command,
        "note": "Regenerate with the command from the repository root; it installs tests/reference/requirements.txt "
                "into tests/reference/.venv and runs every tests/reference/gen_*.py on the CPU (fp32, one thread).",
        "versions": v,
        "requirements": "tests/reference/requirements.txt",
        "sources_read": sources,
        "generator_sources": generators,
        "files": files,
        "total_bytes": total,
        "budget_bytes": BUDGET_BYTES,
        "bytes_per_folder": per_folder,
    }
    common.save_json(out_path, manifest)
    print(f"manifest: {len(files)} files, {total} bytes (budget {BUDGET_BYTES})")
    for k, b in sorted(per_folder.items()):
        print(f"  {k}: {b}")
    problems = []
    if total >= BUDGET_BYTES:
        problems.append(f"fixtures total {total} bytes >= budget {BUDGET_BYTES}")
    for k, cap in SHARE_BYTES.items():
        if per_folder.get(k, 0) > cap:
            problems.append(f"{k}/ is {per_folder[k]} bytes > its share {cap}")
    missing = [k for k, h in sources.items() if h is None]
    if missing:
        problems.append(f"sources not installed: {missing}")
    if problems:
        sys.exit("manifest: " + "; ".join(problems))


if __name__ == "__main__":
    main()
