"""clinical_dictionary_ruler: spaCy's entity_ruler whose phrase patterns are tokenized without the pipeline."""

import re

import pytest
import spacy
from spacy.language import Language

from spacy_clinical_ner.tokenizer import clinical_blank

PATTERNS = [
    {"label": "Medication", "pattern": "Motrin", "id": "Ibuprofen"},
    {"label": "Medication", "pattern": "acetylsalicylic acid", "id": "Aspirin"},
    {"label": "Medication", "pattern": [{"LOWER": "zoloft"}], "id": "Sertraline"},
]
TEXT = "Took MOTRIN and Acetylsalicylic acid, then zoloft daily for fever."
CALLS = {"n": 0}


@Language.component("test_counting_component")
def counting_component(doc):
    CALLS["n"] += 1
    return doc


def _pipeline(factory, tmp_path=None):
    nlp = clinical_blank()
    nlp.add_pipe("test_counting_component")
    ruler = nlp.add_pipe(factory, name="drug_ruler", config={"phrase_matcher_attr": "LOWER", "overwrite_ents": False})
    return nlp, ruler


def test_same_matches_as_entity_ruler_without_running_the_pipeline_on_patterns(tmp_path):
    stock, stock_ruler = _pipeline("entity_ruler")
    ours, our_ruler = _pipeline("clinical_dictionary_ruler")
    CALLS["n"] = 0
    stock_ruler.add_patterns(PATTERNS)
    assert CALLS["n"] == 2  # spaCy runs the components before the ruler on each phrase pattern
    CALLS["n"] = 0
    our_ruler.add_patterns(PATTERNS)
    assert CALLS["n"] == 0
    expected = [(e.text, e.label_, e.ent_id_) for e in stock(TEXT).ents]
    assert expected == [("MOTRIN", "Medication", "Ibuprofen"), ("Acetylsalicylic acid", "Medication", "Aspirin"), ("zoloft", "Medication", "Sertraline")]
    assert [(e.text, e.label_, e.ent_id_) for e in ours(TEXT).ents] == expected
    # saved and loaded: the patterns come back the same way, the matches too
    ours.to_disk(tmp_path / "p")
    CALLS["n"] = 0
    loaded = spacy.load(tmp_path / "p")
    assert CALLS["n"] == 0
    assert [(e.text, e.label_, e.ent_id_) for e in loaded(TEXT).ents] == expected
    assert len(loaded(loaded.make_doc("")).ents) == 0


@pytest.mark.parametrize("attr", [None, "ORTH", "LOWER"])
def test_lexical_attrs_use_the_tokenizer(attr):
    nlp = clinical_blank()
    ruler = nlp.add_pipe("clinical_dictionary_ruler", config={"phrase_matcher_attr": attr})
    ruler.add_patterns([{"label": "Medication", "pattern": "Motrin"}])
    assert [e.text for e in nlp("Motrin 800 mg").ents] == ["Motrin"]


def _as_tests(doc, pattern):
    """Every match of ``pattern`` as a Diagnostic_procedure entity, as a confused NER would give it."""
    doc.ents = [doc.char_span(m.start(), m.end(), label="Diagnostic_procedure") for m in re.finditer(pattern, doc.text)]
    return doc


@Language.component("test_wrong_labels")
def wrong_labels(doc):
    """Stands in for an NER that never saw the brand: gives it, and a lab analyte, the label of a test."""
    return _as_tests(doc, r"Crestor|[Ff]erritin")


@pytest.mark.parametrize("relabel", [True, False])
def test_relabel_names_gives_a_capitalised_drug_name_mid_sentence_the_pattern_label(relabel, tmp_path):
    nlp = clinical_blank()
    nlp.add_pipe("test_wrong_labels")
    ruler = nlp.add_pipe("clinical_dictionary_ruler", config={"relabel_names": relabel})
    ruler.add_patterns(
        [
            {"label": "Medication", "pattern": "crestor", "id": "Rosuvastatin"},
            {"label": "Medication", "pattern": "ferritin", "id": "Ferritin"},
        ]
    )
    text = "She takes Crestor daily.\nFerritin 20 ng/mL. Crestor was stopped; ferritin was low."
    got = [(e.text, e.label_, e.ent_id_) for e in nlp(text).ents]
    if relabel:
        # mid-sentence capitalised name: relabelled with the pattern's id; line- and sentence-initial
        # words and lower-case words keep the label the NER gave them
        assert got == [
            ("Crestor", "Medication", "Rosuvastatin"),
            ("Ferritin", "Diagnostic_procedure", ""),
            ("Crestor", "Diagnostic_procedure", ""),
            ("ferritin", "Diagnostic_procedure", ""),
        ]
    else:
        assert all(label == "Diagnostic_procedure" for _, label, _ in got)
    nlp.to_disk(tmp_path / "p")
    assert [(e.text, e.label_, e.ent_id_) for e in spacy.load(tmp_path / "p")(text).ents] == got


