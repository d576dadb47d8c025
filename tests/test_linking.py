"""umls_linker: KB loaders, candidate search, the component, serialisation and scoring."""

import json

import numpy as np
import pytest
import spacy
from spacy.tokens import Doc, DocBin, Span
from spacy.training import Example

import spacy_clinical_ner.linking.component  # noqa: F401  (registers the factory before entry points are installed)
from spacy_clinical_ner.linking.builders import create_scispacy_kb, create_umls_kb, read_scispacy_jsonl, read_umls
from spacy_clinical_ner.linking.candidates import TfidfIndex, char_ngrams
from spacy_clinical_ner.linking.errors import KnowledgeBaseError
from spacy_clinical_ner.linking.kb import Concept, KBBuilder, KnowledgeBase, alias_covered, normalize_alias
from spacy_clinical_ner.tokenizer import clinical_blank


@pytest.fixture(scope="module")
def fx(fixtures_dir):
    return fixtures_dir / "linking"


@pytest.fixture(scope="module")
def umls_kb(fx):
    return create_umls_kb(fx)


@pytest.fixture
def linker_nlp(umls_kb):
    nlp = clinical_blank()
    nlp.add_pipe("umls_linker", config={"type_filter": {"DRUG": ["CHEM"]}})
    nlp.get_pipe("umls_linker").initialize(kb=umls_kb)
    return nlp


def make_doc(nlp, text, ents):
    doc = nlp.make_doc(text)
    doc.ents = [doc.char_span(text.index(t), text.index(t) + len(t), label=label) for t, label in ents]
    return doc


# ------------------------------------------------------------------ loaders
def test_rrf_loader_filters_and_xrefs(fx):
    b = read_umls(fx)
    concepts = {c.concept_id: c for c in b.concepts()}
    assert set(concepts) == {"C0011849", "C0020538", "C0004057", "C0027051"}
    dm = concepts["C0011849"]
    assert dm.canonical_name == "Diabetes Mellitus"
    assert "DM" in dm.aliases and "Diabetes mellitus (disorder)" in dm.aliases
    assert "Diabetes mellitus" not in dm.aliases  # German row filtered by language
    assert "Sugar diabetes obsolete" not in dm.aliases  # suppressed
    assert {"MESH:D003920", "SNOMEDCT:73211009"} <= set(dm.xrefs)
    assert dm.types == ["T047", "DISO"]
    assert dm.definition.startswith("A heterogeneous group")
    assert "HP:0000822" in concepts["C0020538"].xrefs
    assert "OMIM:608446" in concepts["C0027051"].xrefs
    assert concepts["C0004057"].types == ["T109", "CHEM", "T121"]


def test_rrf_loader_semantic_type_and_source_filters(fx):
    only_chem = read_umls(fx, semantic_types=["CHEM"])
    assert [c.concept_id for c in only_chem.concepts()] == ["C0004057"]
    snomed = {c.concept_id: c for c in read_umls(fx, sources=["SNOMEDCT_US"]).concepts()}
    assert list(snomed) == ["C0011849"] and snomed["C0011849"].aliases == ["Diabetes mellitus (disorder)"]
    with pytest.raises(KnowledgeBaseError, match="E408|No concepts"):
        read_umls(fx, languages=["FRE"])


def test_rrf_malformed_line(tmp_path, fx):
    (tmp_path / "MRSTY.RRF").write_text((fx / "MRSTY.RRF").read_text())
    (tmp_path / "MRCONSO.RRF").write_text("C0011849|ENG|P|too few fields|\n")
    with pytest.raises(KnowledgeBaseError, match="MRCONSO.RRF, line 1"):
        read_umls(tmp_path)


def test_missing_rrf(tmp_path):
    with pytest.raises(KnowledgeBaseError, match="MRCONSO.RRF"):
        read_umls(tmp_path)


def test_jsonl_loader(fx):
    kb = create_scispacy_kb(fx / "kb.jsonl")
    assert len(kb) == 4
    htn = kb.get("C0020538")
    assert htn.canonical_name == "Hypertension" and "HTN" in htn.aliases and htn.xrefs == ["MESH:D006973"]
    assert kb.get("C9999999") is None
    with pytest.raises(KnowledgeBaseError, match="line 2"):
        read_scispacy_jsonl(fx / "bad.jsonl")


def test_kb_roundtrip_and_jsonl_export(umls_kb, tmp_path):
    umls_kb.to_disk(tmp_path / "kb")
    kb2 = KnowledgeBase.from_disk(tmp_path / "kb")
    assert [c.to_dict() for c in kb2] == [c.to_dict() for c in umls_kb]
    kb3 = KnowledgeBase.from_bytes(umls_kb.to_bytes())
    assert kb3.get("C0027051") == umls_kb.get("C0027051")
    umls_kb.to_jsonl(tmp_path / "kb.jsonl")
    kb4 = create_scispacy_kb(tmp_path / "kb.jsonl")
    assert kb4.get("C0011849").xrefs == umls_kb.get("C0011849").xrefs


def test_builder_merges_sources():
    b = KBBuilder()
    b.add("C1", "Seizure", ["Seizures"], ["DISO"], None, ["HP:0001250"])
    b.add("C1", "seizure disorder", ["Seizures"], ["T047"], "def", ["DOID:1826"])
    (c,) = list(b.concepts())
    assert c.canonical_name == "Seizure" and c.aliases == ["Seizure", "Seizures", "seizure disorder"]
    assert c.types == ["DISO", "T047"] and c.xrefs == ["HP:0001250", "DOID:1826"] and c.definition == "def"


def test_normalize_and_ngrams():
    assert normalize_alias("Sjögren's  Syndrome") == "sjogren s syndrome"
    assert normalize_alias("Ménière-Krankheit") == "meniere krankheit"
    assert normalize_alias("Ψυχωσία") == "ψυχωσια"  # Greek accents are decoration
    # in other scripts a combining mark makes another letter: kept, and the text recomposed
    assert normalize_alias("Гипертонический криз") == "гипертонический криз"
    assert normalize_alias("Гипертонический") != normalize_alias("Гипертоническии")
    assert normalize_alias("がん") == "がん" and normalize_alias("がん") != normalize_alias("かん")
    assert normalize_alias("당뇨병") == "당뇨병"
    assert char_ngrams("ab cde") == [" ab", "ab ", " cd", "cde", "de "]


# ------------------------------------------------------------------ index
def test_index_matches_sklearn_tfidf():
    from sklearn.feature_extraction.text import TfidfVectorizer

    strings = ["diabetes mellitus", "type 2 diabetes mellitus", "hypertension", "myocardial infarction", "heart attack", "aspirin"]
    idx = TfidfIndex.build(strings)
    queries = ["diabetis melitus", "heart attacks", "aspirin"]
    vec = TfidfVectorizer(analyzer="char_wb", ngram_range=(3, 3), lowercase=False).fit(strings)
    expected = (vec.transform(queries) @ vec.transform(strings).T).toarray()
    for budget in (None, 2):
        for q, (ids, scores) in enumerate(idx.search(queries, k=3, budget=budget)):
            assert ids[0] == int(np.argmax(expected[q]))
            assert np.allclose(scores, expected[q][ids], atol=1e-5)


