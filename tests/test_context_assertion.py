"""The multi-attribute assertion classifier (AssertionClassifier.v2): all six attributes, the corpus
mask, the deciding cue record, and the v1 (negation-only softmax) pipelines still loading.

The sentences are written for these tests (not taken from any corpus)."""

import numpy
import pytest
import spacy
from spacy.training import Example
from thinc.api import Adam

import spacy_clinical_ner.context
from spacy_clinical_ner.assertion.component import MULTI_LABELS
from spacy_clinical_ner.context.attributes import CONDITIONAL, assertion_class, write_span_values
from spacy_clinical_ner.context.corpus import copy_entities
from spacy_clinical_ner.context.errors import ContextRuleError
from spacy_clinical_ner.context.scorer import GOLD_TYPES_KEY, gold_values, score_context
from spacy_clinical_ner.extensions import install_doc_extensions
from spacy_clinical_ner.tokenizer import clinical_blank

NOTE_TYPES = ["POLARITY", "HYPOTHETICAL", "CONDITIONAL", "HISTORICAL", "FAMILY"]
ALL = list(MULTI_LABELS)

# (text, [(surface, label, {BRAT attribute: value})])
NOTES = [
    ("Please come back to the clinic if you notice swelling.", [("swelling", "Sign_symptom", {"HYPOTHETICAL": True})]),
    ("She had a stroke years ago.", [("stroke", "Disease_disorder", {"HISTORICAL": True})]),
    ("He reports a cough today.", [("cough", "Sign_symptom", {})]),
    ("Knee pain when climbing stairs.", [("pain", "Sign_symptom", {"CONDITIONAL": True})]),
    ("No rash on the arms.", [("rash", "Sign_symptom", {"POLARITY": "NEG"})]),
    ("His mother has diabetes.", [("diabetes", "Disease_disorder", {"FAMILY": True})]),
    (
        "Appendectomy in the past, now wheezing.",
        [("Appendectomy", "Therapeutic_procedure", {"HISTORICAL": True}), ("wheezing", "Sign_symptom", {})],
    ),
]


def config(decide=ALL, architecture="spacy-clinical-ner.AssertionClassifier.v2"):
    return {
        "nlp": {
            "lang": "en",
            "pipeline": ["clinical_sectionizer", "clinical_sentencizer", "clinical_context", "clinical_assertion"],
            "tokenizer": {"@tokenizers": "spacy-clinical-ner.ClinicalTokenizer.v2"},
        },
        "components": {
            "clinical_sectionizer": {"factory": "clinical_sectionizer"},
            "clinical_sentencizer": {"factory": "clinical_sentencizer"},
            "clinical_context": {"factory": "clinical_context", "spans_key": "entities", "include_ents": False},
            "clinical_assertion": {
                "factory": "clinical_assertion",
                "spans_key": "entities",
                "include_ents": False,
                "decide": list(decide),
                "model": {"@architectures": architecture},
            },
        },
    }


def gold_doc(nlp, text, ents, types=NOTE_TYPES):
    """A reference doc as the BRAT reader makes it: spans in doc.spans["entities"], attributes in doc._.brat."""
    install_doc_extensions()
    doc = nlp.make_doc(text)
    spans, records = [], []
    for k, (surface, label, attrs) in enumerate(ents, start=1):
        i = text.index(surface)
        span = doc.char_span(i, i + len(surface), label=label)
        span.id_ = f"T{k}"
        spans.append(span)
        records.append({"id": f"T{k}", "label": label, "start": i, "end": i + len(surface), "attributes": attrs})
    doc.spans["entities"] = spans
    doc.ents = spans
    doc._.brat = {"entities": records, "attributes": [{"name": n} for r in records for n in r["attributes"]]}
    doc.user_data[GOLD_TYPES_KEY] = list(types)
    return doc


def examples(nlp, rows=NOTES, types=NOTE_TYPES):
    return [Example(copy_entities(ref, nlp.make_doc(ref.text), "entities"), ref) for ref in (gold_doc(nlp, t, e, types) for t, e in rows)]


def train(nlp, egs, steps=80):
    optimizer = Adam(0.02)
    nlp.initialize(lambda: egs, sgd=optimizer)
    for _ in range(steps):
        nlp.update(egs, sgd=optimizer, exclude=["clinical_sectionizer", "clinical_sentencizer", "clinical_context"])
    return nlp


def predict(nlp, egs):
    out = []
    for eg in egs:
        doc = nlp(eg.predicted.copy())
        out.append(
            [
                (s.text, {a for a in MULTI_LABELS if a != "conditional" and getattr(s._, a)}, s._.assertion, s._.context_cues)
                for s in doc.spans["entities"]
            ]
        )
    return out


@pytest.fixture(scope="module")
def no_rules_nlp():
    """Trained with no ConText rule: every attribute must come from the classifier."""
    nlp = spacy.util.load_model_from_config(config(), auto_fill=True)
    nlp.get_pipe("clinical_context").set_rules([])
    return train(nlp, examples(nlp))


