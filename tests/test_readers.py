"""BRAT and PubTator readers on the real vendored corpora and on malformed input."""

import json
from collections import Counter

import pytest
from spacy.tokens import DocBin

from spacy_clinical_ner.errors import BratFormatError, ClinicalNERError, PubTatorFormatError
from spacy_clinical_ner.readers.brat import brat_to_doc, doc_to_ann, docs_from_brat, parse_ann, read_brat_document
from spacy_clinical_ner.readers.convert import convert_brat, read_split_file, split_ids
from spacy_clinical_ner.readers.pubtator import normalize_concept_id, pubtator_to_doc, read_pubtator

# Counts from corpus/maccrobat/SOURCE.md ("This folder (train side)").
SOURCE_COUNTS = {
    "documents": 160,
    "entities": 19892,
    "events": 11305,
    "relations": 12917,
    "groups": 1584,
    "group_members": 8445,
    "attributes": 1129,
    "notes": 274,
    "discontinuous": 30,
    "characters": 446022,
}
SOURCE_TYPES = {
    "Diagnostic_procedure": 3587,
    "Sign_symptom": 2710,
    "Biological_structure": 2384,
    "Lab_value": 2245,
    "Disease_disorder": 1064,
    "Medication": 833,
    "Mass": 2,
    "Height": 2,
}
SOURCE_RELATIONS = {"MODIFY": 9187, "BEFORE": 1582, "SUB_PROCEDURE": 1083, "IDENTICAL": 629, "AFTER": 313, "CAUSE": 118, "CO-OCCURRENCE": 5}
SOURCE_ATTRIBUTES = {
    ("POLARITY", "NEG"): 838,
    ("POLARITY", "UNCERTAIN"): 115,
    ("POLARITY", "MAYBE_POS"): 39,
    ("POLARITY", "MAYBE_NEG"): 18,
    ("POLARITY", "POS"): 3,
    ("TREND", "INC"): 55,
    ("TREND", "DEC"): 48,
    ("TREND", "STAY"): 13,
}


@pytest.fixture(scope="module")
def maccrobat_docs(maccrobat_dir):
    from spacy_clinical_ner.tokenizer import clinical_blank

    return list(docs_from_brat(maccrobat_dir, clinical_blank().make_doc))


def corpus_counts(docs):
    c, types, rels, attrs = Counter(), Counter(), Counter(), Counter()
    for doc in docs:
        brat = doc._.brat
        c["documents"] += 1
        c["characters"] += len(doc.text)
        c["entities"] += len(brat["entities"])
        c["events"] += sum(len(e["events"]) for e in brat["entities"])
        c["relations"] += len(brat["relations"])
        c["groups"] += len(brat["groups"])
        c["group_members"] += sum(len(g["members"]) for g in brat["groups"])
        c["attributes"] += len(brat["attributes"])
        c["notes"] += len(brat["notes"])
        c["discontinuous"] += len(brat["alignment"]["discontinuous"])
        types.update(e["label"] for e in brat["entities"])
        rels.update(r["label"] for r in doc._.relations)
        attrs.update((a["name"], a["value"]) for a in brat["attributes"])
    return c, types, rels, attrs


def test_maccrobat_counts_match_source(maccrobat_docs):
    c, types, rels, attrs = corpus_counts(maccrobat_docs)
    assert dict(c) == SOURCE_COUNTS
    for label, n in SOURCE_TYPES.items():
        assert types[label] == n
    assert len(types) == 41
    assert dict(rels) == SOURCE_RELATIONS
    assert dict(attrs) == SOURCE_ATTRIBUTES