def test_index_disk_and_bytes_roundtrip(tmp_path):
    idx = TfidfIndex.build(["renal failure", "heart failure", "kidney disease"])
    idx.to_disk(tmp_path / "idx")
    for other in (TfidfIndex.from_disk(tmp_path / "idx"), TfidfIndex.from_bytes(idx.to_bytes())):
        a, b = idx.search(["renal failur"], k=2)[0], other.search(["renal failur"], k=2)[0]
        assert a[0].tolist() == b[0].tolist() and np.allclose(a[1], b[1])


# ------------------------------------------------------------------ component
def test_links_misspellings_and_abbreviations(linker_nlp):
    text = "Patients with diabetes melitus (DM) and hypertention. DM worsened after a heart atack."
    doc = make_doc(
        linker_nlp, text, [("diabetes melitus", "DISEASE"), ("hypertention", "DISEASE"), ("DM", "DISEASE"), ("heart atack", "DISEASE")]
    )
    doc = linker_nlp(doc)
    got = {(e.text, e.start_char): e.kb_id_ for e in doc.ents}
    assert got[("diabetes melitus", 14)] == "C0011849"
    assert got[("hypertention", 40)] == "C0020538"
    assert got[("DM", text.index("DM"))] == "C0011849"  # the short form, via its long form
    assert got[("heart atack", text.index("heart atack"))] == "C0027051"
    ent = doc.ents[0]
    assert ent._.kb_name == "Diabetes Mellitus"
    assert ent._.kb_ents[0][0] == "C0011849" and all(isinstance(x, list) for x in ent._.kb_ents)
    assert [s for _, s in ent._.kb_ents] == sorted((s for _, s in ent._.kb_ents), reverse=True)


def test_unknown_mention_is_nil_and_labels_kept(linker_nlp):
    doc = make_doc(linker_nlp, "The xyzzy qwrtp was seen.", [("xyzzy qwrtp", "FINDING")])
    doc = linker_nlp(doc)
    assert doc.ents[0].kb_id_ == "NIL" and doc.ents[0]._.kb_ents == [] and doc.ents[0]._.kb_name is None
    assert doc.ents[0].label_ == "FINDING"


def test_type_filter(linker_nlp):
    # DRUG mentions may only link to CHEM concepts: "hypertension" has none -> NIL
    doc = linker_nlp(make_doc(linker_nlp, "aspirin and hypertension", [("aspirin", "DRUG"), ("hypertension", "DRUG")]))
    assert [e.kb_id_ for e in doc.ents] == ["C0004057", "NIL"]


def test_other_span_extensions_survive(linker_nlp):
    if not Span.has_extension("test_flag"):
        Span.set_extension("test_flag", default=None)
    doc = make_doc(linker_nlp, "no hypertension", [("hypertension", "DISEASE")])
    doc.ents[0]._.test_flag = True
    doc = linker_nlp(doc)
    assert doc.ents[0]._.test_flag is True and doc.ents[0].kb_id_ == "C0020538"


def test_spans_key(umls_kb):
    nlp = clinical_blank()
    nlp.add_pipe("umls_linker", config={"spans_key": "mentions"}).initialize(kb=umls_kb)
    doc = nlp.make_doc("heart attack and high blood pressure")
    doc.spans["mentions"] = [Span(doc, 0, 2, "D"), Span(doc, 0, 1, "D"), Span(doc, 3, 6, "D")]
    doc = nlp(doc)
    assert [s.kb_id_ for s in doc.spans["mentions"]][::2] == ["C0027051", "C0020538"]
    with pytest.raises(KnowledgeBaseError, match="mentions"):
        nlp(nlp.make_doc("no group"))


def test_empty_doc_and_not_initialised(linker_nlp):
    empty = linker_nlp(linker_nlp.make_doc(""))
    assert len(empty) == 0 and empty.ents == () and not empty.user_data
    nlp = clinical_blank()
    nlp.add_pipe("umls_linker")
    with pytest.raises(KnowledgeBaseError, match="no knowledge base"):
        nlp(nlp.make_doc("hypertension"))
    with pytest.raises(KnowledgeBaseError, match="no knowledge base"):
        nlp.get_pipe("umls_linker").initialize()


def test_empty_kb_gives_nil():
    nlp = clinical_blank()
    nlp.add_pipe("umls_linker").initialize(kb=KnowledgeBase.from_concepts([]))
    doc = nlp(make_doc(nlp, "hypertension", [("hypertension", "DISEASE")]))
    assert doc.ents[0].kb_id_ == "NIL"


def test_alias_words_must_be_covered():
    assert alias_covered("lip swelling", ["swelling"]) is False  # the alias says more than the mention
    assert alias_covered("swelling", ["leg", "swelling"]) is True
    assert alias_covered("tumor", ["tumors"]) and alias_covered("crohn disease", ["crohn", "s"])
    assert alias_covered("hypertensive", ["hypertension"]) and alias_covered("prolonged qt", ["qt", "prolongation"])
    # a shared beginning is no stem when a word goes on much further
    assert not alias_covered("exhibitionism", ["exhibits"]) and not alias_covered("cardiomyopathy", ["cardiac"])
    assert alias_covered("hprt deficiency", ["hprt", "deficient"])
    assert alias_covered("phosphoribosyltransferase deficiency", ["phosphoribosyl", "transferase", "deficiency"])
    kb = KnowledgeBase.from_concepts(
        [
            Concept("HP:0031244", "Swollen lip", ["lip swelling"], ["DISO"]),
            Concept("HP:0040311", "Limb swelling", ["swollen limb"], ["DISO"]),
            Concept("C0035222", "Respiratory arrest", [], ["DISO"]),
        ]
    )
    text, mentions = "swelling . lip swellings . respiratory", ["swelling", "lip swellings", "respiratory"]
    for require_coverage in (True, False):
        nlp = clinical_blank()
        nlp.add_pipe("umls_linker", config={"threshold": 0.6, "require_coverage": require_coverage}).initialize(kb=kb)
        doc = nlp(make_doc(nlp, text, [(m, "DISEASE") for m in mentions]))
        got = [e.kb_id_ for e in doc.ents]
        if require_coverage:  # "swelling" is neither lip nor limb swelling; "respiratory" is no arrest
            assert got == ["NIL", "HP:0031244", "NIL"]
        else:  # close enough in character 3-grams
            assert got[1] == "HP:0031244" and "NIL" not in got


def test_invalid_setting():
    nlp = clinical_blank()
    with pytest.raises(KnowledgeBaseError, match="threshold"):
        nlp.add_pipe("umls_linker", config={"threshold": 1.5})


def _annotations(doc):
    # DocBin's msgpack gives sequences back as tuples: compare as lists
    return [(e.start_char, e.end_char, e.label_, e.kb_id_, [list(x) for x in e._.kb_ents], e._.kb_name) for e in doc.ents]


def test_to_disk_load_roundtrip(linker_nlp, tmp_path):
    text = "heart attack and DM"
    before = _annotations(linker_nlp(make_doc(linker_nlp, text, [("heart attack", "DISEASE"), ("DM", "DISEASE")])))
    assert [a[3] for a in before] == ["C0027051", "C0011849"] and before[0][4][0][0] == "C0027051"
    linker_nlp.to_disk(tmp_path / "pipe")
    nlp2 = spacy.load(tmp_path / "pipe")
    assert nlp2.get_pipe("umls_linker").cfg["type_filter"] == {"DRUG": ["CHEM"]}
    assert _annotations(nlp2(make_doc(nlp2, text, [("heart attack", "DISEASE"), ("DM", "DISEASE")]))) == before
    assert nlp2.get_pipe("umls_linker").kb.get("C0020538").canonical_name == "Hypertension"