def test_overfits_hypothetical_and_historical_with_its_own_cue(no_rules_nlp):
    nlp = no_rules_nlp
    got = {text: (attrs, assertion, cues) for doc in predict(nlp, examples(nlp)) for text, attrs, assertion, cues in doc}
    assert got["swelling"][:2] == ({"is_hypothetical"}, "hypothetical")
    assert got["stroke"][:2] == ({"is_historical"}, "present")  # i2b2 has no historical class
    assert got["Appendectomy"][:2] == ({"is_historical"}, "present")
    assert got["pain"][:2] == (set(), "conditional")
    assert got["rash"][:2] == ({"is_negated"}, "absent")
    assert got["diabetes"][:2] == ({"is_family"}, "associated_with_someone_else")
    assert got["cough"][:2] == (set(), "present") and got["wheezing"][:2] == (set(), "present")
    text = {surface: t for t, ents in NOTES for surface, _, _ in ents}
    for surface, category in (("swelling", "HYPOTHETICAL"), ("stroke", "HISTORICAL"), ("pain", "CONDITIONAL_EXISTENCE")):
        cue = got[surface][2][0]  # the deciding record comes first
        assert cue["source"] == "classifier" and cue["category"] == category and cue["rule"].startswith("classifier:")
        assert 0.5 < cue["score"] <= 1.0
        if cue["text"]:  # the word whose weight pushed most, with its offsets in the note
            assert text[surface][cue["start"] : cue["end"]] == cue["text"]


def test_agreeing_rule_keeps_its_cue_record():
    nlp = spacy.util.load_model_from_config(config(), auto_fill=True)
    egs = examples(nlp)
    train(nlp, egs)
    got = {text: (attrs, cues) for doc in predict(nlp, egs) for text, attrs, _, cues in doc}
    attrs, cues = got["rash"]
    assert attrs == {"is_negated"}
    # ConText's "no" decided it and the classifier agreed: the rule's record, with the classifier's score
    assert cues[0]["source"] == "context" and cues[0]["text"] == "No" and cues[0]["attribute"] == "is_negated"
    assert cues[0]["score"] > 0.5 and not cues[0].get("overruled")


def test_classifier_overrules_a_rule_and_marks_it():
    nlp = spacy.util.load_model_from_config(config(decide=["is_negated"]), auto_fill=True)
    # gold says "no" does not negate here (a contrived corpus): the classifier learns to veto the rule
    rows = [("No rash on the arms.", [("rash", "Sign_symptom", {})]), ("He reports a cough today.", [("cough", "Sign_symptom", {})])]
    egs = examples(nlp, rows)
    train(nlp, egs)
    (rash,), _ = predict(nlp, egs)
    assert rash[1] == set() and rash[2] == "present"
    assert rash[3][0]["overruled"] is True and rash[3][0]["source"] == "context"


def test_corpus_mask_leaves_unannotated_attributes_out_of_the_loss():
    nlp = spacy.util.load_model_from_config(config(), auto_fill=True)
    polarity_only = examples(nlp, NOTES[:2], types=["POLARITY"])  # a MACCROBAT-like corpus: says nothing of history
    notes = examples(nlp, NOTES[:2])
    train(nlp, notes, steps=1)
    pipe = nlp.get_pipe("clinical_assertion")
    _, truth, mask = pipe._gold_batch(polarity_only)
    assert truth[:, pipe.labels.index("is_historical")].tolist() == [0.0, 0.0]  # gold cannot express it
    assert mask.tolist() == [[1.0 if a in ("is_negated", "is_uncertain") else 0.0 for a in pipe.labels]] * 2
    probs = nlp.get_pipe("clinical_assertion").model.ops.asarray2f(numpy.full(truth.shape, 0.7, dtype="float32"))
    _, d = pipe.get_loss(polarity_only, (probs, truth, mask))
    assert not d[:, 2:].any() and d[:, :2].all()
    _, truth, mask = pipe._gold_batch(notes)
    assert mask.all() and truth[1, pipe.labels.index("is_historical")] == 1.0


def test_attributes_no_training_document_annotates_keep_the_rules():
    nlp = spacy.util.load_model_from_config(config(), auto_fill=True)
    egs = examples(nlp, NOTES, types=["POLARITY"])  # gold says nothing about history, hypotheticals, family
    train(nlp, egs, steps=5)
    pipe = nlp.get_pipe("clinical_assertion")
    assert pipe.cfg["trained"] == ["is_negated", "is_uncertain"] and pipe.decided == ["is_negated", "is_uncertain"]
    got = {t: (a, cues) for doc in predict(nlp, egs) for t, a, _, cues in doc}
    # ConText's own decision, not an untrained output's coin toss
    assert got["swelling"][0] == {"is_hypothetical"} and got["swelling"][1][0]["source"] == "context"
    assert not any(
        c.get("source") == "classifier" and c["attribute"] not in ("is_negated", "is_uncertain") for _, cues in got.values() for c in cues
    )


