"""ConText assertions, clinical sentences and sections, the assertion classifier."""

import json

import pytest
import spacy
import srsly
from confection import ConfigValidationError
from spacy.tokens import Doc, DocBin, Span
from spacy.training import Example

import spacy_clinical_ner.context
from spacy_clinical_ner.context import ContextRule, default_rules, load_rules, medspacy_rules
from spacy_clinical_ner.context.corpus import copy_entities
from spacy_clinical_ner.context.errors import ContextRuleError
from spacy_clinical_ner.context.scorer import score_context
from spacy_clinical_ner.errors import ClinicalNERError
from spacy_clinical_ner.extensions import install_doc_extensions
from spacy_clinical_ner.sentences import clinical_sentence_starts
from spacy_clinical_ner.tokenizer import clinical_blank

ATTRS = ("is_negated", "is_uncertain", "is_historical", "is_hypothetical", "is_family")


def make_nlp(**context_cfg):
    nlp = clinical_blank()
    nlp.add_pipe("clinical_sentencizer")
    nlp.add_pipe("clinical_sectionizer")
    nlp.add_pipe("clinical_context", config=context_cfg)
    return nlp


def annotate(nlp, text, ents):
    """Run ``nlp`` on ``text`` with the given (surface, label) entities placed in doc.ents."""
    doc = nlp.make_doc(text)
    spans = []
    for surface, label in ents:
        i = text.index(surface)
        spans.append(doc.char_span(i, i + len(surface), label=label))
    doc.ents = spans
    for _, proc in nlp.pipeline:
        doc = proc(doc)
    return doc


def values(span):
    return {a for a in ATTRS if getattr(span._, a)}


@pytest.fixture(scope="module")
def ctx_nlp():
    return make_nlp()


# ---------------------------------------------------------------------------- attributes
@pytest.mark.parametrize(
    "text,ents,expected,assertion",
    [
        (
            "The patient denies chest pain or palpitations.",
            [("chest pain", "PROBLEM"), ("palpitations", "PROBLEM")],
            [{"is_negated"}] * 2,
            ["absent"] * 2,
        ),
        ("Chest x-ray was negative for infiltrate.", [("infiltrate", "PROBLEM")], [{"is_negated"}], ["absent"]),
        ("Findings are suspicious for malignancy.", [("malignancy", "PROBLEM")], [{"is_uncertain"}], ["possible"]),
        ("Cannot rule out early ischemia.", [("ischemia", "PROBLEM")], [{"is_uncertain"}], ["possible"]),
        ("She has a history of hypertension.", [("hypertension", "PROBLEM")], [{"is_historical"}], ["present"]),
        ("Return if you develop fever.", [("fever", "PROBLEM")], [{"is_hypothetical"}], ["hypothetical"]),
        (
            "His father had a myocardial infarction.",
            [("myocardial infarction", "PROBLEM")],
            [{"is_family"}],
            ["associated_with_someone_else"],
        ),
        ("He reports chest pain on exertion.", [("chest pain", "PROBLEM")], [set()], ["conditional"]),
        (
            "No fever, but she reports a productive cough.",
            [("fever", "PROBLEM"), ("productive cough", "PROBLEM")],
            [{"is_negated"}, set()],
            ["absent", "present"],
        ),
        ("There is no significant change in the pleural effusion.", [("pleural effusion", "PROBLEM")], [set()], ["present"]),
        (
            "Hematologic toxicity, hypertension, proteinuria, and rash were not observed.",
            [
                ("Hematologic toxicity", "Sign_symptom"),
                ("hypertension", "Sign_symptom"),
                ("proteinuria", "Sign_symptom"),
                ("rash", "Sign_symptom"),
            ],
            [{"is_negated"}] * 4,
            ["absent"] * 4,
        ),
        ("The nasogastric tube was discontinued.", [("nasogastric tube", "Therapeutic_procedure")], [{"is_negated"}], ["absent"]),
        ("Immunohistochemistry was negative for cytokeratin.", [("cytokeratin", "Diagnostic_procedure")], [set()], ["present"]),
    ],
)
def test_attributes_and_assertion(ctx_nlp, text, ents, expected, assertion):
    doc = annotate(ctx_nlp, text, ents)
    assert [values(e) for e in doc.ents] == expected
    assert [e._.assertion for e in doc.ents] == assertion


def test_ignored_labels_are_left_alone(ctx_nlp):
    doc = annotate(ctx_nlp, "No cutaneous lesions were seen.", [("cutaneous", "Biological_structure"), ("lesions", "Sign_symptom")])
    anatomy, lesion = doc.ents
    assert lesion._.is_negated and not anatomy._.is_negated
    everything = make_nlp(ignored_labels=[])
    doc = annotate(everything, "No cutaneous lesions were seen.", [("cutaneous", "Biological_structure"), ("lesions", "Sign_symptom")])
    assert all(e._.is_negated for e in doc.ents)


