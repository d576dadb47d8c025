"""build-disease-patterns: the Human Disease Ontology's names as Disease_disorder patterns."""

import json

from spacy.tokens import DocBin
from typer.testing import CliRunner

from spacy_clinical_ner.cli import app
from spacy_clinical_ner.cli.tools.patterns import disease_names, usable_disease_name
from spacy_clinical_ner.tokenizer import clinical_blank

OBO = """format-version: 1.2

[Term]
id: DOID:6543
name: acne vulgaris
synonym: "common acne" EXACT []
synonym: "pimples" RELATED []

[Term]
id: DOID:9352
name: type 2 diabetes mellitus
synonym: "NIDDM" EXACT []

[Term]
id: DOID:0000001
name: old term
is_obsolete: true

[Term]
id: DOID:2841
name: asthma

[Term]
id: DOID:1
name: shingles

[Typedef]
id: part_of
name: part of
"""


def test_disease_names_reads_names_and_exact_synonyms(tmp_path):
    (tmp_path / "do.obo").write_text(OBO)
    names = disease_names(tmp_path / "do.obo")
    assert names["acne vulgaris"] == names["common acne"] == "DOID:6543"
    assert "pimples" not in names and "old term" not in names and "part of" not in names


def test_usable_disease_name():
    assert usable_disease_name("acne vulgaris") and usable_disease_name("asthma")
    # digits, acronyms matched in lower case, short or generic words, bracketed alternatives
    for name in ("type 2 diabetes mellitus", "NIDDM", "gout", "syndrome", "(angina) or (preinfarction syndrome)"):
        assert not usable_disease_name(name)


def test_build_disease_patterns_leaves_out_names_the_gold_uses_otherwise(tmp_path):
    (tmp_path / "do.obo").write_text(OBO)
    nlp = clinical_blank()
    docs = []
    for text in ("Shingles vaccine given.", "Got the shingles vaccine.", "History of asthma."):
        doc = nlp.make_doc(text)
        if "asthma" in text:
            doc.ents = [doc.char_span(11, 17, label="Disease_disorder")]
        docs.append(doc)
    DocBin(docs=docs).to_disk(tmp_path / "gold.spacy")
    out = tmp_path / "patterns.jsonl"
    args = ["build-disease-patterns", str(out), "--obo", str(tmp_path / "do.obo"), "--gold", str(tmp_path / "gold.spacy")]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    patterns = [json.loads(line) for line in out.read_text().splitlines()]
    assert patterns == [
        {"label": "Disease_disorder", "pattern": "acne vulgaris", "id": "DOID:6543"},
        {"label": "Disease_disorder", "pattern": "asthma", "id": "DOID:2841"},
        {"label": "Disease_disorder", "pattern": "common acne", "id": "DOID:6543"},
    ]
    assert "shingles" in result.output  # named as left out
