"""Bounded cost on adversarial notes (issue 22): ConText's scopes, its single run per Doc.

Time bounds are ratios to a normal note of the same length (best of 3 runs each), never
absolute times: the machine may be slow or shared, a quadratic algorithm is still found.
"""

import time
import weakref

import pytest
import spacy
from spacy.tokens import Span
from spacy.training import Example

from spacy_clinical_ner.context import engine as context_engine
from spacy_clinical_ner.context.corpus import copy_entities
from spacy_clinical_ner.extensions import install_doc_extensions
from spacy_clinical_ner.tokenizer import clinical_blank

NORMAL_PARA = "The patient denies chest pain. She has a history of asthma. Mild cough was noted, without fever.\n"
WORDS = ("fever", "cough", "asthma", "pain", "rash")


def rule_nlp():
    nlp = clinical_blank()
    nlp.add_pipe("clinical_sentencizer")
    nlp.add_pipe("clinical_sectionizer")
    nlp.add_pipe("clinical_context")
    return nlp


def run(nlp, text):
    doc = nlp.make_doc(text)
    doc.ents = [Span(doc, t.i, t.i + 1, label="PROBLEM") for t in doc if t.lower_ in WORDS]
    for _, proc in nlp.pipeline:
        doc = proc(doc)
    return doc


def best_time(fn, repeats=3):
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


@pytest.fixture(scope="module")
def nlp():
    pipeline = rule_nlp()
    run(pipeline, NORMAL_PARA)  # compile the rules
    return pipeline