def test_cue_record(ctx_nlp):
    text = "Abdomen is soft, without hepatosplenomegaly."
    doc = annotate(ctx_nlp, text, [("hepatosplenomegaly", "PROBLEM")])
    (cue, *_) = doc.ents[0]._.context_cues
    assert {"text", "start", "end", "category", "rule", "direction", "attribute", "source"} <= set(cue)
    assert text[cue["start"] : cue["end"]] == cue["text"] == "without"
    assert cue["category"] == "NEGATED_EXISTENCE" and cue["attribute"] == "is_negated" and cue["source"] == "context"
    assert cue["rule"] in {r.literal for r in default_rules()}
    json.dumps(doc.ents[0]._.context_cues)  # plain data


def test_deciding_cue_comes_first(ctx_nlp):
    doc = annotate(ctx_nlp, "There is no family history of colon cancer.", [("colon cancer", "PROBLEM")])
    span = doc.ents[0]
    assert span._.is_negated and span._.is_family
    assert span._.assertion == "associated_with_someone_else"
    assert span._.context_cues[0]["category"] == "FAMILY"


def test_section_sets_family_with_header_as_cue(ctx_nlp):
    text = "HISTORY OF PRESENT ILLNESS\nShe reports headaches.\n\nFamily history: Mother with breast cancer.\n"
    doc = annotate(ctx_nlp, text, [("headaches", "PROBLEM"), ("breast cancer", "PROBLEM")])
    headaches, cancer = doc.ents
    assert not headaches._.is_family and cancer._.is_family
    assert cancer._.clinical_section == "family_history"
    section_cue = [c for c in cancer._.context_cues if c["source"] == "section"][0]
    assert section_cue["rule"] == "section:family_history" and text[section_cue["start"] : section_cue["end"]].startswith("Family history")
    assert [s["category"] for s in doc._.clinical_sections] == ["history_of_present_illness", "family_history"]


def test_section_titles_are_blocked_for_a_following_ner():
    """Before ``ner``, the sectionizer marks header tokens as outside any entity; a NER trained
    to tag the header words leaves them alone there and still tags them in running text."""
    text = "PHYSICAL EXAMINATION\nPHYSICAL EXAMINATION was normal."
    train = clinical_blank()
    ner = train.add_pipe("ner")
    ner.add_label("PROC")
    examples = []
    for t in ("PHYSICAL EXAMINATION\nNormal.", "PHYSICAL EXAMINATION was done.", "PHYSICAL EXAMINATION showed nothing."):
        examples.append(Example.from_dict(train.make_doc(t), {"entities": [(0, 20, "PROC")]}))
    optimizer = train.initialize(lambda: examples)
    for _ in range(30):
        train.update(examples, sgd=optimizer)
    for block in (True, False):
        nlp = clinical_blank()
        nlp.add_pipe("clinical_sectionizer", config={"block_titles": block})
        nlp.add_pipe("ner", source=train)
        doc = nlp(text)
        in_title = [e for e in doc.ents if e.start_char < len("PHYSICAL EXAMINATION")]
        assert [s["category"] for s in doc._.clinical_sections] == ["physical_exam"]
        assert (in_title == []) is block
        assert [e.start_char for e in doc.ents if e.start_char > 0] == [21]  # running text: not a header
    # list bullets opening a line are blocked too; other tokens stay unannotated for the NER
    nlp = clinical_blank()
    nlp.add_pipe("clinical_sectionizer")
    doc = nlp("• Neck: supple.\n- Lungs clear, 1 - 2 beats.")
    blocked = [t.text for t in doc if t.ent_iob_ and not t.ent_type_]
    # (the colon after "Neck" ends a line-opening label: blocked too, see the next test)
    assert blocked == ["•", ":", "-"] and all(t.ent_iob_ == "" for t in doc if t.text not in ("•", ":", "-") or t.i > 8)
    # placed after the NER, existing entities are kept as they are
    nlp = clinical_blank()
    nlp.add_pipe("ner", source=train)
    nlp.add_pipe("clinical_sectionizer")
    assert [e.start_char for e in nlp(text).ents][:1] == [0]