@Language.component("test_test_labels")
def drug_phrases_as_tests(doc):
    """Stands in for an NER that calls drug phrases tests: every entity below as a Diagnostic_procedure."""
    return _as_tests(doc, r"blood pressure medication|COVID-19 vaccine|medication|cream|vitamin D deficiency")


def test_relabel_heads_gives_a_multi_word_entity_the_label_of_its_head(tmp_path):
    nlp = clinical_blank()
    nlp.add_pipe("test_test_labels")
    heads = {"Medication": ["medication", "vaccine"], "Disease_disorder": ["deficiency"]}
    nlp.add_pipe("clinical_dictionary_ruler", config={"relabel_heads": heads})
    text = "She forgets her blood pressure medication. Got the COVID-19 vaccine. No medication. Uses a cream. Has vitamin D deficiency."
    expected = [
        ("blood pressure medication", "Medication"),
        ("COVID-19 vaccine", "Medication"),
        ("medication", "Diagnostic_procedure"),  # one word: what the NER said
        ("cream", "Diagnostic_procedure"),
        ("vitamin D deficiency", "Disease_disorder"),
    ]
    assert [(e.text, e.label_) for e in nlp(text).ents] == expected
    nlp.to_disk(tmp_path / "p")
    assert [(e.text, e.label_) for e in spacy.load(tmp_path / "p")(text).ents] == expected


@Language.component("test_wrong_brand_labels")
def wrong_brand_labels(doc):
    return _as_tests(doc, r"MiraLAX|Crestor|ASA")


def test_relabel_names_takes_a_mixed_case_brand_anywhere():
    nlp = clinical_blank()
    nlp.add_pipe("test_wrong_brand_labels")
    ruler = nlp.add_pipe("clinical_dictionary_ruler", config={"relabel_names": True})
    ruler.add_patterns([{"label": "Medication", "pattern": p} for p in ("miralax", "crestor", "asa")])
    # a brand spelt in mixed case is a name even where a line starts; a title-case word there and an
    # all-caps word keep the NER's label
    text = "MEDICATIONS\nMiraLAX.\nCrestor.\nASA daily."
    assert [(e.text, e.label_) for e in nlp(text).ents] == [
        ("MiraLAX", "Medication"),
        ("Crestor", "Diagnostic_procedure"),
        ("ASA", "Diagnostic_procedure"),
    ]


@Language.component("test_long_spans")
def long_spans(doc):
    """Stands in for an NER that runs a name into its dose and cuts a two-word name short."""
    spans = []
    for m in re.finditer(r"Cozaar 100 mg|Norvasc|Vitamin(?= D)", doc.text):
        label = "Dosage" if m.group().startswith("Cozaar") else "Medication"
        spans.append(doc.char_span(m.start(), m.end(), label=label))
    doc.ents = spans
    return doc


@pytest.mark.parametrize("repair", [True, False])
def test_repair_spans_splits_a_name_off_its_dose_and_widens_a_part_of_a_name(repair, tmp_path):
    nlp = clinical_blank()
    nlp.add_pipe("test_long_spans")
    ruler = nlp.add_pipe("clinical_dictionary_ruler", config={"repair_spans": repair})
    ruler.add_patterns([{"label": "Medication", "pattern": p, "id": p.title()} for p in ("cozaar", "norvasc", "vitamin d")])
    text = "Continue Cozaar 100 mg daily, Norvasc 5 mg and Vitamin D."
    got = [(e.text, e.label_) for e in nlp(text).ents]
    if repair:
        assert got == [("Cozaar", "Medication"), ("100 mg", "Dosage"), ("Norvasc", "Medication"), ("Vitamin D", "Medication")]
        assert [e.ent_id_ for e in nlp(text).ents][0] == "Cozaar"
    else:
        assert got == [("Cozaar 100 mg", "Dosage"), ("Norvasc", "Medication"), ("Vitamin", "Medication")]
    nlp.to_disk(tmp_path / "p")
    assert [(e.text, e.label_) for e in spacy.load(tmp_path / "p")(text).ents] == got