def test_maccrobat_alignment_reported(maccrobat_docs):
    exact = expanded = unplaced = in_ents = in_group = 0
    for doc in maccrobat_docs:
        a = doc._.brat["alignment"]
        exact += a["exact"]
        expanded += len(a["expanded"])
        unplaced += len(a["unplaced"])
        in_ents += len(doc.ents)
        in_group += len(doc.spans["entities"])
        # every expanded annotation is listed with its original offsets
        for item in a["expanded"]:
            assert doc.text[item["start"] : item["end"]] == item["text"]
    # nothing is silently lost: every entity is exact or reported
    assert exact + expanded + unplaced == SOURCE_COUNTS["entities"]
    assert in_group == SOURCE_COUNTS["entities"] - unplaced
    # the clinical tokenizer places all but a handful (mostly truncated annotations such as "examinatio")
    assert expanded <= 30 and unplaced == 0  # 29 with ClinicalTokenizer.v2 (45 with v1, 151 with spaCy's English rules)
    assert in_ents > 0.97 * SOURCE_COUNTS["entities"]


def test_events_resolve_to_triggers_and_attributes_attach(maccrobat_dir, nlp):
    doc = brat_to_doc(read_brat_document(maccrobat_dir / "15939911.txt"), nlp.make_doc)
    ents = {e["id"]: e for e in doc._.brat["entities"]}
    assert ents["T4"]["events"] == ["E1"]
    # R2 MODIFY Arg1:E6 Arg2:E5 -> T9 (rest) modifies T8 (symptoms)
    r2 = next(r for r in doc._.brat["relations"] if r["id"] == "R2")
    assert (r2["head"], r2["tail"], r2["label"]) == ("T9", "T8", "MODIFY")
    rec = next(r for r in doc._.relations if r["head"]["start"] == 121)
    assert doc.text[rec["head"]["start"] : rec["head"]["end"]] == "rest"
    assert doc.text[rec["tail"]["start"] : rec["tail"]["end"]] == "symptoms"
    assert all(m.startswith("T") for g in doc._.brat["groups"] for m in g["members"])
    negated = [e for e in doc._.brat["entities"] if e["attributes"].get("POLARITY") == "NEG"]
    assert negated and all(e["events"] for e in negated)


def test_discontinuous_entity_kept_with_fragments(maccrobat_docs):
    found = 0
    for doc in maccrobat_docs:
        for e in doc._.brat["entities"]:
            if len(e["fragments"]) > 1:
                found += 1
                span = next(s for s in doc.spans["entities"] if s.id_ == e["id"])
                assert span.start_char <= e["fragments"][0][0] and span.end_char >= e["fragments"][-1][1]
                assert e["id"] not in {s.id_ for s in doc.ents}
    assert found == SOURCE_COUNTS["discontinuous"]


def test_docbin_round_trip_keeps_relations_and_attributes(maccrobat_docs, nlp):
    docs = maccrobat_docs[:5]
    db = DocBin(store_user_data=True, docs=docs)
    restored = list(DocBin().from_bytes(db.to_bytes()).get_docs(nlp.vocab))
    for a, b in zip(docs, restored):
        assert b._.relations == a._.relations
        # msgpack decodes arrays as tuples: compare the JSON forms
        assert json.dumps(b._.brat, sort_keys=True) == json.dumps(a._.brat, sort_keys=True)
        assert [(e.start, e.end, e.label_) for e in b.ents] == [(e.start, e.end, e.label_) for e in a.ents]
        assert [(s.start, s.end, s.label_, s.id_) for s in b.spans["entities"]] == [
            (s.start, s.end, s.label_, s.id_) for s in a.spans["entities"]
        ]


def test_relations_are_per_doc(nlp):
    from spacy_clinical_ner.extensions import install_doc_extensions

    install_doc_extensions()
    a, b = nlp("one"), nlp("two")
    a._.relations.append({"label": "X"})
    assert b._.relations == []


def test_convert_split_is_deterministic(maccrobat_dir, tmp_path, nlp):
    ids = [p.stem for p in sorted(maccrobat_dir.glob("*.txt"))]
    s1, s2 = split_ids(ids), split_ids(list(reversed(ids)))
    assert s1 == s2
    assert (len(s1["train"]), len(s1["dev"])) == (128, 32)
    assert not set(s1["train"]) & set(s1["dev"])
    # convert a small subset end to end
    sub = tmp_path / "brat"
    sub.mkdir()
    for doc_id in ids[:5]:
        for ext in (".txt", ".ann"):
            (sub / f"{doc_id}{ext}").write_bytes((maccrobat_dir / f"{doc_id}{ext}").read_bytes())
    report = convert_brat(sub, tmp_path / "out", progress=False)
    assert report["totals"]["documents"] == 5
    expected = split_ids(ids[:5])
    for split in ("train", "dev"):
        docs = list(DocBin().from_disk(tmp_path / "out" / f"{split}.spacy").get_docs(nlp.vocab))
        assert [d._.brat["doc_id"] for d in docs] == expected[split] and all(len(d.ents) and d._.relations for d in docs)