def test_label_colons_and_reporting_verbs_are_blocked(tmp_path):
    """Visit-note lines ("Respiratory: Denies cough.") keep the label's colon and the reporting
    verb out of entities; colons and verbs elsewhere are left to the NER unless listed."""
    text = (
        "Respiratory: Denies cough.\n• HR: 77 bpm\nShe reports fatigue, titer: 1/40, and denied fever.\nNeurological/Psychological: normal."
    )
    nlp = clinical_blank()
    nlp.add_pipe("clinical_sectionizer")
    doc = nlp(text)
    blocked = [(t.text, t.i) for t in doc if t.ent_iob_ and not t.ent_type_]  # blocked: spaCy's B without a type
    colons = [t.i for t in doc if t.text == ":"]
    label_colons = [i for i in colons if doc[i - 1].text in ("Respiratory", "HR", "Psychological")]
    assert len(label_colons) == 3 and len(colons) == 4  # "titer:" does not open the line
    assert [t for t, _ in blocked] == [":", "Denies", "•", ":", "reports", ":"]
    assert {i for t, i in blocked if t == ":"} == set(label_colons)
    # "denied" is MACCROBAT's own wording (History entities may start with it): not blocked
    assert all(t.ent_iob_ == "" for t in doc if t.text in ("denied", "fever", "Respiratory", "cough"))
    # both options can be switched off or changed, and are saved with the pipeline
    nlp = clinical_blank()
    nlp.add_pipe("clinical_sectionizer", config={"block_label_colons": False, "block_words": ["Denied"]})
    nlp.to_disk(tmp_path / "p")
    loaded = spacy.load(tmp_path / "p")
    assert loaded.get_pipe("clinical_sectionizer").cfg["block_words"] == ["denied"]
    doc = loaded(text)
    assert [t.text for t in doc if t.ent_iob_ and not t.ent_type_] == ["•", "denied"]
    with pytest.raises(ContextRuleError, match="block_words"):
        clinical_blank().add_pipe("clinical_sectionizer", config={"block_words": ["denies", ""]})


def test_family_history_in_running_text_is_not_a_section(ctx_nlp):
    doc = annotate(ctx_nlp, "He had a strong family history of ataxia and presented with dysarthria.", [("dysarthria", "PROBLEM")])
    assert doc._.clinical_sections == []
    assert not doc.ents[0]._.is_family


def test_empty_and_entity_less_docs(ctx_nlp):
    empty = ctx_nlp("")
    assert len(empty) == 0 and empty._.clinical_sections == [] and not empty.ents
    doc = ctx_nlp("No fever. No chills.\n")
    assert [s.text.strip() for s in doc.sents] == ["No fever.", "No chills."]  # the sentencizer ran
    assert len(doc.ents) == 0 and doc._.clinical_sections == []
    assert not any(k for k in doc.user_data if isinstance(k, tuple) and k[1] in ATTRS)


def test_doc_without_sentence_boundaries():
    nlp = clinical_blank()
    nlp.add_pipe("clinical_context")
    doc = annotate(nlp, "No fever. Cough has been present for a week.", [("fever", "PROBLEM"), ("Cough", "PROBLEM")])
    assert not doc.has_annotation("SENT_START")  # nothing was written
    fever, cough = doc.ents
    assert fever._.is_negated and not cough._.is_negated


def test_missing_span_group():
    nlp = clinical_blank()
    nlp.add_pipe("clinical_context", config={"spans_key": "problems", "include_ents": True})
    doc = annotate(nlp, "No fever.", [("fever", "PROBLEM")])
    assert doc.ents[0]._.is_negated  # the group is optional when doc.ents are read too
    only_group = clinical_blank()
    only_group.add_pipe("clinical_context", config={"spans_key": "problems", "include_ents": False})
    with pytest.warns(UserWarning, match="W301"):
        doc = annotate(only_group, "No fever.", [("fever", "PROBLEM")])
    assert not doc.ents[0]._.is_negated


def test_very_long_note(ctx_nlp):
    para = "The patient denies chest pain. She has a history of asthma. Mild cough was noted, without fever.\n"
    text = para * 400  # ~8,000 words, 2,400 sentences
    doc = ctx_nlp.make_doc(text)
    ents = []
    for k in range(400):
        base = k * len(para)
        for surface in ("chest pain", "asthma", "cough", "fever"):
            i = base + para.index(surface)
            ents.append(doc.char_span(i, i + len(surface), label="PROBLEM"))
    doc.ents = ents
    for _, proc in ctx_nlp.pipeline:  # speed: benchmarks (README "Long notes"), not a timed test
        doc = proc(doc)
    got = [tuple(sorted(values(e))) for e in doc.ents]
    assert got == [("is_negated",), ("is_historical",), (), ("is_negated",)] * 400


# ---------------------------------------------------------------------------- serialization
def test_to_disk_load_with_added_rules(tmp_path):
    nlp = make_nlp()
    ctx = nlp.get_pipe("clinical_context")
    n_default = len(ctx.rules)
    ctx.add(ContextRule("nil by mouth", "NEGATED_EXISTENCE", "FORWARD"))
    ctx.add({"literal": "query", "category": "POSSIBLE_EXISTENCE", "direction": "FORWARD", "max_scope": 3})
    nlp.get_pipe("clinical_sectionizer").add({"literal": "Genetic counselling", "category": "family_history"})
    text = "Genetic counselling:\nBrother with Marfan syndrome.\n\nAssessment:\nquery sepsis. Nil by mouth paracetamol."
    ents = [("Marfan syndrome", "PROBLEM"), ("sepsis", "PROBLEM"), ("paracetamol", "TREATMENT")]
    doc = annotate(nlp, text, ents)
    assert [values(e) for e in doc.ents] == [{"is_family"}, {"is_uncertain"}, {"is_negated"}]
    nlp.to_disk(tmp_path / "pipe")
    assert (tmp_path / "pipe" / "clinical_context" / "context_rules.json").exists()
    loaded = spacy.load(tmp_path / "pipe")
    assert len(loaded.get_pipe("clinical_context").rules) == n_default + 2
    doc2 = annotate(loaded, text, ents)
    assert [(values(e), e._.assertion, e._.context_cues) for e in doc2.ents] == [
        (values(e), e._.assertion, e._.context_cues) for e in doc.ents
    ]


