"""Smoke test of the core install (run by scripts/core_smoke.sh inside .venv-core, never in .venv).

The core (`pip install .`, no extras) must load and run the packaged CPU pipeline without torch,
transformers, nmslib or pyspark. This script checks, in the core environment:

1. none of those modules is installed, and every entry point of the package resolves;
2. a rule-based pipeline of the package's own components (sentences, sections, names, ConText, the
   linker over the UMLS fixture KB in tests/fixtures/linking) saves, reloads through the entry points and
   annotates the sample notes with `clinical-ner annotate` (JSONL, BRAT, HTML);
3. when the packaged pipeline `en_clinical_ner_cnn` is installed: `spacy.load` and `clinical-ner annotate`
   of the sample notes with it;
4. a feature of a missing extra (`--format fhir`) stops with E619, naming the extra.

Prints one line per check and exits non-zero on the first failure.
"""

import importlib.util
import json
import subprocess
import sys
import tempfile
from importlib.metadata import entry_points
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SAMPLES = REPO / "corpus" / "samples"
HEAVY = ("torch", "transformers", "spacy_transformers", "nmslib", "pyspark", "scispacy", "medspacy")
GROUPS = ("spacy_factories", "spacy_architectures", "spacy_tokenizers", "spacy_readers", "spacy_scorers", "spacy_augmenters", "spacy_misc")


def check(ok: bool, what: str) -> None:
    print(("ok    " if ok else "FAIL  ") + what, flush=True)
    if not ok:
        sys.exit(1)


def annotate(model: str, out: Path, formats: str = "jsonl,brat,html") -> subprocess.CompletedProcess:
    cmd = [sys.executable, "-m", "spacy_clinical_ner", "annotate", str(SAMPLES), str(out), "--model", model]
    return subprocess.run([*cmd, "--format", formats, "--no-progress", "--overwrite"], capture_output=True, text=True)


def records(out: Path) -> list:
    return [json.loads(line) for line in (out / "annotations.jsonl").read_text(encoding="utf8").splitlines()]


def main() -> None:
    installed = [m for m in HEAVY if importlib.util.find_spec(m) is not None]
    check(not installed, f"core environment without {', '.join(HEAVY)} (installed: {installed or 'none'})")
    eps = [ep for group in GROUPS for ep in entry_points(group=group) if ep.value.startswith("spacy_clinical_ner")]
    for ep in eps:
        ep.load()
    check(len(eps) >= 27, f"{len(eps)} spaCy entry points of the package resolve")
    origin = Path(importlib.util.find_spec("spacy_clinical_ner").origin)
    check(origin.is_relative_to(Path(sys.prefix)), f"the installed package is imported, not the checkout ({origin.parent})")

    import spacy

    from spacy_clinical_ner.linking.builders import create_umls_kb
    from spacy_clinical_ner.tokenizer import clinical_blank

    tmp = Path(tempfile.mkdtemp(prefix="core-smoke-"))
    nlp = clinical_blank()
    for name in ("clinical_name_guard", "clinical_sectionizer"):
        nlp.add_pipe(name)
    ruler = nlp.add_pipe("entity_ruler", config={"phrase_matcher_attr": "LOWER"})
    terms = {"Sign_symptom": ["fever", "cough", "pain", "chest pain"], "Disease_disorder": ["diabetes", "hypertension", "pneumonia"]}
    ruler.add_patterns([{"label": label, "pattern": t} for label, ts in terms.items() for t in ts])
    for name in ("clinical_sentencizer", "clinical_context", "umls_linker"):
        nlp.add_pipe(name)
    nlp.get_pipe("umls_linker").initialize(kb=create_umls_kb(REPO / "tests" / "fixtures" / "linking"))
    nlp.to_disk(tmp / "rules")
    check(spacy.load(tmp / "rules").pipe_names == nlp.pipe_names, "rule-based pipeline saves and reloads through the entry points")
    proc = annotate(str(tmp / "rules"), tmp / "out_rules")
    check(proc.returncode == 0, f"clinical-ner annotate with it: {proc.stderr.strip().splitlines()[-1:] }")
    recs = records(tmp / "out_rules")
    n_ents = sum(len(r["entities"]) for r in recs)
    linked = sum(1 for r in recs for e in r["entities"] if e["concept_id"])
    check(len(recs) == len(list(SAMPLES.glob("*.txt"))) and n_ents > 0, f"{len(recs)} notes, {n_ents} entities, {linked} linked")

    if spacy.util.is_package("en_clinical_ner_cnn"):
        nlp = spacy.load("en_clinical_ner_cnn")
        doc = nlp((SAMPLES / "case_report.txt").read_text(encoding="utf8"))
        check(len(doc.ents) > 0, f"spacy.load('en_clinical_ner_cnn') {nlp.pipe_names}: {len(doc.ents)} entities in case_report.txt")
        proc = annotate("en_clinical_ner_cnn", tmp / "out_cnn")
        check(proc.returncode == 0, f"clinical-ner annotate with en_clinical_ner_cnn: {proc.stderr.strip().splitlines()[-1:]}")
        recs = records(tmp / "out_cnn")
        systems = sorted({e["concept_system"] for r in recs for e in r["entities"] if e["concept_system"]})
        check(all(not r["error"] for r in recs), f"{sum(len(r['entities']) for r in recs)} entities, concept systems {systems}")
    else:
        print("skip  en_clinical_ner_cnn is not installed in the core environment (no wheel under packages/ yet)")

    proc = annotate(str(tmp / "rules"), tmp / "out_fhir", formats="jsonl,fhir")
    check(proc.returncode != 0 and "spacy-clinical-ner[fhir]" in proc.stderr, "--format fhir without the [fhir] extra: E619 names it")
    loaded = [m for m in HEAVY if m in sys.modules]
    check(not loaded, f"nothing heavy was imported (loaded: {loaded or 'none'})")


if __name__ == "__main__":
    main()
