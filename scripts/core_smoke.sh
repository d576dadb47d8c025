#!/usr/bin/env bash
# CI (.ci/run): the core install alone, in its own environment .venv-core, loads and runs the package's
# components and, when its wheel has been built, the packaged CPU pipeline (scripts/core_smoke.py).
# The environment is created once with the versions of requirements/constraints.txt (CORE_LATEST=1:
# whatever pip resolves within the ranges of pyproject.toml); later runs only reinstall this package and
# the pipeline wheel, without the registries.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
VENV=${CORE_VENV:-.venv-core}
VERSION=$(sed -n 's/^  version: "\(.*\)"/\1/p' project.yml | head -1)
WHEEL="packages/en_clinical_ner_cnn-${VERSION}/dist/en_clinical_ner_cnn-${VERSION}-py3-none-any.whl"
constraints=(-c requirements/constraints.txt)
if [ "${CORE_LATEST:-0}" = 1 ]; then constraints=(); fi
stamp="$VENV/.installed-$(cat pyproject.toml requirements/constraints.txt | sha1sum | cut -c1-12)-${CORE_LATEST:-0}"
if [ ! -f "$stamp" ]; then
  echo "==> creating $VENV: pip install . (core only, no extras)"
  rm -rf "$VENV"
  "$PY" -m venv "$VENV"
  # setuptools and wheel: later runs rebuild this package without build isolation, so without the registries
  "$VENV/bin/python" -m pip install -q "${constraints[@]}" "setuptools>=64" wheel .
  touch "$stamp"
else
  echo "==> $VENV is up to date: reinstalling this package only (offline)"
  "$VENV/bin/python" -m pip install -q --no-index --no-deps --no-build-isolation --force-reinstall .
fi
if [ -f "$WHEEL" ]; then
  "$VENV/bin/python" -m pip install -q --no-index --no-deps --force-reinstall "$WHEEL"
fi
echo "==> core environment: $(du -sh "$VENV" | cut -f1)"
cd /tmp && HF_HUB_OFFLINE=1 "$OLDPWD/$VENV/bin/python" "$OLDPWD/scripts/core_smoke.py"