def test_saved_pipeline_does_not_need_the_rules_file(tmp_path):
    rules_file = tmp_path / "rules.json"
    rules_file.write_text(json.dumps({"context_rules": [{"literal": "absent", "category": "NEGATED_EXISTENCE", "direction": "BACKWARD"}]}))
    nlp = clinical_blank()
    nlp.add_pipe("clinical_context", config={"rules": str(rules_file)})
    nlp.to_disk(tmp_path / "pipe")
    rules_file.unlink()
    loaded = spacy.load(tmp_path / "pipe")
    doc = annotate(loaded, "Pulses absent.", [("Pulses", "PROBLEM")])
    assert doc.ents[0]._.is_negated
    fresh = clinical_blank()
    fresh.add_pipe("clinical_context", config={"rules": str(rules_file)})
    with pytest.raises(ClinicalNERError, match="E302"):
        fresh.initialize()


def test_to_bytes_round_trip():
    nlp = make_nlp()
    ctx = nlp.get_pipe("clinical_context")
    ctx.add(ContextRule("nil by mouth", "NEGATED_EXISTENCE", "FORWARD"))
    other = make_nlp(rules="none").get_pipe("clinical_context")
    assert other.rules == []
    other.from_bytes(ctx.to_bytes())
    assert other.rules == ctx.rules and other.cfg == ctx.cfg
    # the sentencizer's settings come from the config (spacy.load(..., config=...) overrides them):
    # its bytes only record them, and a saved setting it does not know is an error
    config = {"newlines": "always", "abbreviations": ["approx"]}
    sent = clinical_blank().add_pipe("clinical_sentencizer", config=config)
    sent2 = clinical_blank().add_pipe("clinical_sentencizer", config=config).from_bytes(sent.to_bytes())
    doc = sent2(clinical_blank().make_doc("The pain radiates\nto the arm approx. twice a day."))
    assert sent2.cfg == sent.cfg and len(list(doc.sents)) == 2
    default = clinical_blank().add_pipe("clinical_sentencizer").from_bytes(sent.to_bytes())
    assert default.cfg["newlines"] == "smart"
    with pytest.raises(ContextRuleError, match="E307"):
        default.from_bytes(srsly.msgpack_dumps({"cfg": {"no_such_setting": 1}}))


def test_from_config():
    config = {
        "nlp": {
            "lang": "en",
            "pipeline": ["clinical_sentencizer", "clinical_context"],
            "tokenizer": {"@tokenizers": "spacy-clinical-ner.ClinicalTokenizer.v2"},
        },
        "components": {
            "clinical_sentencizer": {"factory": "clinical_sentencizer"},
            "clinical_context": {
                "factory": "clinical_context",
                "rules": "medspacy",
                "max_scope": 5,
                "spans_key": "sc",
                "include_ents": False,
            },
        },
    }
    nlp = spacy.util.load_model_from_config(config, auto_fill=True, validate=True)
    ctx = nlp.get_pipe("clinical_context")
    assert len(ctx.rules) == len(medspacy_rules()) == 102
    assert ctx.cfg["max_scope"] == 5 and ctx.cfg["spans_key"] == "sc"
    with pytest.raises(ConfigValidationError):
        spacy.util.load_model_from_config(
            {**config, "components": {**config["components"], "clinical_context": {"factory": "clinical_context", "max_scope": "far"}}}
        )


def test_docbin_and_multiprocessing_round_trip(ctx_nlp):
    texts = ["Denies nausea. History of asthma.", "Possible pneumonia. Mother had colon cancer."]
    ents = [[("nausea", "PROBLEM"), ("asthma", "PROBLEM")], [("pneumonia", "PROBLEM"), ("colon cancer", "PROBLEM")]]
    docs = [annotate(ctx_nlp, t, e) for t, e in zip(texts, ents, strict=True)]
    expected = [[(values(e), e._.assertion, e._.context_cues) for e in d.ents] for d in docs]
    assert expected[0][0][0] == {"is_negated"} and expected[1][1][1] == "associated_with_someone_else"
    db = DocBin(store_user_data=True, docs=docs)
    restored = list(DocBin().from_bytes(db.to_bytes()).get_docs(ctx_nlp.vocab))
    assert [[(values(e), e._.assertion, e._.context_cues) for e in d.ents] for d in restored] == expected
    # n_process=2: docs with entities in, annotations back
    raw = []
    for t, e in zip(texts, ents, strict=True):
        d = ctx_nlp.make_doc(t)
        d.ents = [d.char_span(t.index(s), t.index(s) + len(s), label=lab) for s, lab in e]
        raw.append(d)
    piped = list(ctx_nlp.pipe(raw, n_process=2, batch_size=1))
    assert [[(values(e), e._.assertion, e._.context_cues) for e in d.ents] for d in piped] == expected


