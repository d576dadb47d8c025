"""Visit-note NER parts: the name guard, the entity confidence, the notes corpus and its scorer."""

import random

import numpy as np
import pytest
import spacy
from spacy.tokens import Doc, DocBin, Span
from spacy.training import Example
from spacy.util import fix_random_seed

from spacy_clinical_ner.confidence.component import expected_calibration_error, isotonic_fit
from spacy_clinical_ner.tokenizer import clinical_blank

TRAIN = [
    ("Andrew Perez reports knee pain and fever.", [("knee", "Biological_structure"), ("pain", "Sign_symptom"), ("fever", "Sign_symptom")]),
    ("She takes Motrin 800 mg for the pain.", [("Motrin", "Medication"), ("800 mg", "Dosage"), ("pain", "Sign_symptom")]),
    ("No fever or chills today.", [("fever", "Sign_symptom"), ("chills", "Sign_symptom")]),
    ("History of hypertension, on lisinopril.", [("hypertension", "Disease_disorder"), ("lisinopril", "Medication")]),
    ("Perez has swelling of the ankle.", [("Perez", "Sign_symptom"), ("swelling", "Sign_symptom"), ("ankle", "Biological_structure")]),
]


def _example(nlp, text, ents):
    doc = nlp.make_doc(text)
    spans = []
    for word, label in ents:
        i = text.index(word)
        spans.append(doc.char_span(i, i + len(word), label=label))
    gold = doc.copy()
    gold.ents = spans
    return Example(nlp.make_doc(text), gold)


@pytest.fixture(scope="module")
def trained_nlp():
    """A real tok2vec + ner trained (overfitted) on a few notes sentences."""
    nlp = clinical_blank()
    nlp.add_pipe("tok2vec")
    nlp.add_pipe("ner")
    examples = [_example(nlp, t, e) for t, e in TRAIN]
    random.seed(0)
    optimizer = nlp.initialize(lambda: examples)
    for _ in range(60):
        random.shuffle(examples)
        nlp.update(examples, sgd=optimizer, drop=0.1)
    return nlp


# ---------------------------------------------------------------- name guard


def test_name_guard_finds_names_and_blocks_them():
    nlp = clinical_blank()
    nlp.add_pipe("clinical_name_guard")
    doc = nlp("Andrew Perez is a 62-year-old male. Mr. Perez denies fever. I saw Dr. Gutierrez last week. Parkinson disease.")
    names = [s.text for s in doc.spans["person_names"]]
    assert names == ["Andrew Perez", "Mr. Perez", "Dr. Gutierrez"]
    blocked = [t.text for t in doc if t.ent_iob == 3 and t.ent_type == 0]
    assert blocked == ["Andrew", "Perez", "Mr.", "Perez", "Dr.", "Gutierrez"]
    assert "Parkinson" not in blocked


def test_name_guard_keeps_clinical_words_and_eponyms():
    nlp = clinical_blank()
    nlp.add_pipe("clinical_name_guard")
    doc = nlp("Graves disease. Hope is that the Chest X-ray is normal. Bell palsy. May Appointment.")
    assert list(doc.spans["person_names"]) == []


def test_name_guard_keeps_ner_off_names(trained_nlp):
    text = "Perez has swelling of the ankle."
    assert "Perez" in [e.text for e in trained_nlp(text).ents]
    nlp = trained_nlp
    nlp.add_pipe("clinical_name_guard", first=True)
    try:
        doc = nlp("Brian Perez has swelling of the ankle.")
        assert not any("Perez" in e.text or "Brian" in e.text for e in doc.ents)
        assert "swelling" in [e.text for e in doc.ents]
    finally:
        nlp.remove_pipe("clinical_name_guard")