def test_to_bytes_roundtrip(linker_nlp):
    nlp2 = clinical_blank()
    nlp2.add_pipe("umls_linker").from_bytes(linker_nlp.get_pipe("umls_linker").to_bytes())
    text = "aspirin for myocardial infarction"
    ents = [("aspirin", "DRUG"), ("myocardial infarction", "DISEASE")]
    got = _annotations(nlp2(make_doc(nlp2, text, ents)))
    assert [a[3] for a in got] == ["C0004057", "C0027051"]
    assert got == _annotations(linker_nlp(make_doc(linker_nlp, text, ents)))


def test_from_config_with_registered_kb(fx):
    config = {
        "nlp": {"lang": "en", "pipeline": ["umls_linker"], "tokenizer": {"@tokenizers": "spacy-clinical-ner.ClinicalTokenizer.v2"}},
        "components": {"umls_linker": {"factory": "umls_linker", "threshold": 0.8}},
        "initialize": {"components": {"umls_linker": {"kb": {"@misc": "spacy-clinical-ner.scispacy_kb.v1", "path": str(fx / "kb.jsonl")}}}},
    }
    nlp = spacy.util.load_model_from_config(spacy.util.load_config_from_str(spacy.Config(config).to_str()), auto_fill=True)
    nlp.initialize()
    doc = nlp(make_doc(nlp, "HTN", [("HTN", "DISEASE")]))
    assert doc.ents[0].kb_id_ == "C0020538"


def test_docbin_roundtrip(linker_nlp):
    doc = linker_nlp(make_doc(linker_nlp, "heart attack and aspirin", [("heart attack", "DISEASE"), ("aspirin", "DRUG")]))
    assert [a[3] for a in _annotations(doc)] == ["C0027051", "C0004057"]
    db = DocBin(store_user_data=True, docs=[doc])
    (doc2,) = list(DocBin().from_bytes(db.to_bytes()).get_docs(linker_nlp.vocab))
    assert _annotations(doc2) == _annotations(doc)
    json.dumps([e._.kb_ents for e in doc2.ents])  # plain lists


def test_pipe_matches_call(linker_nlp):
    texts = ["heart attack", "high blood pressure", "diabetes"]
    docs = [make_doc(linker_nlp, t, [(t, "DISEASE")]) for t in texts]
    piped = [_annotations(d) for d in linker_nlp.pipe(docs)]
    single = [_annotations(linker_nlp(make_doc(linker_nlp, t, [(t, "DISEASE")]))) for t in texts]
    assert [a[0][3] for a in piped] == ["C0027051", "C0020538", "NIL"]  # "diabetes" does not cover "diabetes mellitus"
    assert piped == single


def test_scorer_through_evaluate(linker_nlp):
    examples = []
    for text, ents, gold_ids in [
        ("heart attack", [("heart attack", "DISEASE")], ["C0027051"]),
        ("aspirin and xyzzy", [("aspirin", "DRUG"), ("xyzzy", "DRUG")], ["C0004057", "C0011849"]),
    ]:
        pred = make_doc(linker_nlp, text, ents)
        ref = make_doc(linker_nlp, text, ents)
        ref.ents = [Span(ref, e.start, e.end, e.label_, kb_id=k) for e, k in zip(ref.ents, gold_ids, strict=False)]
        examples.append(Example(pred, ref))
    scores = linker_nlp.evaluate(examples)
    # 2 right, 1 NIL (a miss, not a false positive)
    assert scores["nel_micro_p"] == 1.0
    assert scores["nel_micro_r"] == pytest.approx(2 / 3)
    assert scores["nel_micro_f"] == pytest.approx(0.8)
    assert set(scores["nel_per_type"]) == {"DISEASE", "DRUG"}


def test_evaluate_linking_on_pubtator(linker_nlp, fx):
    from spacy_clinical_ner.linking.evaluate import evaluate_linking

    linker_nlp.get_pipe("umls_linker").cfg["spans_key"] = "entities"
    scores = evaluate_linking(linker_nlp, [fx / "gold.pubtator"], labels=["Disease"], k=5)
    assert scores["mentions"] == 5 and scores["in_kb"] == 1.0
    assert scores["acc@1"] == 1.0  # HBP resolved through its long form, ids through MeSH xrefs


def test_evaluate_linking_details(linker_nlp, fx):
    """One record per evaluated mention, for error analysis (benchmarks/linking_errors.py)."""
    from spacy_clinical_ner.linking.evaluate import evaluate_linking

    linker_nlp.get_pipe("umls_linker").cfg["spans_key"] = "entities"
    details: list = []
    scores = evaluate_linking(linker_nlp, [fx / "gold.pubtator"], labels=["Disease"], k=5, details=details)
    assert len(details) == scores["mentions"] == 5
    hbp = [d for d in details if d["text"] == "HBP"]
    assert [(d["start"], d["end"]) for d in hbp] == [(61, 64), (102, 105)]
    assert all(d["query"] == "high blood pressure" and d["gold"] == ["MESH:D006973"] for d in hbp)
    assert all(d["hit_rank"] == 1 and d["ranked"][0] == d["linked"] for d in details)
    assert {d["doc"] for d in details} == {"100"} and {d["label"] for d in details} == {"Disease"}


def test_concept_ids():
    c = Concept("MESH:D001", "x", xrefs=["MESH:D002", "OMIM:1"])
    assert c.ids("mesh") == {"MESH:D001", "MESH:D002"}


def test_doc_without_ents_untouched(linker_nlp):
    doc = linker_nlp(Doc(linker_nlp.vocab, words=["no", "entities"]))
    assert doc.ents == ()


def test_pipe_two_processes(linker_nlp, tmp_path):
    texts = ["heart attack", "high blood pressure", "aspirin", "xyzzy"]
    docs = [make_doc(linker_nlp, t, [(t, "DISEASE")]) for t in texts]
    single = [_annotations(linker_nlp(make_doc(linker_nlp, t, [(t, "DISEASE")]))) for t in texts]
    assert [a[0][3] for a in single] == ["C0027051", "C0020538", "C0004057", "NIL"]
    assert [_annotations(d) for d in linker_nlp.pipe(docs, n_process=2, batch_size=2)] == single


def test_pruned_search_finds_superstrings_and_exact_strings():
    # many strings share the query's n-grams; the word index and the exact-string lookup still
    # put the right ones in front within a tiny budget
    strings = [f"renal failure of site {i}" for i in range(300)] + ["interictal epileptiform activity", "renal failure"]
    idx = TfidfIndex.build(strings)
    (ids, scores), (ids2, _) = idx.search(["renal failure", "epileptiform activity"], k=1, budget=8, n_rescore=4)
    assert strings[ids[0]] == "renal failure" and scores[0] == pytest.approx(1.0)
    assert strings[ids2[0]] == "interictal epileptiform activity"