# ---------------------------------------------------------------------------- medspaCy
def test_same_edges_as_medspacy_on_its_rules():
    import medspacy  # noqa: F401 - registers medspacy_context and its extensions

    sentences = [
        ("No evidence of pneumonia or effusion.", ["pneumonia", "effusion"]),
        ("Patient denies chest pain but reports nausea.", ["chest pain", "nausea"]),
        ("History of stroke, now with possible TIA.", ["stroke", "TIA"]),
        ("Mother had breast cancer.", ["breast cancer"]),
        ("Return if fever develops.", ["fever"]),
        ("Pneumonia has been ruled out.", ["Pneumonia"]),
    ]
    ours = clinical_blank()
    ours.add_pipe("sentencizer")
    ours.add_pipe(
        "clinical_context",
        config={"rules": "medspacy", "trim_cues": False, "coordination": False, "ignored_labels": [], "section_attrs": None},
    )
    theirs = clinical_blank()
    theirs.add_pipe("sentencizer")
    theirs.add_pipe("medspacy_context")
    for text, surfaces in sentences:
        ents = [(s, "PROBLEM") for s in surfaces]
        a = [values(e) for e in annotate(ours, text, ents).ents]
        b = [values(e) for e in annotate(theirs, text, ents).ents]
        assert a == b, text


def test_rules_round_trip_and_validation(tmp_path):
    rules = default_rules()
    assert len({r.literal for r in rules}) == len(rules)
    assert [ContextRule.from_dict(r.to_dict()) for r in rules] == rules
    ms = medspacy_rules()
    assert [ContextRule.from_medspacy(r.to_medspacy()) for r in ms] == ms
    assert [ContextRule.from_medspacy(r.to_medspacy()) for r in rules] == rules  # usable in medspaCy too
    path = tmp_path / "r.jsonl"
    path.write_text("\n".join(json.dumps(r.to_dict()) for r in ms[:3]))
    assert load_rules(path) == ms[:3]
    with pytest.raises(ContextRuleError, match="E301"):
        ContextRule.from_dict({"literal": "x", "category": "NEGATED_EXISTENCE", "direction": "SIDEWAYS"})
    with pytest.raises(ContextRuleError, match="E301"):
        ContextRule.from_dict({"literal": "x", "category": "NEGATED_EXISTENCE", "colour": "red"})
    with pytest.raises(ContextRuleError, match="E301"):
        ContextRule("x", "NEGATED_EXISTENCE", allowed_types=["A"], excluded_types=["B"])


# ---------------------------------------------------------------------------- sentences
@pytest.mark.parametrize(
    "text,expected",
    [
        ("Mass (Fig. 2) was seen. No fever.", ["Mass (Fig. 2) was seen.", "No fever."]),
        ("Symptoms, e.g. Fever and chills, resolved. Discharged home.", ["Symptoms, e.g. Fever and chills, resolved.", "Discharged home."]),
        ("Culture grew A. fumigatus in two samples.", ["Culture grew A. fumigatus in two samples."]),
        ("PLAN\n1. Start aspirin\n2. Stop warfarin", ["PLAN", "1. Start aspirin", "2. Stop warfarin"]),
        ("Family history: Mother with lupus.", ["Family history:", "Mother with lupus."]),
        ("Edema: none.", ["Edema: none."]),
        ("The pain radiates\nto the left arm.", ["The pain radiates\nto the left arm."]),
    ],
)
def test_clinical_sentence_boundaries(text, expected):
    nlp = clinical_blank()
    nlp.add_pipe("clinical_sentencizer")
    assert [s.text.strip() for s in nlp(text).sents] == expected


def test_sentencizer_save_and_overwrite(tmp_path):
    nlp = clinical_blank()
    nlp.add_pipe("clinical_sentencizer", config={"newlines": "always", "abbreviations": ["approx"]})
    nlp.to_disk(tmp_path / "s")
    loaded = spacy.load(tmp_path / "s")
    assert loaded.get_pipe("clinical_sentencizer").cfg == nlp.get_pipe("clinical_sentencizer").cfg
    assert len(list(loaded("The pain radiates\nto the arm.").sents)) == 2
    assert clinical_sentence_starts(loaded.make_doc("")) == []
    with pytest.raises(ContextRuleError, match="E304"):
        clinical_blank().add_pipe("clinical_sentencizer", config={"newlines": "sometimes"})