def test_name_guard_empty_doc_and_round_trip(tmp_path):
    nlp = clinical_blank()
    guard = nlp.add_pipe("clinical_name_guard")
    guard.first_names = {"Zorblax"}
    assert len(nlp("").spans["person_names"]) == 0
    nlp.to_disk(tmp_path / "p")
    nlp2 = spacy.load(tmp_path / "p")
    assert nlp2.get_pipe("clinical_name_guard").first_names == {"Zorblax"}
    doc = nlp2("Zorblax Smith came.")
    assert [s.text for s in doc.spans["person_names"]] == ["Zorblax Smith"]
    nlp3 = clinical_blank()
    nlp3.add_pipe("clinical_name_guard").from_bytes(guard.to_bytes())
    assert nlp3.get_pipe("clinical_name_guard").first_names == {"Zorblax"}


# ---------------------------------------------------------------- confidence


def test_isotonic_fit_is_monotone_and_calibrates():
    rng = np.random.default_rng(0)
    raw = rng.random(2000)
    correct = (rng.random(2000) < raw**2).astype(int)
    x, y = isotonic_fit(raw, correct)
    assert all(a <= b for a, b in zip(y, y[1:]))
    calibrated = np.interp(raw, x, y)
    assert expected_calibration_error(calibrated, correct) < expected_calibration_error(raw, correct)
    assert expected_calibration_error([], []) == 0.0


def test_confidence_on_every_entity(trained_nlp):
    nlp = trained_nlp
    nlp.add_pipe("clinical_entity_confidence")
    try:
        docs = list(nlp.pipe(["She takes Motrin 800 mg for the pain.", "", "No fever today but knee pain."]))
        ents = [e for d in docs for e in d.ents]
        assert ents
        assert all(0.0 <= e._.confidence <= 1.0 for e in ents)
        assert max(e._.confidence for e in ents) > 0.5
        assert len(docs[1].ents) == 0
        # DocBin keeps it
        db = DocBin(store_user_data=True, docs=docs)
        back = list(DocBin().from_bytes(db.to_bytes()).get_docs(nlp.vocab))
        assert [e._.confidence for d in back for e in d.ents] == [e._.confidence for e in ents]
        # n_process=2 keeps it
        multi = list(nlp.pipe(["She takes Motrin 800 mg for the pain.", "No fever today but knee pain."] * 2, n_process=2, batch_size=2))
        assert all(e._.confidence is not None and 0.0 <= e._.confidence <= 1.0 for d in multi for e in d.ents)
    finally:
        nlp.remove_pipe("clinical_entity_confidence")


def test_confidence_calibration_threshold_and_round_trip(trained_nlp, tmp_path):
    nlp = trained_nlp
    conf = nlp.add_pipe("clinical_entity_confidence")
    try:
        texts = [t for t, _ in TRAIN]
        predicted = [nlp.get_pipe("ner")(nlp.get_pipe("tok2vec")(nlp.make_doc(t))) for t in texts]
        gold = [_example(nlp, t, e).reference for t, e in TRAIN]
        info = conf.fit_calibration(predicted, gold)
        assert info["entities"] > 0 and 0.0 <= info["accuracy"] <= 1.0
        assert conf.calibration and len(conf.calibration["x"]) == len(conf.calibration["y"])
        nlp.to_disk(tmp_path / "p")
        nlp2 = spacy.load(tmp_path / "p")
        loaded = nlp2.get_pipe("clinical_entity_confidence").calibration
        assert loaded["method"] == conf.calibration["method"] == "greedy"
        assert loaded["x"] == pytest.approx(conf.calibration["x"]) and loaded["y"] == pytest.approx(conf.calibration["y"])
        # one threshold setting trades recall for precision
        strict = spacy.load(tmp_path / "p", config={"components": {"clinical_entity_confidence": {"threshold": 1.0}}})
        n_all = sum(len(d.ents) for d in nlp2.pipe(texts))
        n_strict = sum(len(d.ents) for d in strict.pipe(texts))
        assert n_strict <= n_all
        assert all(e._.confidence >= 1.0 for d in strict.pipe(texts) for e in d.ents)
    finally:
        nlp.remove_pipe("clinical_entity_confidence")