def test_split_file_keeps_each_document_in_its_split_when_documents_are_added(maccrobat_dir, tmp_path, nlp):
    ids = [p.stem for p in sorted(maccrobat_dir.glob("*.txt"))]
    base, new = ids[1::2], ids[::2]  # documents added later sort between the first ones
    first = split_ids(base)
    split_file = tmp_path / "split.json"
    split_file.write_text(json.dumps(first), encoding="utf8")
    fixed = read_split_file(split_file)
    grown = split_ids(ids, fixed=fixed)
    # the listed documents keep their split; by the sorted-index rule alone, adding documents moves them
    assert set(first["dev"]) <= set(grown["dev"]) and set(first["train"]) <= set(grown["train"])
    assert not set(first["dev"]) <= set(split_ids(ids)["dev"])
    # a new document is placed by a rule of its own id: the same whatever else is added with it
    placed = set(grown["dev"]) - set(first["dev"])
    assert placed == (set(split_ids(base + new[:40], fixed=fixed)["dev"]) | set(split_ids(base + new[40:], fixed=fixed)["dev"])) - set(first["dev"])
    assert 0 < len(placed) < len(new)
    # end to end: the converter reports what the file did not list and what it listed without a document
    sub = tmp_path / "brat"
    sub.mkdir()
    for doc_id in [base[0], base[1], new[0]]:
        for ext in (".txt", ".ann"):
            (sub / f"{doc_id}{ext}").write_bytes((maccrobat_dir / f"{doc_id}{ext}").read_bytes())
    report = convert_brat(sub, tmp_path / "out", progress=False, split_file=split_file)
    assert report["split_unlisted"] == [new[0]] and len(report["split_missing"]) == len(base) - 2
    assert sorted(report["splits"]["train"] + report["splits"]["dev"]) == sorted([base[0], base[1], new[0]])


@pytest.mark.parametrize("content", ['{"train": ["a"], "dev": ["a"]}', "not json", "[1, 2]"])
def test_a_bad_split_file_is_a_clear_error(tmp_path, content):
    path = tmp_path / "split.json"
    path.write_text(content, encoding="utf8")
    with pytest.raises(ClinicalNERError, match=r"\[E011\] Split file"):
        read_split_file(path)


@pytest.mark.parametrize(
    "line,reason",
    [
        ("T1\tSign_symptom 0 x\tfever", "expected 'Type start end"),
        ("T1 Sign_symptom 0 5\tfever", "expected a tab"),
        ("T1\tSign_symptom 0 500\tfever", "outside the text"),
        ("R1\tMODIFY Arg1:T1\t", "expected 'TYPE Arg1:X Arg2:Y'"),
        ("Q1\tWhatever", "unknown annotation type"),
        ("A1\tPOLARITY", "expected 'NAME Target [Value]'"),
    ],
)
def test_malformed_ann_line_names_file_and_line(line, reason):
    text = "fever and cough"
    ann = "T9\tSign_symptom 10 15\tcough\n" + line + "\n"
    with pytest.raises(BratFormatError) as err:
        parse_ann(ann, text, path="notes/x.ann")
    msg = str(err.value)
    assert "notes/x.ann" in msg and "line 2" in msg and reason in msg


def test_unknown_reference_is_an_error():
    with pytest.raises(BratFormatError, match=r"x.ann, line 2 refers to unknown id 'T7'"):
        parse_ann("T1\tSign_symptom 0 5\tfever\nR1\tMODIFY Arg1:T1 Arg2:T7\t\n", "fever", path="x.ann")