# ---------------------------------------------------------------------------- scoring
def test_score_keys_through_nlp_evaluate(ctx_nlp):
    install_doc_extensions()
    examples = []
    for text, surface, negated in (("No fever today.", "fever", True), ("Cough since Monday.", "Cough", False)):
        pred = ctx_nlp.make_doc(text)
        ref = ctx_nlp.make_doc(text)
        i = text.index(surface)
        pred.ents = [pred.char_span(i, i + len(surface), label="PROBLEM")]
        ref.ents = [ref.char_span(i, i + len(surface), label="PROBLEM")]
        ref.ents[0]._.is_negated = negated
        examples.append(Example(pred, ref))
    scores = ctx_nlp.evaluate(examples)
    for attr in ("negated", "uncertain", "historical", "hypothetical", "family"):
        assert {f"context_{attr}_p", f"context_{attr}_r", f"context_{attr}_f"} <= set(scores)
    assert scores["context_negated_f"] == 1.0
    assert ctx_nlp.get_pipe_meta("clinical_context").default_score_weights["context_negated_f"] == 1.0


def test_overlap_scores_pair_spans_one_to_one(ctx_nlp):
    """``context_<attr>_overlap_*`` pair gold and predicted spans that overlap (one to one), so a
    negation found on a shorter NER span still counts; the exact keys do not pair them."""
    text = "No high fever, chills or night sweats today."
    gold_spans = [("high fever", True), ("chills", True), ("night sweats", False)]
    pred_spans = [("fever", True), ("chills", True), ("night sweats today", True)]

    def doc_with(spans):
        doc = ctx_nlp.make_doc(text)
        doc.ents = [doc.char_span(text.index(s), text.index(s) + len(s), label="PROBLEM") for s, _ in spans]
        for ent, (_, negated) in zip(doc.ents, spans):
            ent._.is_negated = negated
        return doc

    scores = score_context([Example(doc_with(pred_spans), doc_with(gold_spans))])
    assert (scores["context_negated_p"], scores["context_negated_r"]) == (1 / 3, 1 / 2)
    # "fever" pairs with "high fever"; "night sweats today" overlaps only a gold span that is not negated
    assert (scores["context_negated_overlap_p"], scores["context_negated_overlap_r"]) == (2 / 3, 1.0)
    # one predicted span over two gold ones counts once
    wide = [("high fever, chills", True)]
    scores = score_context([Example(doc_with(wide), doc_with(gold_spans))])
    assert (scores["context_negated_overlap_p"], scores["context_negated_overlap_r"]) == (1.0, 0.5)
    assert all(f"context_{a}_overlap_{m}" in scores for a in ("negated", "uncertain", "family") for m in "prf")


@pytest.fixture(scope="module")
def maccrobat_docs(maccrobat_dir):
    from spacy_clinical_ner.readers.brat import docs_from_brat, iter_brat_files

    install_doc_extensions()
    nlp = clinical_blank()
    ids = [f.stem for f in iter_brat_files(maccrobat_dir)[1:9]]  # train documents (index % 5 != 0)
    return list(docs_from_brat(maccrobat_dir, nlp.make_doc, ids))


def test_maccrobat_gold_polarity_scoring(maccrobat_docs):
    nlp = clinical_blank()
    nlp.add_pipe("clinical_sentencizer")
    nlp.add_pipe("clinical_context", config={"spans_key": "entities", "include_ents": False})
    examples = [Example(copy_entities(d, nlp.make_doc(d.text), "entities"), d) for d in maccrobat_docs]
    scores = nlp.evaluate(examples)
    assert scores["context_negated_f"] > 0.6
    assert scores["context_historical_f"] is None  # MACCROBAT has no such gold


# ---------------------------------------------------------------------------- classifier
ASSERTION_CONFIG = {
    "nlp": {
        "lang": "en",
        "pipeline": ["clinical_sentencizer", "clinical_context", "clinical_assertion"],
        "tokenizer": {"@tokenizers": "spacy-clinical-ner.ClinicalTokenizer.v2"},
    },
    "components": {
        "clinical_sentencizer": {"factory": "clinical_sentencizer"},
        "clinical_context": {"factory": "clinical_context", "spans_key": "entities", "include_ents": False},
        "clinical_assertion": {"factory": "clinical_assertion", "spans_key": "entities", "include_ents": False},
    },
}


def test_assertion_not_initialised_error():
    nlp = spacy.util.load_model_from_config(ASSERTION_CONFIG, auto_fill=True)
    doc = nlp.make_doc("No fever.")
    doc.spans["entities"] = [Span(doc, 1, 2, label="Sign_symptom")]
    with pytest.raises(ClinicalNERError, match="not initialised"):
        nlp.get_pipe("clinical_assertion")(doc)


