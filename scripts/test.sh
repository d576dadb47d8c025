#!/usr/bin/env bash
# The test command (README, .ci/run): set up, then lint and run the whole test suite offline.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
if [ -f scripts/install_browser.sh ]; then bash scripts/install_browser.sh; fi
export HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 TOKENIZERS_PARALLELISM=false
echo "==> ruff"
.venv/bin/ruff check spacy_clinical_ner tests benchmarks
echo "==> pytest"
.venv/bin/python -m pytest -q --durations=15 "$@"