def test_missing_and_bad_files(tmp_path):
    with pytest.raises(FileNotFoundError, match="Missing file"):
        read_brat_document(tmp_path / "nope.txt")
    (tmp_path / "a.txt").write_text("fever", encoding="utf8")
    with pytest.raises(FileNotFoundError, match="a.ann"):
        read_brat_document(tmp_path / "a.txt")
    (tmp_path / "b.txt").write_bytes(b"caf\xe9 fever")
    (tmp_path / "b.ann").write_text("", encoding="utf8")
    with pytest.raises(ClinicalNERError, match="not valid UTF-8"):
        read_brat_document(tmp_path / "b.txt")


def test_offsets_are_code_points_and_crlf_is_kept(tmp_path, nlp):
    text = "Temp 37.5\u00b0C.\r\nNo d\u00e9j\u00e0 vu, no fever."
    start = text.index("fever")
    (tmp_path / "n.txt").write_bytes(("\ufeff" + text).encode("utf8"))
    (tmp_path / "n.ann").write_text(f"T1\tSign_symptom {start} {start + 5}\tfever\n", encoding="utf8")
    doc = brat_to_doc(read_brat_document(tmp_path / "n.txt"), nlp.make_doc)
    assert [e.text for e in doc.ents] == ["fever"]
    assert doc.ents[0].start_char == start


def test_doc_to_ann_round_trip(maccrobat_docs):
    doc = maccrobat_docs[0]
    ann = doc_to_ann(doc, spans_key="entities")
    reparsed = parse_ann(ann, doc.text, path="roundtrip.ann")
    assert {(e.start, e.end, e.label) for e in reparsed.entities.values()} == {
        (s.start_char, s.end_char, s.label_) for s in doc.spans["entities"]
    }
    spans = {e.id: (e.start, e.end) for e in reparsed.entities.values()}
    written = {(r["label"], spans[r["head"]], spans[r["tail"]]) for r in reparsed.relations}
    assert written == {
        (r["label"], (r["head"]["start"], r["head"]["end"]), (r["tail"]["start"], r["tail"]["end"])) for r in doc._.relations
    }  # Arg1 is the head, Arg2 the tail


def test_pubtator_counts(corpus_dir, nlp):
    dev = list(read_pubtator(corpus_dir / "bc5cdr" / "CDR_DevelopmentSet.PubTator.txt"))
    assert len(dev) == 500
    labels = Counter(m.label for d in dev for m in d.mentions)
    assert labels == {"Chemical": 5347, "Disease": 4244}
    ncbi = list(read_pubtator(corpus_dir / "ncbi_disease" / "NCBIdevelopset_corpus.txt"))
    assert len(ncbi) == 100 and sum(len(d.mentions) for d in ncbi) == 787
    doc = pubtator_to_doc(dev[0], nlp.make_doc)
    assert len(doc.spans["entities"]) == len(dev[0].mentions) and doc.spans["entities"][0].kb_id_.startswith("MESH:")
    assert [(s.start_char, s.end_char) for s in doc.spans["entities"]] == [(m.start, m.end) for m in dev[0].mentions]
    assert doc.user_data["pubtator_expanded"] == 0 and doc.user_data["pmid"] == dev[0].pmid
    assert all(a.end <= b.start for a, b in zip(doc.ents, doc.ents[1:], strict=False))  # non-overlapping
    for d in dev[:20]:
        for m in d.mentions:
            assert d.text[m.start : m.end] == m.text


def test_pubtator_ids_and_errors(tmp_path):
    assert normalize_concept_id("D012345") == "MESH:D012345"
    assert normalize_concept_id("OMIM:1234") == "OMIM:1234"
    assert normalize_concept_id("-1") is None
    bad = tmp_path / "bad.txt"
    bad.write_text("1|t|Fever\n1|a|and cough\n1\t0\tx\tFever\tDisease\tD1\n", encoding="utf8")
    with pytest.raises(PubTatorFormatError, match="bad.txt, line 3"):
        list(read_pubtator(bad))