# ------------------------------------------------------------------ search regression
def _same_up_to_ties(ids_a, sc_a, ids_b, sc_b, atol=1e-5):
    """Same similarities, and the same strings wherever the similarity is above the last one
    (strings tied with the k-th may be cut either way)."""
    if len(sc_a) != len(sc_b) or not np.allclose(sc_a, sc_b, atol=atol):
        return False
    if not len(sc_a):
        return True
    low = float(sc_a[-1]) + atol
    return {i for i, s in zip(ids_a, sc_a, strict=True) if s > low} == {i for i, s in zip(ids_b, sc_b, strict=True) if s > low}


def test_search_matches_previous_implementation_and_brute_force(fx):
    """tests/fixtures/linking/search_regression.json: 3,136 KB strings, 407 queries, and the results
    of the implementation before the speed-up (exact and pruned search)."""
    ref = json.loads((fx / "search_regression.json").read_text())
    strings, queries = ref["strings"], ref["queries"]
    idx = TfidfIndex.build(strings)
    # exact search = the previous exact search = a brute-force dense cosine
    exact = idx.search(queries, k=10, budget=None)
    qrow, feat, w, _ = idx._featurize(queries)
    q = np.zeros((len(queries), idx.n_features), dtype=np.float64)
    q[qrow, feat] = w
    kb = np.zeros((len(strings), idx.n_features), dtype=np.float64)
    srow, sfeat, sw, _ = idx._featurize(strings)
    kb[srow, sfeat] = sw
    dense = q @ kb.T
    for i, ((ids, sc), (old_ids, old_sc)) in enumerate(zip(exact, ref["results"]["exact"], strict=True)):
        assert _same_up_to_ties(ids.tolist(), sc, old_ids, old_sc), queries[i]
        expected = np.sort(dense[i][dense[i] > 0])[::-1][:10]
        assert np.allclose(sc, expected, atol=1e-5) and np.allclose(dense[i][ids], sc, atol=1e-5), queries[i]
    # pruned search: the same candidates as before, or better ones (ties at the re-scoring cut are kept now)
    for name, budget in (("budget_64", 64), ("budget_512", 512)):
        same = 0
        for (ids, sc), (old_ids, old_sc) in zip(idx.search(queries, k=10, budget=budget, n_rescore=16), ref["results"][name], strict=True):
            if _same_up_to_ties(ids.tolist(), sc, old_ids, old_sc):
                same += 1
            else:
                n = min(len(sc), len(old_sc))
                assert len(sc) >= len(old_sc) and np.all(sc[:n] >= np.asarray(old_sc[:n]) - 1e-5)
        assert same >= 0.98 * len(queries)


def test_sorted_sum_equals_sparse_product():
    # small batches are summed by sorting the posting entries, large ones by the sparse product
    strings = [f"renal failure of site {i}" for i in range(3000)] + ["acute renal failure", "renal failure"]
    idx = TfidfIndex.build(strings)
    qrow, feat, w, _ = idx._featurize(["renal failur", "acute renal failure", "site 17"])
    ptr = idx.arrays["post_ptr"]
    lens = ptr[feat + 1] - ptr[feat]
    by_sort = idx._sum_sorted(qrow, feat, lens, w, 3)
    by_product = idx._spmm(qrow, feat, w, 3, lens)
    for row in range(3):
        rows = []
        for indptr, indices, data in (by_sort, by_product):
            r0, r1 = indptr[row], indptr[row + 1]
            rows.append(dict(zip(indices[r0:r1].tolist(), data[r0:r1].tolist(), strict=True)))
        assert rows[0].keys() == rows[1].keys() and len(rows[0]) > 100
        assert np.allclose([rows[0][i] for i in rows[0]], [rows[1][i] for i in rows[0]], atol=1e-6)


def test_sparse_product_in_row_groups():
    # rows are multiplied in groups whose output bound fits a limit: any grouping, same result
    strings = [f"renal failure of site {i}" for i in range(500)] + ["acute renal failure", "heart failure"]
    idx = TfidfIndex.build(strings)
    qrow, feat, w, _ = idx._featurize(["renal failur", "heart failure", "site 17", "xqzj"])
    ptr = idx.arrays["post_ptr"]
    lens = ptr[feat + 1] - ptr[feat]
    whole = idx._spmm(qrow, feat, w, 4, lens)
    grouped = idx._spmm(qrow, feat, w, 4, lens, max_out=1)
    assert whole[0].tolist() == grouped[0].tolist()
    assert whole[1].tolist() == grouped[1].tolist() and np.allclose(whole[2], grouped[2])


# ------------------------------------------------------------------ storage
def test_run_array_reads_like_numpy(tmp_path):
    import pickle

    from spacy_clinical_ner.linking.storage import RunArray, take_runs

    data = np.arange(0, 3000, 3, dtype=np.int32)
    np.save(tmp_path / "a.npy", data)
    ra = RunArray(tmp_path / "a.npy")
    assert len(ra) == 1000 and ra.dtype == np.int32
    assert ra[10:20].tolist() == data[10:20].tolist() and ra[5:5].tolist() == []
    starts, lens = np.array([0, 500, 999, 7]), np.array([3, 0, 1, 4])
    assert take_runs(ra, starts, lens).tolist() == take_runs(data, starts, lens).tolist()
    assert take_runs(ra, starts, lens).tolist() == [0, 3, 6, 2997, 21, 24, 27, 30]
    assert np.asarray(ra).tolist() == data.tolist()
    again = pickle.loads(pickle.dumps(ra))
    assert again[998:1000].tolist() == [2994, 2997]
    with pytest.raises(TypeError):
        ra[::2]


def test_index_from_disk_reads_postings_by_runs(tmp_path):
    """The saved index reads its posting lists with pread and finds the same candidates as the
    in-memory one, exact and pruned."""
    from spacy_clinical_ner.linking.storage import HAS_PREAD, RunArray

    strings = [f"renal failure of site {i}" for i in range(400)] + ["acute renal failure", "heart failure", "aspirin"]
    built = TfidfIndex.build(strings)
    built.to_disk(tmp_path / "index")
    loaded = TfidfIndex.from_disk(tmp_path / "index")
    if HAS_PREAD:
        assert isinstance(loaded.arrays["post_idx"], RunArray) and isinstance(loaded.arrays["word_idx"], RunArray)
    queries = ["renal failur", "heart failure", "site 17", "asprin", "xqzj"]
    for budget, n_rescore in ((None, 128), (8, 4), (64, 16)):
        for (ids_a, sc_a), (ids_b, sc_b) in zip(
            built.search(queries, k=5, budget=budget, n_rescore=n_rescore),
            loaded.search(queries, k=5, budget=budget, n_rescore=n_rescore),
            strict=True,
        ):
            assert ids_a.tolist() == ids_b.tolist() and np.allclose(sc_a, sc_b)
    # saving a loaded index writes the same arrays (and drops arrays of an older format)
    np.save(tmp_path / "index" / "post_w.npy", np.zeros(3, np.float32))
    loaded.to_disk(tmp_path / "index")
    assert not (tmp_path / "index" / "post_w.npy").exists()
    again = TfidfIndex.from_disk(tmp_path / "index")
    assert np.asarray(again.arrays["post_idx"]).tolist() == np.asarray(built.arrays["post_idx"]).tolist()


def test_index_word_ids_do_not_depend_on_the_hash_seed():
    # word ids in first-occurrence order (a set's order changes with PYTHONHASHSEED, and ties
    # between equally rare words are broken by id in the pruned search)
    assert TfidfIndex.build(["renal failure acute", "acute heart failure", "heart"]).words == {
        "renal": 0,
        "failure": 1,
        "acute": 2,
        "heart": 3,
    }


