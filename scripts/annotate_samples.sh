#!/usr/bin/env bash
# The main job (README): set up .venv, make sure the packaged clinical pipeline is installed,
# annotate the sample notes in corpus/samples and print them as tables.
#
# First run on a fresh clone: `spacy project run pipeline` converts MACCROBAT, builds the open
# knowledge base, trains the CPU NER, the assertion classifier and the relation extractor,
# assembles them into one pipeline and packages it as a wheel (about 20 minutes on 2 cores,
# with progress bars); the wheel is then pip-installed into .venv. Later runs reuse it.
#
#   MODEL=training/assembled/cnn bash scripts/annotate_samples.sh   # another pipeline (name or path)
#   INPUT=my_notes/ OUTPUT=annotations/mine bash scripts/annotate_samples.sh
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
export HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 TOKENIZERS_PARALLELISM=false
PY=.venv/bin/python
MODEL=${MODEL:-en_clinical_ner_cnn}
INPUT=${INPUT:-corpus/samples}
OUTPUT=${OUTPUT:-annotations/samples}
VERSION=$(sed -n 's/^  version: "\(.*\)"/\1/p' project.yml | head -1)
WHEEL="packages/en_clinical_ner_cnn-${VERSION}/dist/en_clinical_ner_cnn-${VERSION}-py3-none-any.whl"

if [ "$MODEL" = "en_clinical_ner_cnn" ] && ! "$PY" -c "import en_clinical_ner_cnn" 2>/dev/null; then
  if [ ! -f "$WHEEL" ]; then
    echo "==> no packaged pipeline yet: spacy project run pipeline (convert, build KB, train, assemble, package)"
    "$PY" -m spacy project run pipeline
  fi
  echo "==> installing $WHEEL into .venv"
  "$PY" -m pip install -q --no-deps --force-reinstall "$WHEEL"
fi

echo "==> annotating $INPUT with $MODEL -> $OUTPUT (jsonl, FHIR R4B, BRAT, HTML)"
"$PY" -m spacy_clinical_ner annotate "$INPUT" "$OUTPUT" --model "$MODEL" --format jsonl,fhir,brat,html --overwrite
"$PY" -m spacy_clinical_ner show "$OUTPUT/annotations.jsonl"
echo "==> files in $OUTPUT: annotations.jsonl (one record per note), fhir/, brat/, html/, run.json"