def test_greedy_confidence_follows_the_ner_and_ranks(trained_nlp):
    """The greedy replay scores exactly the NER's entities; a memorised entity scores high, a forced odd one low."""
    nlp = trained_nlp
    conf = nlp.add_pipe("clinical_entity_confidence")
    try:
        assert conf.method == "greedy"
        doc = nlp("She takes Motrin 800 mg for the pain.")
        scores = conf.raw_scores([doc])[0]
        assert set(scores) == {(e.start_char, e.end_char, e.label_) for e in doc.ents}
        assert all(0.0 <= v <= 1.0 for v in scores.values())
        motrin = next(e for e in doc.ents if e.text == "Motrin")
        assert motrin.label_ == "Medication" and scores[(motrin.start_char, motrin.end_char, "Medication")] > 0.8
        # the same doc with an entity the model did not choose: the replay gives it a low probability
        odd = nlp("She takes Motrin 800 mg for the pain.")
        odd.ents = [Span(odd, 0, 2, label="Date")]
        odd_score = conf.raw_scores([odd])[0][(0, len("She takes"), "Date")]
        assert odd_score < 0.2
        # a rule entity (ent_id_ set) gets no model score: the dictionary precision instead
        ruled = nlp.make_doc("Zoloft daily")
        ruled.ents = [Span(ruled, 0, 1, label="Medication", span_id="Sertraline")]
        assert ruled.ents[0].ent_id_ == "Sertraline"
        assert conf.raw_scores([ruled])[0] == {}
        conf.calibration = {"x": [0.0, 1.0], "y": [0.0, 1.0], "dictionary": 0.77}
        assert conf.confidence_of(ruled.ents[0], {}) == pytest.approx(0.77)
        # the beam marginal stays available
        conf.method = "beam"
        beam = conf.raw_scores([doc])[0]
        assert all(0.0 <= v <= 1.0 + 1e-6 for v in beam.values())
    finally:
        nlp.remove_pipe("clinical_entity_confidence")


def test_greedy_confidence_replays_past_blocked_names(trained_nlp):
    """Tokens the name guard blocked are replayed with the NER's forced action: the entities after a name are scored."""
    nlp = trained_nlp
    nlp.add_pipe("clinical_name_guard", first=True)
    conf = nlp.add_pipe("clinical_entity_confidence")
    try:
        doc = nlp("Andrew Perez reports knee pain and fever.")
        assert [s.text for s in doc.spans["person_names"]] == ["Andrew Perez"]
        assert doc.ents and all(e.start >= 2 for e in doc.ents)
        scores = conf.raw_scores([doc])[0]
        assert set(scores) == {(e.start_char, e.end_char, e.label_) for e in doc.ents}
        assert all(0.0 < v <= 1.0 for v in scores.values())
        # an entity after the name that the model would not choose scores low: the replay got past the name
        # (a replay stopped at the name left every later entity at 1.0)
        knee = doc[3:4]
        assert knee.text == "knee"
        doc.ents = [Span(doc, 3, 4, label="Date")]
        assert conf.raw_scores([doc])[0][(knee.start_char, knee.end_char, "Date")] < 0.5
    finally:
        nlp.remove_pipe("clinical_entity_confidence")
        nlp.remove_pipe("clinical_name_guard")


@pytest.fixture(scope="module")
def listener_nlp():
    """tok2vec + an ner that reads it through a Tok2VecListener (the shipped configs' layout)."""
    nlp = clinical_blank()
    nlp.add_pipe("tok2vec")
    listener = {"@architectures": "spacy.Tok2VecListener.v1", "width": 96, "upstream": "*"}
    nlp.add_pipe("ner", config={"model": {"@architectures": "spacy.TransitionBasedParser.v2", "state_type": "ner", "extra_state_tokens": False, "hidden_width": 64, "maxout_pieces": 2, "use_upper": True, "tok2vec": listener}})
    examples = [_example(nlp, t, e) for t, e in TRAIN]
    random.seed(0)
    fix_random_seed(0)  # the same weights in every run
    optimizer = nlp.initialize(lambda: examples)
    for _ in range(60):
        random.shuffle(examples)
        nlp.update(examples, sgd=optimizer, drop=0.1)
    return nlp