def test_kb_from_disk_reads_records_by_runs(umls_kb, tmp_path):
    """The saved KB reads concept names and records with pread (not mapped: scattered reads of a
    mapped file pull 64 KB each into the resident set) and gives the same concepts, by index, by
    iteration, and saved again, to disk and to bytes."""
    from spacy_clinical_ner.linking.storage import HAS_PREAD, RunArray

    umls_kb.to_disk(tmp_path / "kb")
    loaded = KnowledgeBase.from_disk(tmp_path / "kb")
    if HAS_PREAD:
        assert all(isinstance(loaded.arrays[n], RunArray) for n in KnowledgeBase.RUN_ARRAYS)
    expected = [c.to_dict() for c in umls_kb]
    assert [c.to_dict() for c in loaded] == expected
    assert [loaded.concept_at(i).to_dict() for i in range(len(loaded))] == expected
    assert [loaded.name(i) for i in range(len(loaded))] == [c["canonical_name"] for c in expected]
    loaded.to_disk(tmp_path / "kb")  # over the files it reads from
    assert [c.to_dict() for c in KnowledgeBase.from_disk(tmp_path / "kb")] == expected
    assert [c.to_dict() for c in KnowledgeBase.from_bytes(loaded.to_bytes())] == expected
    assert list(KnowledgeBase.from_disk(tmp_path / "kb", mmap=False)) == list(umls_kb)
    # iteration reads blocks of records: across block boundaries too
    many = [Concept(f"X:{i:05d}", f"näme {i}", [f"alias {i}"] * (i % 3), ["DISO"], None, [f"MESH:D{i}"]) for i in range(8192 + 300)]
    KnowledgeBase.from_concepts(many).to_disk(tmp_path / "many")
    assert list(KnowledgeBase.from_disk(tmp_path / "many")) == many


def test_pipeline_saved_into_its_own_folder(linker_nlp, tmp_path):
    # spacy.load(path) then nlp.to_disk(path): the memory-mapped arrays of the loaded KB and index
    # stay valid (files are replaced, not truncated under the maps)
    texts = ["heart attack", "aspirin", "xyzzy"]
    linker_nlp.to_disk(tmp_path / "p")
    loaded = spacy.load(tmp_path / "p")
    before = [_annotations(loaded(make_doc(loaded, t, [(t, "DISEASE")]))) for t in texts]
    assert [a[0][3] for a in before] == ["C0027051", "C0004057", "NIL"]
    loaded.to_disk(tmp_path / "p")
    assert [_annotations(loaded(make_doc(loaded, t, [(t, "DISEASE")]))) for t in texts] == before
    again = spacy.load(tmp_path / "p")
    assert [_annotations(again(make_doc(again, t, [(t, "DISEASE")]))) for t in texts] == before
    assert not list((tmp_path / "p").rglob("*.tmp"))


def test_skip_entries_find_positions_in_long_posting_lists(tmp_path):
    from spacy_clinical_ner.linking.candidates import SKIP

    strings = [f"renal site {i}" for i in range(3 * SKIP + 17)]
    built = TfidfIndex.build(strings)
    built.to_disk(tmp_path / "index")
    for idx in (built, TfidfIndex.from_disk(tmp_path / "index")):
        ptr = np.asarray(idx.arrays["post_ptr"])
        f = idx.vocab[" re"]
        full = np.asarray(idx.arrays["post_idx"])[ptr[f] : ptr[f + 1]]
        assert len(full) > 3 * SKIP
        for value in (-1, 0, 1, SKIP - 1, SKIP, SKIP + 1, 2 * SKIP + 5, int(full[-1]), int(full[-1]) + 1):
            assert idx._lower_bound(f, value) == ptr[f] + int(np.searchsorted(full, value)), value


def test_error_handler_and_uninitialised_save(linker_nlp, tmp_path):
    """nlp.set_error_handler applies to the linker's batches; a linker without a KB saves and loads
    (uninitialised, E403 when called), as spaCy's entity_linker does."""
    nlp = clinical_blank()
    nlp.add_pipe("umls_linker", config={"spans_key": "sc"})
    nlp.get_pipe("umls_linker").initialize(kb=linker_nlp.get_pipe("umls_linker").kb)
    with pytest.raises(KnowledgeBaseError, match=r"\[E404\]"):
        list(nlp.pipe([nlp.make_doc("no group")]))
    nlp.set_error_handler(spacy.util.ignore_error)
    assert list(nlp.pipe([nlp.make_doc("no group")])) == []
    fresh = clinical_blank()
    fresh.add_pipe("umls_linker")
    fresh.to_disk(tmp_path / "uninit")
    loaded = spacy.load(tmp_path / "uninit")
    assert not loaded.get_pipe("umls_linker").is_initialized
    with pytest.raises(KnowledgeBaseError, match=r"\[E403\]"):
        loaded(loaded.make_doc("fever"))
    again = clinical_blank()
    again.add_pipe("umls_linker").from_bytes(fresh.get_pipe("umls_linker").to_bytes())
    assert not again.get_pipe("umls_linker").is_initialized


def test_kb_ents_are_lists_after_docbin(linker_nlp):
    doc = linker_nlp(make_doc(linker_nlp, "heart attack", [("heart attack", "DISEASE")]))
    (doc2,) = list(DocBin(store_user_data=True, docs=[doc]).get_docs(linker_nlp.vocab))
    assert doc2.ents[0]._.kb_ents == doc.ents[0]._.kb_ents and all(isinstance(x, list) for x in doc2.ents[0]._.kb_ents)
    unlinked = linker_nlp.make_doc("fever")
    assert unlinked[0:1]._.kb_ents == []  # scispaCy's default


def test_kb_readers_are_strict_and_keep_everything(tmp_path, fx, umls_kb):
    """RRF with a byte-order mark; JSONL with U+2028 in a string, strings for lists, TUIs -> groups;
    a JSONL export scispaCy's own loader reads."""
    meta = tmp_path / "meta"
    meta.mkdir()
    for name in ("MRCONSO.RRF", "MRSTY.RRF", "MRDEF.RRF"):
        (meta / name).write_bytes(b"\xef\xbb\xbf" + (fx / name).read_bytes())
    kb = read_umls(meta).build()
    assert not [c.concept_id for c in kb if not c.concept_id.startswith("C")]
    assert kb.get("C0011849").types  # the first row's concept kept its semantic types
    jsonl = tmp_path / "kb.jsonl"
    record = {"concept_id": "C1", "canonical_name": "Foo\u2028bar", "aliases": ["foo"], "types": ["T047"]}
    jsonl.write_text(json.dumps(record, ensure_ascii=False) + "\n", encoding="utf8")
    kb = read_scispacy_jsonl(jsonl).build()
    assert kb.get("C1").canonical_name == "Foo\u2028bar" and "DISO" in kb.get("C1").types
    jsonl.write_text(json.dumps({"concept_id": "C8", "canonical_name": "x", "aliases": "heart attack"}) + "\n", encoding="utf8")
    with pytest.raises(KnowledgeBaseError, match=r"line 1: aliases must be a list of strings"):
        read_scispacy_jsonl(jsonl)
    from scispacy.linking_utils import KnowledgeBase as ScispacyKB

    umls_kb.to_jsonl(tmp_path / "for_scispacy.jsonl", xrefs=False)
    assert "C0011849" in ScispacyKB(str(tmp_path / "for_scispacy.jsonl")).cui_to_entity