def test_case_variants_augmenter(maccrobat_dir):
    from spacy.training import Example
    from spacy.util import registry

    from spacy_clinical_ner.tokenizer import clinical_blank

    nlp = clinical_blank()
    doc = brat_to_doc(read_brat_document(maccrobat_dir / "15939911.txt"), nlp.make_doc)
    example = Example(nlp.make_doc(doc.text), doc)
    gold = [(e.start_char, e.end_char, e.label_) for e in doc.ents]
    make = registry.augmenters.get("spacy-clinical-ner.case_variants.v1")
    for lower, upper, case in ((1.0, 0.0, str.lower), (0.0, 1.0, str.upper), (0.0, 0.0, str)):
        (out,) = list(make(lower=lower, upper=upper)(nlp, example))
        assert out.reference.text == case(doc.text) and out.predicted.text == case(doc.text)
        assert [(e.start_char, e.end_char, e.label_) for e in out.reference.ents] == gold
    # a token whose upper case is longer ("ß" -> "SS") keeps the example as it is
    odd = nlp.make_doc("Morbus Baßler was seen.")
    odd.ents = [odd.char_span(7, 13, label="Disease_disorder")]
    (out,) = list(make(lower=0.0, upper=1.0)(nlp, Example(nlp.make_doc(odd.text), odd)))
    assert out.reference.text == odd.text
    with pytest.raises(ClinicalNERError, match="case_variants"):
        make(lower=0.8, upper=0.5)


def test_gold_silver_corpus_reads_both_with_full_silver_annotation(tmp_path, corpus_dir):
    """A teacher's entities become silver examples: tokens outside its entities are O, never missing."""
    from spacy.util import registry

    from spacy_clinical_ner.readers.silver import annotate_silver, pubtator_texts
    from spacy_clinical_ner.tokenizer import clinical_blank

    texts = pubtator_texts([corpus_dir / "ncbi_disease" / "NCBIdevelopset_corpus.txt"], n=3, seed=0)
    assert len(texts) == 3 and texts != pubtator_texts([corpus_dir / "ncbi_disease" / "NCBIdevelopset_corpus.txt"], n=3, seed=1)
    teacher = clinical_blank()
    ruler = teacher.add_pipe("entity_ruler")
    ruler.add_patterns([{"label": "Disease_disorder", "pattern": [{"LOWER": {"REGEX": "(cancer|disease|syndrome|deficiency)$"}}]}])
    stats = annotate_silver(teacher, texts, tmp_path / "silver.spacy")
    assert stats["documents"] == 3 and stats["entities"] > 0
    gold = clinical_blank()
    gold_docs = [gold.make_doc("No rash."), gold.make_doc("Mild edema.")]
    gold_docs[0].set_ents([], default="outside")
    gold_docs[1].set_ents([], default="outside")
    DocBin(docs=gold_docs).to_disk(tmp_path / "gold.spacy")

    make = registry.readers.get("spacy-clinical-ner.GoldSilverCorpus.v1")
    nlp = clinical_blank()
    examples = list(make(path=tmp_path / "gold.spacy", silver=tmp_path / "silver.spacy")(nlp))
    assert len(examples) == 5
    silver = examples[2:]
    assert sum(len(eg.reference.ents) for eg in silver) == stats["entities"]
    assert all(t.ent_iob_ in ("B", "I", "O") for eg in silver for t in eg.reference)
    assert len(list(make(path=tmp_path / "gold.spacy", silver=tmp_path / "silver.spacy", silver_limit=1)(nlp))) == 3
    assert len(list(make(path=tmp_path / "gold.spacy", silver=None)(nlp))) == 2
    with pytest.raises(FileNotFoundError, match="E002|silver DocBin"):
        make(path=tmp_path / "gold.spacy", silver=tmp_path / "missing.spacy")
    with pytest.raises(ValueError, match="paths"):
        make(path=None, silver=tmp_path / "silver.spacy")
    with pytest.raises(ClinicalNERError, match="empty"):
        annotate_silver(teacher, [], tmp_path / "empty.spacy")