@pytest.mark.parametrize("pipeline", ["trained_nlp", "listener_nlp"])
def test_greedy_confidence_equals_a_full_replay(pipeline, request):
    """The greedy scores equal a replay of the whole doc with the transition system's own validity at every
    step: with a listener NER each entity is replayed on its own tokens (the NER's features never reach
    outside the entity), with an NER that embeds its own tokens the whole text is replayed."""
    from spacy.training import offsets_to_biluo_tags

    nlp = request.getfixturevalue(pipeline)
    conf = nlp.add_pipe("clinical_entity_confidence")
    ner = nlp.get_pipe("ner")
    moves = ner.moves
    names = [moves.get_class_name(c) for c in range(moves.n_moves)]
    try:
        docs = list(nlp.pipe([t for t, _ in TRAIN] + ["Knee pain. Motrin 800 mg and fever", "fever"]))
        # entities the model would not choose too, so that low probabilities are compared as well
        forced = nlp("Motrin for knee pain since Monday")
        forced.ents = [Span(forced, 0, 2, label="Medication"), Span(forced, 3, 5, label="Dosage"), Span(forced, 5, 6, label="Sign_symptom")]
        docs.append(forced)
        compared = 0
        for doc in docs:
            ours = conf.greedy_scores([doc])[0]
            replay = Doc(doc.vocab, words=[t.text for t in doc], spaces=[bool(t.whitespace_) for t in doc])
            replay.tensor = doc.tensor
            replay.set_ents([], default="missing")
            step = ner.model.predict([replay])
            state = moves.init_batch([replay])[0]
            probs = []
            for act in offsets_to_biluo_tags(doc, [(e.start_char, e.end_char, e.label_) for e in doc.ents]):
                row = step.predict([state])[0]
                valid = np.array([moves.is_valid(state, n) for n in names])
                z = np.exp(np.where(valid, row, -np.inf) - row[valid].max())
                probs.append(z[names.index(act)] / z.sum())
                moves.apply_transition(state, act)
            for e in doc.ents:
                # float32: the entity-only replay multiplies smaller matrices than the full one (another summation
                # order), which moves a probability by up to ~1e-3 of itself; a wrong validity mask moves it by far more
                assert ours[(e.start_char, e.end_char, e.label_)] == pytest.approx(float(np.prod(probs[e.start : e.end])), rel=2e-3, abs=1e-5)
                compared += 1
        assert compared >= 5
        assert conf._reads_doc_tensor() == (pipeline == "listener_nlp")
    finally:
        nlp.remove_pipe("clinical_entity_confidence")


def test_roc_auc_matches_the_rank_definition():
    from spacy_clinical_ner.confidence.component import roc_auc

    assert roc_auc([0.1, 0.4, 0.35, 0.8], [0, 0, 1, 1]) == pytest.approx(0.75)
    assert roc_auc([0.5, 0.5], [0, 1]) == pytest.approx(0.5)


def test_confidence_bad_settings():
    nlp = clinical_blank()
    with pytest.raises(ValueError, match="E901"):
        nlp.add_pipe("clinical_entity_confidence", config={"beam_width": 1})
    with pytest.raises(ValueError, match="E902"):
        nlp.add_pipe("clinical_entity_confidence", config={"threshold": 2.0})
    with pytest.raises(ValueError, match="E906"):
        nlp.add_pipe("clinical_entity_confidence", config={"method": "softmax"})
    nlp.add_pipe("clinical_entity_confidence")
    doc = Doc(nlp.vocab, words=["fever"])
    doc.ents = [Span(doc, 0, 1, label="Sign_symptom")]
    with pytest.raises(ValueError, match="E903"):
        nlp.get_pipe("clinical_entity_confidence")(doc)