def test_stale_index_is_not_used(tmp_path):
    """build-kb into a folder that holds another KB's index must not link with it."""
    from typer.testing import CliRunner

    from spacy_clinical_ner.cli import load_commands

    a, b = tmp_path / "a.jsonl", tmp_path / "b.jsonl"
    a.write_text('{"concept_id":"C1","canonical_name":"diabetes mellitus"}\n{"concept_id":"C2","canonical_name":"heart attack"}\n')
    b.write_text('{"concept_id":"C2","canonical_name":"heart attack"}\n{"concept_id":"C3","canonical_name":"asthma"}\n')
    out = tmp_path / "kb"
    app = load_commands()
    assert CliRunner().invoke(app, ["build-kb", str(out), "--source", "scispacy", "--path", str(a)]).exit_code == 0
    assert CliRunner().invoke(app, ["build-kb", str(out), "--source", "scispacy", "--path", str(b), "--no-index"]).exit_code == 0
    nlp = clinical_blank()
    nlp.add_pipe("umls_linker").initialize(kb=out)
    doc = nlp(make_doc(nlp, "asthma and heart attack", [("asthma", "X"), ("heart attack", "X")]))
    assert [e.kb_id_ for e in doc.ents] == ["C3", "C2"]
    # an index whose fingerprint is another KB's is rebuilt too
    assert CliRunner().invoke(app, ["build-kb", str(out), "--source", "scispacy", "--path", str(a)]).exit_code == 0
    from spacy_clinical_ner.linking.builders import create_scispacy_kb

    create_scispacy_kb(b).to_disk(out)
    nlp = clinical_blank()
    nlp.add_pipe("umls_linker").initialize(kb=out)
    doc = nlp(make_doc(nlp, "asthma and heart attack", [("asthma", "X"), ("heart attack", "X")]))
    assert [e.kb_id_ for e in doc.ents] == ["C3", "C2"]


def test_exact_match_passes_threshold_one_and_unknown_types_warn(umls_kb):
    nlp = clinical_blank()
    nlp.add_pipe("umls_linker", config={"threshold": 1.0})
    nlp.get_pipe("umls_linker").initialize(kb=umls_kb)
    doc = nlp(make_doc(nlp, "myocardial infarction", [("myocardial infarction", "DISEASE")]))
    assert doc.ents[0].kb_id_ == "C0027051"
    nlp = clinical_blank()
    nlp.add_pipe("umls_linker", config={"type_filter": {"DISEASE": ["T0047"]}})
    with pytest.warns(UserWarning, match=r"\[W401\].*T0047"):
        nlp.get_pipe("umls_linker").initialize(kb=umls_kb)


def test_spans_with_the_same_offsets_keep_the_best_link(umls_kb):
    nlp = clinical_blank()
    nlp.add_pipe("umls_linker", config={"spans_key": "sc", "type_filter": {"DRUG": ["CHEM"], "PROBLEM": ["DISO"]}})
    nlp.get_pipe("umls_linker").initialize(kb=umls_kb)
    doc = nlp.make_doc("aspirin")
    doc.spans["sc"] = [Span(doc, 0, 1, label="DRUG"), Span(doc, 0, 1, label="PROBLEM")]
    doc = nlp(doc)
    drug, problem = doc.spans["sc"]
    assert drug.kb_id_ == "C0004057" and problem.kb_id_ == "NIL"
    assert drug._.kb_ents[0][0] == "C0004057" and drug._.kb_name  # not overwritten by the NIL span


def test_damaged_kb_and_meta_folders_name_the_file(tmp_path, umls_kb, fx):
    (tmp_path / "meta").mkdir()
    (tmp_path / "meta" / "MRCONSO.RRF.gz").write_bytes(b"")
    with pytest.raises(KnowledgeBaseError, match=r"\[E409\].*MRCONSO.RRF.*found MRCONSO.RRF.gz"):
        read_umls(tmp_path / "meta")
    kb_dir = tmp_path / "kb"
    umls_kb.to_disk(kb_dir)
    (kb_dir / "ids.npy").write_bytes(b"garbage")
    with pytest.raises(KnowledgeBaseError, match=r"\[E410\].*ids.npy"):
        KnowledgeBase.from_disk(kb_dir)
    umls_kb.to_disk(kb_dir)
    (kb_dir / "kb.json").write_text("{not json", encoding="utf8")
    with pytest.raises(KnowledgeBaseError, match=r"\[E410\].*kb.json"):
        KnowledgeBase.from_disk(kb_dir)
    index_dir = tmp_path / "index"
    TfidfIndex.build(umls_kb.iter_strings()).to_disk(index_dir)
    post = next(p for p in sorted(index_dir.glob("*.npy")) if p.stat().st_size > 200)
    post.write_bytes(post.read_bytes()[:-64])  # truncated: found when the index opens, not at the first query
    with pytest.raises(KnowledgeBaseError, match=r"\[E410\]"):
        TfidfIndex.from_disk(index_dir)


def test_build_kb_cli_umls_options(tmp_path, fx):
    from typer.testing import CliRunner

    from spacy_clinical_ner.cli import load_commands

    app = load_commands()
    out = tmp_path / "kb"
    result = CliRunner().invoke(
        app, ["build-kb", str(out), "--source", "umls", "--path", str(fx), "--languages", "ALL", "--include-suppressed"]
    )
    assert result.exit_code == 0, result.output
    every = KnowledgeBase.from_disk(out)
    english = create_umls_kb(fx)
    assert "Sugar diabetes obsolete" in every.get("C0011849").aliases  # suppressed row kept
    assert "Sugar diabetes obsolete" not in english.get("C0011849").aliases
    assert not [x for x in every.get("C0011849").xrefs if x.startswith("MSHGER")]  # translations repeat MeSH ids
    result = CliRunner().invoke(app, ["build-kb", str(out), "--source", "scispacy", "--path", str(fx / "kb.jsonl"), "--languages", "FRE"])
    assert result.exit_code != 0 and "cannot be used with --source scispacy" in result.output
    result = CliRunner().invoke(app, ["build-kb", str(out), "--vocab-dir", str(tmp_path / "nowhere")])
    assert result.exit_code != 0 and "--vocab-dir" in result.output


