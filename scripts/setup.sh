#!/usr/bin/env bash
# Idempotent set-up: a virtual environment in .venv with the CPU build of torch installed
# first (an unpinned torch resolves to a multi-GB CUDA build), then this package with all
# extras. Re-runs only when setup.py changes.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  echo "==> creating .venv with $($PY --version)"
  "$PY" -m venv .venv
fi
stamp=".venv/.installed-$(cat setup.py pyproject.toml | sha1sum | cut -c1-12)"
if [ ! -f "$stamp" ]; then
  echo "==> installing torch==2.13.0 (CPU) and spacy-clinical-ner[all,dev] into .venv (about 2 minutes)"
  .venv/bin/python -m pip install -q --upgrade pip
  .venv/bin/python -m pip install -q --progress-bar on "torch==2.13.0"
  .venv/bin/python -m pip install -q --progress-bar on -e ".[all,dev]"
  .venv/bin/python -m pip check
  rm -f .venv/.installed-*
  touch "$stamp"
else
  echo "==> .venv is up to date"
fi