def test_assertion_needs_its_context_component():
    nlp = clinical_blank()
    nlp.add_pipe("clinical_assertion")
    doc = nlp.make_doc("No fever.")
    with pytest.raises(ClinicalNERError, match="E308"):
        nlp.initialize(lambda: [Example(doc, doc)])


def test_assertion_overfits_and_round_trips(maccrobat_docs, tmp_path):
    from thinc.api import Adam

    nlp = spacy.util.load_model_from_config(ASSERTION_CONFIG, auto_fill=True)
    docs = maccrobat_docs[:4]
    examples = [Example(copy_entities(d, nlp.make_doc(d.text), "entities"), d) for d in docs]
    optimizer = Adam(0.01)
    nlp.initialize(lambda: examples, sgd=optimizer)
    for _ in range(60):
        nlp.update(examples, sgd=optimizer, exclude=["clinical_sentencizer", "clinical_context"])
    gold = {}
    for d in docs:
        polarity = {e["id"]: e["attributes"].get("POLARITY") for e in d._.brat["entities"]}
        gold.update(
            {
                (d._.brat["doc_id"], s.start_char, s.end_char): polarity.get(s.id_) == "NEG"
                for s in d.spans["entities"]
                if s.label_ in ("Sign_symptom", "Disease_disorder", "Medication")
            }
        )
    assert sum(gold.values()) >= 5

    def predictions(pipeline):
        out = {}
        for d in docs:
            pred = pipeline(copy_entities(d, pipeline.make_doc(d.text), "entities"))
            for s in pred.spans["entities"]:
                out[(d._.brat["doc_id"], s.start_char, s.end_char)] = (s._.is_negated, s._.assertion, s._.context_cues)
        return out

    pred = predictions(nlp)
    assert all(pred[k][0] == v for k, v in gold.items())
    negated = [v for k, v in pred.items() if v[0]]
    assert all(v[1] == "absent" and v[2] and v[2][0]["attribute"] == "is_negated" for v in negated)
    assert all("score" in v[2][0] for v in negated)
    nlp.to_disk(tmp_path / "assert")
    loaded = spacy.load(tmp_path / "assert")
    assert predictions(loaded) == pred
    from_bytes = spacy.util.load_model_from_config(ASSERTION_CONFIG, auto_fill=True)
    from_bytes.from_bytes(nlp.to_bytes())
    assert predictions(from_bytes) == pred
    with pytest.warns(UserWarning, match="W301"):  # no 'entities' group on a plain text: said, not an error
        for text in ("", "   \n"):  # empty and whitespace-only notes go through the trained component
            assert not nlp(text).ents


def test_classifier_cue_explains_a_negation_without_rule(maccrobat_docs):
    from thinc.api import Adam

    nlp = spacy.util.load_model_from_config(ASSERTION_CONFIG, auto_fill=True)
    nlp.get_pipe("clinical_context").set_rules([])  # no rules: every negation comes from the classifier
    docs = maccrobat_docs[:4]
    examples = [Example(copy_entities(d, nlp.make_doc(d.text), "entities"), d) for d in docs]
    optimizer = Adam(0.01)
    nlp.initialize(lambda: examples, sgd=optimizer)
    for _ in range(60):
        nlp.update(examples, sgd=optimizer, exclude=["clinical_sentencizer", "clinical_context"])
    doc = nlp(copy_entities(docs[0], nlp.make_doc(docs[0].text), "entities"))
    negated = [s for s in doc.spans["entities"] if s._.is_negated]
    assert negated
    for span in negated:
        cue = span._.context_cues[0]
        assert cue["source"] == "classifier" and cue["rule"].startswith("classifier:")
        assert doc.text[cue["start"] : cue["end"]] == cue["text"]


def test_assertion_config_initialises(repo_dir, maccrobat_docs, tmp_path):
    from spacy.training.initialize import init_nlp
    from spacy.util import load_config

    db = DocBin(store_user_data=True, docs=maccrobat_docs)
    db.to_disk(tmp_path / "train.spacy")
    config = load_config(
        repo_dir / "configs" / "context_assertion.cfg",
        overrides={
            "paths.train": str(tmp_path / "train.spacy"),
            "paths.notes": str(tmp_path / "train.spacy"),
            "paths.dev": str(tmp_path / "train.spacy"),
        },
    )
    nlp = init_nlp(config)
    assert nlp.pipe_names == ["clinical_sectionizer", "clinical_sentencizer", "clinical_context", "clinical_assertion"]
    source = maccrobat_docs[0]
    doc = nlp(copy_entities(source, nlp.make_doc(source.text), "entities"))
    assert [(s.start_char, s.end_char, s.label_) for s in doc.spans["entities"]] == [
        (s.start_char, s.end_char, s.label_) for s in source.spans["entities"]
    ]  # the gold spans, copied without their polarity
    assert all(s._.assertion in spacy_clinical_ner.context.ASSERTION_CLASSES for s in doc.spans["entities"])
    scores = nlp.evaluate([Example(nlp.make_doc(d.text), d) for d in maccrobat_docs])
    assert 0.0 <= scores["context_negated_f"] <= 1.0 and "context_uncertain_f" in scores