# ------------------------------------------------------------------ issue 19: merged concepts, types, expansion, brands
def test_merged_concepts_keep_every_source_id():
    b = KBBuilder()
    b.add("C0000001", "Seizure", ["Seizures"], ["DISO"], None, ["MESH:D012640", "HP:0001250"], source="HPO")
    b.add("DOID:1826", "epileptic seizure", ["fits"], ["DISO"], "a def", ["MESH:D012640", "OMIM:600000", "ICD10CM:R56"], source="DOID")
    # a key shared by two CUI concepts is a broader mapping: no merge
    b.add("C0000002", "Neoplasm", [], ["DISO"], None, ["MESH:D009369"], source="MONDO")
    b.add("C0000003", "Tumour", [], ["DISO"], None, ["MESH:D009369"], source="MONDO")
    b.add("DOID:162", "cancer", [], ["DISO"], None, ["MESH:D009369"], source="DOID")
    # a drug sharing a MeSH id with a disease stays apart; an ICD code is not an identity
    b.add("C0000004", "Copper deficiency", [], ["DISO"], None, ["MESH:D000070", "ICD10CM:E61.0"], source="DOID")
    b.add("DRUGBANK:DB09130", "Copper", [], ["CHEM"], None, ["MESH:D000070"], source="DRUGBANK")
    b.add("DOID:9999", "other", [], ["DISO"], None, ["ICD10CM:E61.0"], source="DOID")
    merged = b.merge_by_xrefs()
    assert merged == {"DOID:1826": "C0000001"}
    concepts = {c.concept_id: c for c in b.concepts()}
    assert "DOID:1826" not in concepts and {"DOID:162", "DRUGBANK:DB09130", "DOID:9999"} <= set(concepts)
    c = concepts["C0000001"]
    assert c.canonical_name == "Seizure" and c.definition == "a def"
    assert {"DOID:1826", "MESH:D012640", "HP:0001250", "OMIM:600000", "ICD10CM:R56"} <= set(c.xrefs)
    assert c.aliases == ["Seizure", "Seizures", "epileptic seizure", "fits"]
    assert c.sources_of("Seizures") == ["HPO"] and c.sources_of("fits") == ["DOID"]
    # the sources survive the compiled KB, and a KB written without them still reads
    kb = KnowledgeBase.from_concepts(concepts.values())
    assert kb.get("C0000001").sources_of("epileptic seizure") == ["DOID"] and kb.get("C0000001").ids("OMIM") == {"OMIM:600000"}
    plain = KnowledgeBase.from_concepts([Concept("C9", "x", ["y"])])
    assert plain.get("C9").alias_sources == [] and plain.get("C9").sources_of("y") == []


@pytest.fixture(scope="module")
def typed_kb():
    b = KBBuilder()
    b.add("DRUGBANK:DB09130", "Copper", ["copper", "Cu"], ["CHEM"], source="DRUGBANK")
    b.add("DRUGBANK:DB12466", "Favipiravir", ["T-705", "A-T 705"], ["CHEM"], source="DRUGBANK")
    b.add("C0019202", "hepatolenticular degeneration", ["Wilson disease", "copper toxicosis syndrome"], ["DISO"], source="DOID")
    b.add("C0004135", "ataxia telangiectasia", ["Louis-Bar syndrome"], ["DISO"], source="DOID")
    b.add("HP:0000006", "Autosomal dominant inheritance", [], ["CONC"], source="HPO")
    return b.build()


def test_disease_mention_never_links_to_a_drug(typed_kb, tmp_path):
    nlp = clinical_blank()
    linker = nlp.add_pipe("umls_linker", config={"threshold": 0.0, "require_coverage": False})
    linker.initialize(kb=typed_kb)
    kb = linker.kb
    texts = ["copper", "copper toxicosis", "A-T", "Copper"]
    for label in ("Disease_disorder", "Sign_symptom", "Disease"):
        for cands in linker.link_texts(texts, [label] * len(texts)) + linker.candidates(texts, k=10, labels=[label] * len(texts)):
            assert all("CHEM" not in kb.get(cid).types for cid, _ in cands)
    assert linker.link_texts(["copper"], ["Medication"])[0][0][0] == "DRUGBANK:DB09130"
    assert linker.link_texts(["copper toxicosis"], ["Disease_disorder"])[0][0][0] == "C0019202"
    # the raw ranking (no label) still sees the drug first
    assert linker.candidates(["copper"], k=1)[0][0][0] == "DRUGBANK:DB09130"
    # the default table is saved with the pipeline and read back from it
    doc = nlp(make_doc(nlp, "copper toxicosis", [("copper toxicosis", "Disease_disorder")]))
    assert doc.ents[0].kb_id_ == "C0019202"
    nlp.to_disk(tmp_path / "pipe")
    saved = json.loads((tmp_path / "pipe" / "umls_linker" / "cfg").read_text())
    assert saved["type_filter"]["Disease_disorder"] == ["DISO"] and saved["type_filter"]["Medication"] == ["CHEM"]
    saved["type_filter"] = {"Disease_disorder": ["CHEM"]}  # what an older default would have been
    (tmp_path / "pipe" / "umls_linker" / "cfg").write_text(json.dumps(saved))
    nlp2 = spacy.load(tmp_path / "pipe")
    assert nlp2.get_pipe("umls_linker").cfg["type_filter"] == {"Disease_disorder": ["CHEM"]}
    assert nlp2.get_pipe("umls_linker").link_texts(["copper"], ["Disease_disorder"])[0][0][0] == "DRUGBANK:DB09130"


def test_type_rerank_mode_and_bad_mode(typed_kb):
    nlp = clinical_blank()
    linker = nlp.add_pipe("umls_linker", config={"threshold": 0.0, "require_coverage": False, "type_mode": "rerank", "type_penalty": 0.1})
    linker.initialize(kb=typed_kb)
    ranked = linker.candidates(["copper toxicosis"], k=10, labels=["Disease"])[0]
    assert ranked[0][0] == "C0019202" and "DRUGBANK:DB09130" in [c for c, _ in ranked]
    drug = dict(ranked)["DRUGBANK:DB09130"]
    assert drug < 0.1 + 1e-6  # its score times the penalty
    with pytest.raises(KnowledgeBaseError, match="type_mode"):
        clinical_blank().add_pipe("umls_linker", config={"type_mode": "sort"})


def test_undefined_short_form_needs_an_exact_alias(typed_kb):
    from spacy_clinical_ner.linking.kb import is_short_form

    assert is_short_form("A-T") and is_short_form("APC") and is_short_form("MEN1") and is_short_form("HPT-JT")
    assert not is_short_form("Lasix") and not is_short_form("pH") and not is_short_form("copper toxicosis")
    nlp = clinical_blank()
    linker = nlp.add_pipe("umls_linker", config={"threshold": 0.0, "require_coverage": False})
    linker.initialize(kb=typed_kb)
    assert linker.candidates(["A-T"], labels=["Medication"])[0] == []  # "A-T 705" shares 3-grams only
    assert linker.candidates(["CU"], labels=["Medication"])[0][0][0] == "DRUGBANK:DB09130"  # an exact alias
    # defined in the document: the long form is looked up
    text = "Ataxia telangiectasia (A-T) is rare. Most A-T patients"
    doc = nlp.make_doc(text)
    start = text.rindex("A-T")
    doc.ents = [doc.char_span(start, start + 3, label="Disease")]
    assert nlp(doc).ents[0].kb_id_ == "C0004135"


def _write_pubtator(path, mentions):
    lines, text = [], ""
    for i, (mention, label, gold) in enumerate(mentions):
        text = f"{mention} was seen."
        lines += [f"{i}|t|{text}", f"{i}|a|", f"{i}\t0\t{len(mention)}\t{mention}\t{label}\t{gold}", ""]
    path.write_text("\n".join(lines) + "\n")
    return path


