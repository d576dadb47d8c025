"""The clinical tokenizer: what v2 splits (and keeps whole) in clinical text, that v1 is unchanged
for pipelines trained with it, and that the rules travel with a saved pipeline."""

import pytest
import spacy

from spacy_clinical_ner.tokenizer import clinical_blank


def blank(version: str):
    return spacy.blank("en", config={"nlp": {"tokenizer": {"@tokenizers": f"spacy-clinical-ner.ClinicalTokenizer.{version}"}}})


V2_CASES = [
    # units, operators and values
    ("5mg", ["5", "mg"]),
    ("100 mg/dL.", ["100", "mg", "/", "dL", "."]),
    ("EF=0.20", ["EF", "=", "0.20"]),
    ("≥30%", ["≥", "30", "%"]),
    ("<3 cm", ["<", "3", "cm"]),  # not spaCy's "<3" emoticon
    ("(GCS 8)", ["(", "GCS", "8", ")"]),  # not the "8)" emoticon
    ("died ∼4 months", ["died", "∼", "4", "months"]),
    ("HR:88", ["HR", ":", "88"]),
    ("10:30", ["10:30"]),
    # ranges: en and em dashes like hyphens
    ("3-4 days", ["3", "-", "4", "days"]),
    ("3–4 days", ["3", "–", "4", "days"]),
    ("L4–5", ["L4", "–", "5"]),
    ("C3–C4", ["C3", "–", "C4"]),
    ("very high—7443", ["very", "high", "—", "7443"]),
    # marker status and results in parentheses
    ("HER2+", ["HER2", "+"]),
    ("HER2-", ["HER2", "-"]),
    ("ER+/PR-/HER2-", ["ER", "+", "/", "PR", "-", "/", "HER2", "-"]),
    ("CD19−", ["CD19", "−"]),
    ("HbsAg(+)", ["HbsAg", "(", "+", ")"]),
    ("negative(-)", ["negative", "(", "-", ")"]),
    ("(COX)-deficient", ["(", "COX", ")", "-", "deficient"]),
    ("COVID-19", ["COVID-19"]),
    ("IL-6", ["IL-6"]),
    # reference markers
    ("fibers4", ["fibers", "4"]),
    ("in AVED.4 A", ["in", "AVED", ".", "4", "A"]),
    ("risk[4].", ["risk", "[", "4", "]", "."]),
    ("angle.(Fig.1).", ["angle", ".", "(Fig", ".", "1", ")", "."]),
    # slash abbreviations whole, other slashes split
    ("s/p CABG", ["s/p", "CABG"]),
    ("h/o DM", ["h/o", "DM"]),
    ("Pain: N/A", ["Pain", ":", "N/A"]),
    ("w/o", ["w/o"]),
    ("BP 120/80", ["BP", "120", "/", "80"]),
    # abbreviations spaCy keeps
    ("Dr. Smith", ["Dr.", "Smith"]),
    ("e.g. fever", ["e.g.", "fever"]),
]


@pytest.mark.parametrize("text,tokens", V2_CASES)
def test_v2_tokens(text, tokens):
    doc = clinical_blank()(text)
    assert [t.text for t in doc] == tokens
    assert doc.text == text


def test_v1_unchanged():
    """Pipelines trained with v1 name it in their config: its rules stay as they were."""
    nlp = blank("v1")
    assert [t.text for t in nlp("<3 cm")] == ["<3", "cm"]
    assert [t.text for t in nlp("3–4 days")] == ["3–4", "days"]
    assert [t.text for t in nlp("s/p")] == ["s", "/", "p"]


def test_offsets_and_odd_text():
    text = "Pt 😀 has\r\nfever\u00a0(38.5°C)\t≥5 µg\u2009/kg."
    doc = clinical_blank()(text)
    assert doc.text == text
    assert all(text[t.idx : t.idx + len(t.text)] == t.text for t in doc)
    assert clinical_blank()("").text == ""


def test_rules_travel_with_the_pipeline(tmp_path):
    nlp = clinical_blank()
    nlp.to_disk(tmp_path / "m")
    loaded = spacy.load(tmp_path / "m")
    assert loaded.config["nlp"]["tokenizer"]["@tokenizers"] == "spacy-clinical-ner.ClinicalTokenizer.v2"
    for text, tokens in V2_CASES:
        assert [t.text for t in loaded(text)] == tokens
    # the rules themselves are saved: a plain English pipeline given the bytes tokenizes the same
    plain = spacy.blank("en")
    plain.tokenizer.from_bytes(nlp.tokenizer.to_bytes())
    assert [t.text for t in plain("ER+/PR-/HER2- <3 cm s/p")] == ["ER", "+", "/", "PR", "-", "/", "HER2", "-", "<", "3", "cm", "s/p"]
