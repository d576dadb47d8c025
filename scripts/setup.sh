#!/usr/bin/env bash
# Idempotent set-up: a virtual environment in .venv with the exact versions the project is tested
# with (requirements/constraints.txt): the CPU build of torch first (an unpinned torch resolves to a
# multi-GB CUDA build), then this package with all extras. Re-runs only when pyproject.toml or the
# constraints change.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
CONSTRAINTS=requirements/constraints.txt
if [ ! -x .venv/bin/python ]; then
  echo "==> creating .venv with $($PY --version)"
  "$PY" -m venv .venv
fi
stamp=".venv/.installed-$(cat pyproject.toml "$CONSTRAINTS" | sha1sum | cut -c1-12)"
if [ ! -f "$stamp" ]; then
  echo "==> installing torch==2.13.0 (CPU) and spacy-clinical-ner[all,dev] into .venv, versions from $CONSTRAINTS (about 2 minutes)"
  .venv/bin/python -m pip install -q --upgrade pip
  .venv/bin/python -m pip install -q --progress-bar on -c "$CONSTRAINTS" "torch==2.13.0"
  .venv/bin/python -m pip install -q --progress-bar on -c "$CONSTRAINTS" -e ".[all,dev]"
  .venv/bin/python -m pip check
  rm -f .venv/.installed-*
  touch "$stamp"
else
  echo "==> .venv is up to date"
fi