# ---------------------------------------------------------------- the visit-note corpus


def _notes_tool():
    import importlib.util
    from pathlib import Path

    path = Path(__file__).resolve().parents[1] / "scripts" / "notes_corpus.py"
    spec = importlib.util.spec_from_file_location("notes_corpus", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_notes_corpus_converts_with_exact_counts(repo_dir, tmp_path):
    from collections import Counter

    from spacy_clinical_ner.readers.convert import convert_brat

    brat = repo_dir / "corpus" / "notes" / "annotated" / "brat"
    report = convert_brat(brat, tmp_path / "notes", progress=False, split_file=brat.parent / "split.json")
    t = report["totals"]
    assert t["documents"] == 455 and (len(report["splits"]["train"]), len(report["splits"]["dev"])) == (367, 88)
    # the 274 documents of the first release keep their split; the 181 added since are placed by their id
    assert len(report["split_unlisted"]) == 181 and report["split_missing"] == []
    assert (t["entities"], t["entities_exact"], t["entities_expanded"], t["entities_unplaced"]) == (9506, 9501, 5, 0)
    assert t["attributes"] == 2871
    # every T line of every .ann is in the DocBins: doc.ents (flat) or the all-entities span group
    n_lines = sum(1 for ann in brat.glob("*.ann") for line in ann.read_text(encoding="utf8").splitlines() if line.startswith("T"))
    nlp = clinical_blank()
    docs = [d for split in ("train", "dev") for d in DocBin().from_disk(tmp_path / "notes" / f"{split}.spacy").get_docs(nlp.vocab)]
    assert sum(len(d.spans["entities"]) for d in docs) == n_lines == 9506
    labels = Counter(e.label_ for d in docs for e in d.ents)
    assert set(labels) <= set(_notes_tool().LABELS)
    # the reserved ACI-BENCH test notes and the main job's samples are not in the corpus
    ids = {p.stem for p in brat.glob("*.txt")}
    assert not ids & {"aci_D2N068", "aci_D2N069"}
    import csv

    for name in ("clinicalnlp_taskB_test1.csv", "clinicalnlp_taskC_test2.csv", "clef_taskC_test3.csv"):
        with (repo_dir / "corpus" / "notes" / "aci_bench" / name).open(encoding="utf8", newline="") as f:
            test_notes = {row["note"] for row in csv.DictReader(f)}
        assert not any((brat / f"{i}.txt").read_text(encoding="utf8") in test_notes for i in ids if i.startswith("aci_"))


def test_notes_markup_refuses_changed_text_and_overlaps():
    tool = _notes_tool()
    source = "No fever.\nKnee pain  today."
    ents = tool.parse_markup("No [[Sign_symptom+negated|fever]].\n[[Biological_structure|Knee]] [[Sign_symptom|pain]] today.", source)
    assert [(source[s:e], label, attrs) for s, e, label, attrs in ents] == [
        ("fever", "Sign_symptom", ["negated"]),
        ("Knee", "Biological_structure", []),
        ("pain", "Sign_symptom", []),
    ]
    with pytest.raises(ValueError, match="differs from the source"):
        tool.parse_markup("No [[Sign_symptom|fevers]].\nKnee pain today.", source)
    with pytest.raises(ValueError, match="unknown label"):
        tool.parse_markup("No [[Symptom|fever]].\nKnee pain today.", source)
    with pytest.raises(ValueError, match="unknown attribute"):
        tool.parse_markup("No [[Sign_symptom+absent|fever]].\nKnee pain today.", source)
    ann = tool.to_ann(ents, source)
    assert "A1\tPOLARITY T1 NEG" in ann and ann.count("\nT") == 2
