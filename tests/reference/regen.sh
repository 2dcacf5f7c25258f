#!/usr/bin/env bash
# Regenerates every fixture under tests/fixtures/ from the public PyTorch implementation, in a pinned
# local virtual environment (tests/reference/.venv, or $DIO_REF_VENV), then writes tests/fixtures/manifest.json.
# Never run by the build or CI; the fixtures are committed.
#
#   tests/reference/regen.sh                 install/verify the venv, run every generator, write the manifest
#   tests/reference/regen.sh dit vae         only those generators (gen_dit.py, gen_vae.py), then the manifest
#   tests/reference/regen.sh --venv-only     only create/verify the venv
#
# Needs python3 (3.11, as the pins were resolved with CPython 3.11; other versions may resolve other wheels)
# and access to PyPI (torch comes from PyPI: the CUDA build, run on the CPU only here).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
venv=${DIO_REF_VENV:-$here/.venv}
py=${PYTHON:-python3}

"$py" -c 'import sys; v=sys.version_info; sys.exit(0 if (v.major, v.minor) == (3, 11) else 1)' ||
  echo "warning: $("$py" -V 2>&1) is not CPython 3.11; the pins and the committed bytes were made with 3.11" >&2

if [ ! -x "$venv/bin/python" ]; then
  "$py" -m venv "$venv"
fi
# Every package is pinned (requirements.txt is the full resolved set), so install without resolving.
if ! cmp -s "$here/requirements.txt" "$venv/.requirements.txt" ||
   ! "$venv/bin/python" -c "import torch, torchvision, diffusers, transformers, safetensors" 2>/dev/null; then
  rm -f "$venv/READY"
  "$venv/bin/python" -m pip install -q --disable-pip-version-check --no-deps -r "$here/requirements.txt"
  "$venv/bin/python" -m pip check
  cp "$here/requirements.txt" "$venv/.requirements.txt"
fi
touch "$venv/READY"
[ "${1:-}" = "--venv-only" ] && exit 0

# Same bytes on every run: CPU only, one thread, fixed hash seed, no hub access, C locale.
export CUDA_VISIBLE_DEVICES="" OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 PYTHONHASHSEED=0 \
       HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 HF_HUB_DISABLE_TELEMETRY=1 TZ=UTC LC_ALL=C \
       PYTHONDONTWRITEBYTECODE=1 TOKENIZERS_PARALLELISM=false

gens=("$@")
if [ ${#gens[@]} -eq 0 ]; then
  # dit first (gen_pipelines imports it), pipelines last (it imports the others); any new gen_*.py in between.
  gens=(dit)
  for f in "$here"/gen_*.py; do
    g=$(basename "$f" .py); g=${g#gen_}
    case "$g" in dit|pipelines) ;; *) gens+=("$g") ;; esac
  done
  [ -f "$here/gen_pipelines.py" ] && gens+=(pipelines)
fi
for g in "${gens[@]}"; do
  echo "== gen_$g.py"
  "$venv/bin/python" "$here/gen_$g.py"
done
echo "== manifest.py"
"$venv/bin/python" "$here/manifest.py"  # records the full command, tests/reference/regen.sh, whatever ran