def test_scorer_reads_the_notes_attributes():
    nlp = clinical_blank()
    egs = examples(nlp)
    gold, can = gold_values(egs[1].reference, list(egs[1].reference.spans["entities"]))
    assert can == set(MULTI_LABELS) and list(gold.values()) == [dict.fromkeys(MULTI_LABELS, False) | {"is_historical": True}]
    # without the declaration, a MACCROBAT-style doc can only express polarity
    ref = gold_doc(nlp, "No rash on the arms.", [("rash", "Sign_symptom", {"POLARITY": "NEG"})], types=[])
    del ref.user_data[GOLD_TYPES_KEY]
    assert gold_values(ref, list(ref.spans["entities"]))[1] == {"is_negated", "is_uncertain"}
    scored = []
    for eg in egs:  # a prediction that copies the gold: attributes, and "conditional" as the assertion class
        pred = eg.predicted.copy()
        gold, _ = gold_values(eg.reference, list(eg.reference.spans["entities"]))
        for (start, end), values in gold.items():
            write_span_values(pred, start, end, values, CONDITIONAL if values[CONDITIONAL] else assertion_class(values), [])
        scored.append(Example(pred, eg.reference))
    scores = score_context(scored, spans_key="entities", include_ents=False)
    assert all(scores[f"context_{a}_f"] == 1.0 for a in ("negated", "hypothetical", "historical", "family", "conditional"))
    assert scores["context_uncertain_f"] == 0.0  # no uncertain gold here: defined, not None


def test_add_pipe_empty_doc_and_round_trip(no_rules_nlp, tmp_path):
    nlp = no_rules_nlp
    assert nlp.get_pipe("clinical_assertion").cfg["decide"] == ALL and nlp.get_pipe("clinical_assertion").multilabel
    with pytest.warns(UserWarning, match="W301"):  # no 'entities' group on a plain text
        assert not nlp("").ents
    empty = nlp.make_doc("")
    empty.spans["entities"] = []
    assert len(nlp(empty)) == 0
    egs = examples(nlp)
    expected = predict(nlp, egs)
    nlp.to_disk(tmp_path / "v2")
    loaded = spacy.load(tmp_path / "v2")
    assert loaded.get_pipe("clinical_assertion").labels == MULTI_LABELS
    assert predict(loaded, egs) == expected
    from_bytes = spacy.util.load_model_from_config(config(), auto_fill=True)
    from_bytes.get_pipe("clinical_context").set_rules([])
    from_bytes.from_bytes(nlp.to_bytes())
    assert predict(from_bytes, egs) == expected
    # decide set at load time (the config wins over the saved cfg): rules only for everything but negation
    narrowed = spacy.load(tmp_path / "v2", config={"components": {"clinical_assertion": {"decide": ["is_negated"]}}})
    got = {t: a for doc in predict(narrowed, egs) for t, a, _, _ in doc}
    assert got["rash"] == {"is_negated"} and got["stroke"] == set()  # no rule left to call it historical


def test_add_pipe_defaults():
    nlp = clinical_blank()
    nlp.add_pipe("clinical_sentencizer")
    nlp.add_pipe("clinical_context")
    pipe = nlp.add_pipe("clinical_assertion", config={"decide": ALL})
    assert pipe.multilabel and pipe.labels == MULTI_LABELS
    doc = nlp.make_doc("Call if you have fever.")
    doc.ents = [doc.char_span(17, 22, label="Sign_symptom")]
    nlp.initialize(lambda: [Example(doc.copy(), doc.copy())])
    out = nlp(doc)
    assert out.ents[0]._.assertion in spacy_clinical_ner.context.ASSERTION_CLASSES
    with pytest.raises(ContextRuleError, match="decide may hold"):
        nlp.add_pipe("clinical_assertion", name="bad", config={"decide": ["is_sad"]})


def test_v1_pipeline_still_trains_saves_and_loads(tmp_path):
    cfg = config(decide=["is_negated"], architecture="spacy-clinical-ner.AssertionClassifier.v1")
    nlp = spacy.util.load_model_from_config(cfg, auto_fill=True)
    pipe = nlp.get_pipe("clinical_assertion")
    assert not pipe.multilabel and pipe.labels == ("present", "negated", "uncertain")
    egs = examples(nlp, types=["POLARITY"])
    train(nlp, egs)
    expected = predict(nlp, egs)
    assert {t: a for doc in expected for t, a, _, _ in doc}["rash"] == {"is_negated"}
    nlp.to_disk(tmp_path / "v1")
    loaded = spacy.load(tmp_path / "v1")
    assert not loaded.get_pipe("clinical_assertion").multilabel
    assert predict(loaded, egs) == expected
    with pytest.raises(ContextRuleError, match="decide may hold"):
        spacy.util.load_model_from_config(
            config(decide=["is_historical"], architecture="spacy-clinical-ner.AssertionClassifier.v1"), auto_fill=True
        )