def test_ann_text_must_match_its_offsets():
    """A shifted offset (or an .ann paired with the wrong .txt) names the file and line; brat's own
    spelling of the text (fragments joined by a space, whitespace collapsed) is accepted."""
    text = "Patient has fever\nand cough."
    with pytest.raises(BratFormatError, match=r"x.ann, line 2: its text does not match the text at offsets 0 7, 'Patient'"):
        parse_ann("T1\tSign_symptom 12 17\tfever\nT2\tSign_symptom 0 7\tfever\n", text, path="x.ann")
    bdoc = parse_ann("T1\tSign_symptom 12 17;22 27\tfever cough\nT2\tSign_symptom 12 21\tfever  and\nT3\tAge 0 7\n", text)
    assert len(bdoc.entities) == 3


def test_ann_lines_end_at_newlines_only():
    text = "Fever\u2028and chest pain"
    bdoc = parse_ann("T1\tSign_symptom 0 15\tFever\u2028and chest\r\n", text)
    assert bdoc.entities["T1"].text == "Fever\u2028and chest"


def test_convert_reports_every_bad_file_and_orphan_ann(tmp_path):
    brat = tmp_path / "brat"
    brat.mkdir()
    (brat / "a.txt").write_text("fever", encoding="utf8")
    (brat / "a.ann").write_text("T1\tSign_symptom 0 5\tfever\n", encoding="utf8")
    (brat / "b.txt").write_text("cough", encoding="utf8")
    (brat / "b.ann").write_text("T1\tSign_symptom 0 x\tcough\n", encoding="utf8")
    (brat / "c.txt").write_text("pain", encoding="utf8")
    (brat / "c.ann").write_text("R1\tMODIFY Arg1:T1 Arg2:T2\n", encoding="utf8")
    with pytest.raises(ClinicalNERError, match=r"2 of 3 documents") as err:
        convert_brat(brat, tmp_path / "out", progress=False)
    assert "b.ann, line 1" in str(err.value) and "c.ann, line 1" in str(err.value)
    assert not (tmp_path / "out" / "train.spacy").exists()
    for name in ("b", "c"):
        (brat / f"{name}.ann").write_text("", encoding="utf8")
    (brat / "lonely.ann").write_text("T1\tSign_symptom 0 5\tfever\n", encoding="utf8")
    with pytest.raises(FileNotFoundError, match="lonely.ann"):
        convert_brat(brat, tmp_path / "out", progress=False)


def test_pubtator_mention_must_match_its_offsets(tmp_path):
    good = tmp_path / "good.txt"
    good.write_text("1|t|Fever and cough.\n1|a|Chest\x0cpain.\n1\t17\t27\tChest\x0cpain\tDisease\tD1\n", encoding="utf8")
    (doc,) = read_pubtator(good)
    assert doc.mentions[0].text == "Chest\x0cpain"
    bad = tmp_path / "bad.txt"
    bad.write_text("1|t|Fever and cough.\n1|a|x\n1\t0\t7\tFever\tDisease\tD1\n", encoding="utf8")
    with pytest.raises(PubTatorFormatError, match=r"bad.txt, line 3: the mention is not the text at offsets 0-7, 'Fever a'"):
        list(read_pubtator(bad))


def test_brat_corpus_reader_splits_like_the_converter(maccrobat_dir, tmp_path, nlp):
    from spacy.util import registry

    sub = tmp_path / "brat"
    sub.mkdir()
    ids = [p.stem for p in sorted(maccrobat_dir.glob("*.txt"))][:5]
    for doc_id in ids:
        for ext in (".txt", ".ann"):
            (sub / f"{doc_id}{ext}").write_bytes((maccrobat_dir / f"{doc_id}{ext}").read_bytes())
    reader = registry.readers.get("spacy-clinical-ner.BratCorpus.v1")
    for split, expected in split_ids(ids).items():
        examples = list(reader(sub, split=split)(nlp))
        assert [eg.reference._.brat["doc_id"] for eg in examples] == expected
        for eg in examples:  # predicted: the same text, no annotation; reference: the gold
            assert eg.predicted.text == eg.reference.text and not eg.predicted.ents and eg.reference.ents
    assert len(list(reader(sub)(nlp))) == 5