@pytest.mark.parametrize(
    "unit,tail",
    [
        ("no ", "fever"),  # the reported denial of service: one sentence of 'no'
        ("denies fever no cough ruled out rash possibly pneumonia history of asthma if pain ", ""),
        ("fever ruled out ", ""),  # backward cues
    ],
)
def test_cue_heavy_sentence_costs_like_a_normal_note(nlp, unit, tail):
    n = 40_000
    normal = (NORMAL_PARA * (n // len(NORMAL_PARA) + 1))[:n]
    heavy = unit * ((n - len(tail)) // len(unit)) + tail
    t_normal = best_time(lambda: run(nlp, normal))
    t_heavy = best_time(lambda: run(nlp, heavy))
    # before the fix: 'no ' x 13,000 took ~70 x a normal note of that size (quadratic)
    assert t_heavy < 15 * t_normal, (t_heavy, t_normal)


def test_many_cues_in_one_sentence_still_decide_locally(nlp):
    doc = run(nlp, "no fever, " * 400)  # 400 cues, more than MAX_SCOPE_PEERS
    assert len(doc.ents) == 400 and all(e._.is_negated for e in doc.ents)
    doc = run(nlp, "no fever but cough, " * 300)
    assert [e._.is_negated for e in doc.ents] == [True, False] * 300


def test_a_cue_reaches_at_most_the_documented_number_of_targets(nlp):
    doc = run(nlp, "The patient denies " + ", ".join(["fever"] * 1000) + ".")
    negated = [e._.is_negated for e in doc.ents]
    limit = context_engine.MAX_CUE_TARGETS + context_engine.MAX_LIST_ITEMS
    assert negated == [True] * limit + [False] * (1000 - limit)


def test_limits_are_not_reached_on_real_notes(maccrobat_dir):
    """Unbounded limits (the all-pairs algorithm) and the defaults give the same results."""
    from spacy_clinical_ner.readers.brat import docs_from_brat, iter_brat_files

    install_doc_extensions()
    nlp = clinical_blank()
    nlp.add_pipe("clinical_sentencizer")
    nlp.add_pipe("clinical_sectionizer")
    bounded = nlp.add_pipe("clinical_context", config={"spans_key": "entities", "include_ents": False})
    unbounded = nlp.add_pipe("clinical_context", name="unbounded", config={"spans_key": "entities", "include_ents": False})
    engine = unbounded.engine
    engine.max_scope_peers = engine.max_cue_targets = engine.max_list_items = 10**9
    ids = [f.stem for f in iter_brat_files(maccrobat_dir)[:40]]
    compared = 0
    for doc in docs_from_brat(maccrobat_dir, nlp.make_doc, ids):
        for name in ("clinical_sentencizer", "clinical_sectionizer"):
            doc = nlp.get_pipe(name)(doc)
        targets = bounded.targets(doc)
        assert bounded.analyze(doc, targets) == unbounded.analyze(doc, targets)
        compared += len(targets)
    assert compared > 1000


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


def test_assertion_classifier_reuses_the_context_run(maccrobat_dir, monkeypatch):
    from thinc.api import Adam

    from spacy_clinical_ner.readers.brat import docs_from_brat, iter_brat_files

    install_doc_extensions()
    nlp = spacy.util.load_model_from_config(ASSERTION_CONFIG, auto_fill=True)
    ids = [f.stem for f in iter_brat_files(maccrobat_dir)[1:4]]
    docs = list(docs_from_brat(maccrobat_dir, nlp.make_doc, ids))
    examples = [Example(copy_entities(d, nlp.make_doc(d.text), "entities"), d) for d in docs]
    optimizer = Adam(0.01)
    nlp.initialize(lambda: examples, sgd=optimizer)
    for _ in range(3):
        nlp.update(examples, sgd=optimizer, exclude=["clinical_sentencizer", "clinical_context"])
    context = nlp.get_pipe("clinical_context")
    engine = context.engine
    runs = []
    original = engine.modifiers

    def counted(*args, **kwargs):  # the real method, counted
        runs.append(1)
        return original(*args, **kwargs)

    monkeypatch.setattr(engine, "modifiers", counted)
    doc = nlp(copy_entities(docs[0], nlp.make_doc(docs[0].text), "entities"))
    assert len(runs) == 1  # ConText ran once for both components
    reused = [(s._.is_negated, s._.assertion, s._.context_cues) for s in doc.spans["entities"]]
    # the same results when the assertion classifier has to run ConText itself
    again = copy_entities(docs[0], nlp.make_doc(docs[0].text), "entities")
    for name in ("clinical_sentencizer", "clinical_context"):
        again = nlp.get_pipe(name)(again)
    context._analysed = weakref.WeakKeyDictionary()
    again = nlp.get_pipe("clinical_assertion")(again)
    assert len(runs) == 3
    assert [(s._.is_negated, s._.assertion, s._.context_cues) for s in again.spans["entities"]] == reused
    # other spans than the ones ConText annotated: analysed afresh
    spans = list(doc.spans["entities"])[:3]
    assert context.analysis(doc, spans) == context.analyze(doc, spans)


# ---------------------------------------------------------------------------- benchmark kinds
def _benchmark():
    import importlib.util
    from pathlib import Path

    path = Path(__file__).resolve().parents[1] / "benchmarks" / "adversarial.py"
    spec = importlib.util.spec_from_file_location("adversarial_benchmark", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def bench():
    module = _benchmark()
    nlp, make_doc = module.rule_pipeline()
    module.process(nlp, make_doc, module.normal_note(2000))
    return module, nlp, make_doc


@pytest.mark.parametrize("kind", ["cues", "cue_mix", "no_stops", "huge_token", "newlines", "long_list"])
def test_adversarial_note_costs_like_a_normal_note(bench, kind):
    """Rule components, relation candidates and the FHIR writer on each adversarial kind of
    benchmarks/adversarial.py: within a generous factor of a normal note of the same size."""
    module, nlp, make_doc = bench
    n = 40_000
    normal, text = module.normal_note(n), module.KINDS[kind](n)
    assert abs(len(text) - len(normal)) < n // 10
    t_normal = module.best_time(lambda: module.process(nlp, make_doc, normal), 3)
    t_kind = module.best_time(lambda: module.process(nlp, make_doc, text), 3)
    assert t_kind < 15 * t_normal, (kind, t_kind, t_normal)


def test_newlines_and_huge_token_notes_are_annotated(bench):
    module, nlp, make_doc = bench
    doc = module.process(nlp, make_doc, module.newlines(200_000) + "No fever.")
    assert [(e.text, e._.is_negated) for e in doc.ents] == [("fever", True)]
    doc = module.process(nlp, make_doc, module.huge_token(100_000) + " no fever")
    assert [(e.text, e._.is_negated) for e in doc.ents] == [("fever", True)]


# ---------------------------------------------------------------------------- output writers
def _record_with_relations(n: int) -> dict:
    """``n`` findings, each with a severity and a site linked to it: 3n entities, 2n relations."""
    entities, relations = [], []
    for k in range(n):
        base = len(entities)
        for j, (text, label) in enumerate((("pain", "Sign_symptom"), ("severe", "Severity"), ("knee", "Biological_structure"))):
            start = 20 * k + 6 * j
            entities.append({"text": text, "label": label, "start": start, "end": start + len(text), "assertion": "present"})
        relations.append({"head": base + 1, "tail": base, "label": "MODIFY", "typed_label": "severity_of", "score": 1.0})
        relations.append({"head": base + 2, "tail": base, "label": "MODIFY", "typed_label": "location_of", "score": 1.0})
    return {"id": "big", "text_length": 20 * n, "entities": entities, "relations": relations, "triples": [], "error": None}


def test_fhir_writer_is_linear_in_entities_and_relations():
    """Each Condition gets its own severity and site; 4x the entities and relations cost about 4x
    (it was quadratic: every entity scanned every relation), measured as a ratio, not a time."""
    from spacy_clinical_ner.io.fhir import record_to_bundle_dict

    small, large = _record_with_relations(500), _record_with_relations(2000)
    bundle = record_to_bundle_dict(small)
    conditions = [e["resource"] for e in bundle["entry"] if e["resource"]["resourceType"] == "Condition"]
    assert len(conditions) == 500
    assert all(c["severity"] == {"text": "severe"} and len(c["bodySite"]) == 1 for c in conditions)
    t_small = min(_timed(lambda: record_to_bundle_dict(small)) for _ in range(3))
    t_large = min(_timed(lambda: record_to_bundle_dict(large)) for _ in range(3))
    assert t_large < 8 * t_small, (t_small, t_large)  # linear: about 4; quadratic: about 16


def _timed(fn) -> float:
    import time

    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


# ---------------------------------------------------------------------------- linker abbreviations
@pytest.fixture(scope="module")
def abbreviation_linker():
    from spacy_clinical_ner.linking.kb import KnowledgeBase

    nlp = clinical_blank()
    nlp.add_pipe("umls_linker").initialize(kb=KnowledgeBase.from_concepts([]))
    return nlp, nlp.get_pipe("umls_linker")


def test_abbreviation_scan_is_linear(abbreviation_linker):
    """The linker's abbreviation scan on 10k "(ABC)" definitions costs about 4x the scan of 2.5k
    (it was quadratic: every "(" turned every later ")" into a list), measured as a ratio."""
    nlp, linker = abbreviation_linker
    small, large = (nlp.make_doc("chronic kidney disease (CKD) " * n) for n in (2_500, 10_000))
    assert linker.find_abbreviations(small) == {"CKD": "chronic kidney disease"}
    t_small = best_time(lambda: linker.find_abbreviations(small))
    t_large = best_time(lambda: linker.find_abbreviations(large))
    assert t_large < 8 * t_small, (t_small, t_large)  # linear: about 4; quadratic: 10 and more


def test_abbreviation_scan_on_huge_token_newlines_and_bare_parentheses(abbreviation_linker):
    """Layouts with nothing to define cost no more than a normal note of the same length (a note
    made of definitions costs more per character, and grows linearly: the test above)."""
    nlp, linker = abbreviation_linker
    normal = nlp.make_doc((NORMAL_PARA + "Chronic kidney disease (CKD) noted. ") * 800)
    t_normal = best_time(lambda: linker.find_abbreviations(normal))
    n = len(normal.text)
    for text in ("x" * n + " (AB)", "\n" * n + "(AB)", "( " * (n // 2), ") " * (n // 2)):
        doc = nlp.make_doc(text)
        assert best_time(lambda doc=doc: linker.find_abbreviations(doc)) < 5 * t_normal + 0.01, text[:10]


# ---------------------------------------------------------------------------- per-note budget
def _busy(seconds: float) -> None:
    end = time.perf_counter() + seconds
    while time.perf_counter() < end:
        pass


@pytest.mark.parametrize("in_thread", [False, True])
def test_deadline_stops_python_work_and_never_escapes_the_block(in_thread):
    """``io.budget.deadline``: SIGALRM in the main thread, an asynchronous exception elsewhere;
    30 s of Python work stopped at the deadline (this test would take 30 s otherwise); a block that
    ends in time leaves no exception pending; the allowance may grow while the block runs."""
    import threading

    from spacy_clinical_ner.io.budget import BudgetExceeded, deadline

    outcome = []

    def trial():
        with pytest.raises(BudgetExceeded):
            with deadline(0.2):
                _busy(30)
        with deadline(0.3):
            _busy(0.01)
        _busy(0.5)  # a stale alarm or pending exception would land here
        notes = [1]
        t0 = time.perf_counter()
        with pytest.raises(BudgetExceeded):
            with deadline(lambda: 0.1 * len(notes)):
                notes.extend([2, 3, 4])
                _busy(30)
        outcome.append(time.perf_counter() - t0)

    if in_thread:
        thread = threading.Thread(target=trial)
        thread.start()
        thread.join(60)
    else:
        trial()
    assert len(outcome) == 1 and outcome[0] >= 0.39  # the allowance read when it came due: 4 notes


@pytest.mark.parametrize("in_thread", [False, True])
def test_budget_never_cuts_the_input_reader(in_thread):
    """A deadline that comes due while the next input note is read waits for it: an exception
    inside the reading generator would end it, and the rest of the input would be lost."""
    import threading

    from spacy_clinical_ner.io.budget import BudgetExceeded, deadline, shielded

    def reader():
        for i in range(3):
            _busy(0.3)
            yield i

    outcome = []

    def trial():
        source, got = reader(), []
        with pytest.raises(BudgetExceeded):
            with deadline(0.1):
                with shielded():
                    got.append(next(source))
                _busy(30)
        outcome.append((got, list(source)))

    if in_thread:
        thread = threading.Thread(target=trial)
        thread.start()
        thread.join(60)
    else:
        trial()
    assert outcome == [([0], [1, 2])]