def test_extensions_coexist_with_medspacy():
    import medspacy  # noqa: F401

    from spacy_clinical_ner.context import install_context_extensions

    install_context_extensions()
    nlp = clinical_blank()
    nlp.add_pipe("sentencizer")
    nlp.add_pipe("medspacy_context")
    doc = annotate(nlp, "No fever.", [("fever", "PROBLEM")])
    assert doc.ents[0]._.is_negated  # medspaCy writes the same extension we read
    assert doc.ents[0]._.context_cues == [] and doc.ents[0]._.assertion == "present"


def test_doc_round_trip_keeps_sections(ctx_nlp):
    doc = annotate(ctx_nlp, "Social History:\nQuit smoking in 2001.\n", [("smoking", "Activity")])
    restored = Doc(ctx_nlp.vocab).from_bytes(doc.to_bytes())
    assert restored._.clinical_sections == doc._.clinical_sections != []
    assert restored.ents[0]._.is_historical


def test_discharge_sentences_not_worse_than_medspacy(fixtures_dir):
    """The clinical rules keep (or gain) ground on classic discharge-summary sentences."""
    import medspacy  # noqa: F401

    items = [json.loads(line) for line in (fixtures_dir / "context" / "discharge_sentences.jsonl").read_text().splitlines() if line.strip()]
    theirs = clinical_blank()
    theirs.add_pipe("sentencizer")
    theirs.add_pipe("medspacy_context")
    ours = make_nlp()
    correct = {"ours": 0, "theirs": 0}
    total = 0
    for item in items:
        ents = [(e["text"], e["label"]) for e in item["entities"]]
        for name, nlp in (("ours", ours), ("theirs", theirs)):
            doc = annotate(nlp, item["text"], ents)
            correct[name] += sum(values(span) == {a for a in ATTRS if e.get(a)} for e, span in zip(item["entities"], doc.ents, strict=True))
        total += len(item["entities"])
    assert correct["ours"] >= correct["theirs"]
    assert correct["ours"] / total >= 0.9


def test_error_handler_applies_to_context_and_sentencizer(monkeypatch):
    from spacy.util import ignore_error

    def boom(self, doc):
        raise ValueError("boom")

    for name in ("clinical_sentencizer", "clinical_context"):
        nlp = make_nlp()
        with monkeypatch.context() as patch:
            patch.setattr(type(nlp.get_pipe(name)), "__call__", boom)
            with pytest.raises(ValueError, match="boom"):
                list(nlp.pipe(["He denies fever."]))
            nlp.set_error_handler(ignore_error)
            assert list(nlp.pipe(["He denies fever.", "No cough."])) == []


@pytest.mark.parametrize(
    "factory,config,message",
    [
        ("clinical_sectionizer", {"rules": "missing_rules.json"}, "E302"),
        ("clinical_sectionizer", {"phrase_matcher_attr": "FOO"}, "E304"),
        ("clinical_context", {"phrase_matcher_attr": "FOO"}, "E304"),
        ("clinical_context", {"span_attrs": "nonsense"}, "E304"),
    ],
)
def test_bad_settings_fail_at_add_pipe(factory, config, message):
    nlp = clinical_blank()
    with pytest.raises(ContextRuleError, match=message):
        nlp.add_pipe(factory, config=config)


def test_sectionizer_to_bytes_keeps_added_rules():
    nlp = make_nlp()
    sectionizer = nlp.get_pipe("clinical_sectionizer")
    sectionizer.add({"literal": "Hospital course:", "category": "hospital_course"})
    other = make_nlp().get_pipe("clinical_sectionizer").from_bytes(sectionizer.to_bytes())
    assert other.rules == sectionizer.rules
    doc = other(clinical_blank().make_doc("Hospital course:\nUneventful."))
    assert [(s["title"], s["category"]) for s in doc._.clinical_sections] == [("Hospital course:", "hospital_course")]


@pytest.mark.parametrize(
    "text,negated",
    [
        ("No fever however cough.", {"fever": True, "cough": False}),
        ("Without fever except cough.", {"fever": True, "cough": False}),
        ("No fever or chills but cough and rash.", {"fever": True, "chills": True, "cough": False, "rash": False}),
        ("Negative for fever; reports cough.", {"fever": True, "cough": False}),
    ],
)
def test_terminating_cues_cut_typed_negation_cues(ctx_nlp, text, negated):
    """A TERMINATE cue ("however", "except", "but", ";") ends the scope of negation cues that carry
    excluded_types too (medspaCy's type check let them run on)."""
    doc = annotate(ctx_nlp, text, [(word, "Sign_symptom") for word in negated])
    assert {e.text: e._.is_negated for e in doc.ents} == negated