def test_expansion_alias_from_a_train_split_is_used(tmp_path):
    from spacy_clinical_ner.linking.builders import read_pubtator_aliases

    def sources():
        b = KBBuilder()
        b.add("C0036572", "Seizures", ["Seizure"], ["DISO"], source="HPO")
        b.add("C0270824", "visual epilepsy", [], ["DISO"], None, ["MESH:D012640"], source="DOID")
        b.add("C0003", "aortic valve stenosis", ["AS"], ["DISO"], source="DOID")
        b.add("MESH:D010146", "Analgesics", [], ["CHEM"], source="DRUGBANK")  # a drug dictionary's wrong MeSH id
        return b

    train = _write_pubtator(
        tmp_path / "CDR_TrainingSet.PubTator.txt",
        [("seizures", "Disease", "D012640")] * 2
        + [("fits and starts", "Disease", "D012640"), ("AS", "SpecificDisease", "D017204"), ("pain", "Disease", "D010146")]
        + [("rare thing", "Disease", "D000001"), ("rare thing", "Disease", "D000002")],
    )
    b = read_pubtator_aliases([train], sources())
    concepts = {c.concept_id: c for c in b.concepts()}
    seizure = concepts["C0036572"]
    # the concept the texts name gets them (and the MeSH id), not the epilepsy carrying the id
    assert "fits and starts" in seizure.aliases and "MESH:D012640" in seizure.xrefs
    assert seizure.sources_of("fits and starts") == ["train:CDR_TrainingSet.PubTator.txt"]
    assert seizure.sources_of("Seizure") == ["HPO"]
    assert "fits and starts" not in concepts["C0270824"].aliases
    # "AS" is aortic stenosis in the sources: the corpus's reading is not added
    assert not any("AS" in c.aliases for cid, c in concepts.items() if cid != "C0003")
    # a disease text does not go to a drug, and an ambiguous text goes nowhere
    assert "pain" not in concepts["MESH:D010146"].aliases and "pain" not in [a for c in concepts.values() for a in c.aliases]
    assert not any("rare thing" in c.aliases for c in concepts.values())
    # the expansion alias is what links the mention
    nlp = clinical_blank()
    linker = nlp.add_pipe("umls_linker")
    linker.initialize(kb=KnowledgeBase.from_concepts(concepts.values()))
    assert linker.link_texts(["fits and starts"], ["Disease"])[0][0][0] == "C0036572"
    without = clinical_blank().add_pipe("umls_linker")
    without.initialize(kb=sources().build())
    assert without.link_texts(["fits and starts"], ["Disease"]) == [[]]
    # never from a dev or test split
    for name in ("CDR_TestSet.PubTator.txt", "NCBIdevelopset_corpus.txt", "CDR_DevelopmentSet.PubTator.txt"):
        held_out = _write_pubtator(tmp_path / name, [("seizures", "Disease", "D012640")])
        with pytest.raises(KnowledgeBaseError, match="E411"):
            read_pubtator_aliases([held_out], sources())


@pytest.fixture(scope="module")
def drug_linker():
    pytest.importorskip("drug_named_entity_recognition")
    from spacy_clinical_ner.linking.builders import read_drugs

    nlp = clinical_blank()
    nlp.add_pipe("umls_linker", config={"labels": ["Medication"]}).initialize(kb=read_drugs().build())
    return nlp


@pytest.mark.parametrize(
    "text,ingredient",
    [
        ("Motrin 800 mg", "Ibuprofen"),
        ("Zoloft", "Sertraline"),
        ("Crestor 10mg daily", "Rosuvastatin"),
        ("Lasix 40 mg PO BID", "Furosemide"),
        ("Tylenol", "Acetaminophen"),
        ("insulin glargine 10 units", "Insulin Glargine"),
    ],
)
def test_brand_names_resolve(drug_linker, text, ingredient):
    doc = drug_linker(make_doc(drug_linker, f"Started {text} today.", [(text, "Medication")]))
    ent = doc.ents[0]
    assert ent._.kb_name == ingredient and ent.kb_id_.startswith("DRUGBANK:")


def test_strip_dose():
    from spacy_clinical_ner.linking.component import strip_dose

    assert strip_dose("motrin 800 mg") == "motrin" and strip_dose("lasix 40 mg po daily") == "lasix"
    assert strip_dose("vitamin b12") == "vitamin b12" and strip_dose("5 fluorouracil 500 mg") == "5 fluorouracil"
    assert strip_dose("factor x") == "factor x" and strip_dose("insulin glargine 10 units") == "insulin glargine"


def test_grounding_filter_drops_only_ungrounded_unsure_findings(linker_nlp, tmp_path):
    """An everyday word taken for a finding (no concept, low confidence) goes to doc.spans["ungrounded"];
    a grounded finding, a confident one and an entity of another label stay, whatever their confidence."""
    from spacy_clinical_ner.confidence.component import CONFIDENCE_ATTR, install_extensions

    install_extensions()
    nlp = linker_nlp
    nlp.add_pipe("clinical_grounding_filter", config={"labels": ["FINDING"], "min_confidence": 0.5})
    text = "Some construction at home, hypertension, xyzzy qwrtp and zzkx today."
    doc = make_doc(nlp, text, [("construction", "FINDING"), ("hypertension", "FINDING"), ("xyzzy qwrtp", "FINDING"), ("zzkx", "DRUG")])
    confidence = {"construction": 0.41, "hypertension": 0.2, "xyzzy qwrtp": 0.9, "zzkx": 0.1}
    for ent in doc.ents:
        ent._.set(CONFIDENCE_ATTR, confidence[ent.text])
    doc = nlp(doc)
    assert [e.text for e in doc.ents] == ["hypertension", "xyzzy qwrtp", "zzkx"]
    assert [(s.text, s._.get(CONFIDENCE_ATTR)) for s in doc.spans["ungrounded"]] == [("construction", 0.41)]
    # round trip of the pipeline keeps the settings; an empty doc passes
    nlp.to_disk(tmp_path / "p")
    filt = spacy.load(tmp_path / "p").get_pipe("clinical_grounding_filter")
    assert filt.labels == {"FINDING"} and filt.min_confidence == 0.5
    assert len(nlp(nlp.make_doc("")).spans["ungrounded"]) == 0


def test_grounding_filter_needs_a_linker_before_it():
    nlp = clinical_blank()
    nlp.add_pipe("clinical_grounding_filter")
    with pytest.raises(ValueError, match="E908"):
        nlp("fever")
    with pytest.raises(ValueError, match="E907"):
        clinical_blank().add_pipe("clinical_grounding_filter", config={"min_confidence": 2})


def test_registered_candidate_generator_is_what_the_linker_uses(linker_nlp, umls_kb):
    """spacy-clinical-ner.candidate_generator.v1 ranks concepts for normalised strings with no threshold or type
    filter; the linker's own generator gives the same ranking."""
    from spacy.util import registry

    import spacy_clinical_ner.linking.generator  # noqa: F401  (registers it before entry points are installed)

    linker = linker_nlp.get_pipe("umls_linker")
    generator = registry.misc.get("spacy-clinical-ner.candidate_generator.v1")()(linker.kb, linker.index)
    ranked = generator(["diabetes mellitus", "xyzzy qwrtp"])
    assert ranked[0] and linker.kb.concept_id(ranked[0][0][0]) == "C0011849" and ranked[1] == []
    assert [s for _, s in ranked[0]] == sorted((s for _, s in ranked[0]), reverse=True)
    assert linker.generator(["diabetes mellitus"]) == ranked[:1]
    generator.clear_cache()
    assert generator(["diabetes mellitus"]) == ranked[:1]
