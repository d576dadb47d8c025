"""Output formats of the product surface: JSONL records (JSON Schema), FHIR R4(B) Bundles
(validated by fhir.resources), BRAT standoff (re-read by our own parse_ann), displaCy HTML."""

import json
import os

import pytest
from spacy.tokens import Span

from spacy_clinical_ner.concepts import ConceptId
from spacy_clinical_ner.io.brat import doc_to_brat
from spacy_clinical_ner.io.fhir import bundle_json, record_to_bundle
from spacy_clinical_ner.io.html import index_html, record_to_html
from spacy_clinical_ner.io.records import doc_to_record, error_record, load_schema
from spacy_clinical_ner.readers.brat import parse_ann

# Required FHIR R4 bindings that fhir.resources does not enforce.
STATUS_CODES = {
    "MedicationStatement": {"active", "completed", "entered-in-error", "intended", "stopped", "on-hold", "unknown", "not-taken"},
    "Procedure": {"preparation", "in-progress", "not-done", "on-hold", "stopped", "completed", "entered-in-error", "unknown"},
    "Observation": {"registered", "preliminary", "final", "amended", "corrected", "cancelled", "entered-in-error", "unknown"},
    "FamilyMemberHistory": {"partial", "completed", "entered-in-error", "health-unknown"},
    "DocumentReference": {"current", "superseded", "entered-in-error"},
}
VER_STATUS = {"unconfirmed", "provisional", "differential", "confirmed", "refuted", "entered-in-error"}


@pytest.fixture(scope="module")
def pipe(comp):
    return comp.build_pipeline()


@pytest.fixture(scope="module")
def validator():
    from jsonschema import Draft202012Validator

    schema = load_schema()
    Draft202012Validator.check_schema(schema)
    return Draft202012Validator(schema)


@pytest.fixture(scope="module")
def records(pipe, comp):
    return {nid: (doc_to_record(doc, nid), doc) for nid, doc in ((nid, pipe(text)) for nid, text in comp.NOTES.items())}


def by_text(record, text):
    return next(e for e in record["entities"] if e["text"] == text)


def test_record_content_and_schema(records, validator):
    rec, doc = records["n1"]
    validator.validate(rec)
    assert rec["id"] == "n1" and rec["text_length"] == len(doc.text) and rec["error"] is None
    fever = by_text(rec, "fever")
    assert (fever["label"], fever["start"], fever["end"]) == ("Sign_symptom", 15, 20)
    assert doc.text[fever["start"] : fever["end"]] == "fever"
    assert fever["is_negated"] is True and fever["assertion"] == "absent"
    assert fever["cue"] == {"text": "denies", "start": 8, "end": 14, "category": "NEGATED_EXISTENCE", "rule": "denies"}
    assert fever["cui"] == fever["concept_id"] == "C0015967" and fever["concept_name"] == "Fever"
    assert fever["concept_system"] == "http://www.nlm.nih.gov/research/umls"
    assert fever["candidates"][0] == ["C0015967", 0.97]
    severe = by_text(rec, "severe")
    assert severe["cui"] is None and severe["candidates"] == [] and severe["cue"] is None
    assert severe["concept_id"] is None and severe["concept_system"] is None
    ibuprofen = by_text(records["n3"][0], "ibuprofen")
    assert (ibuprofen["concept_id"], ibuprofen["concept_system"]) == ("DRUGBANK:DB01050", "https://go.drugbank.com/drugs")
    rash = by_text(records["n3"][0], "rash")
    assert (rash["concept_id"], rash["concept_system"]) == ("HP:0000988", "http://human-phenotype-ontology.org")
    assert ["10 mg", "MODIFY", "lisinopril"] in rec["triples"]
    typed = {(rec["entities"][r["head"]]["text"], r["typed_label"], rec["entities"][r["tail"]]["text"]) for r in rec["relations"]}
    assert ("10 mg", "dosage_of", "lisinopril") in typed  # MODIFY named by argument types (Dosage -> Medication)
    for rel, triple in zip(rec["relations"], rec["triples"], strict=True):
        assert [rec["entities"][rel["head"]]["text"], rel["label"], rec["entities"][rel["tail"]]["text"]] == triple
    for nid in ("n2", "n3"):
        validator.validate(records[nid][0])


def test_error_record_schema(validator):
    rec = error_record("x", "too_long", length=10, limit=5)
    validator.validate(rec)
    assert rec == {
        "id": "x",
        "error": {
            "code": "too_long",
            "message": "[E614] The note has 10 characters, the limit is 5: split it, or raise the limit (--max-chars)",
        },
    }
    from jsonschema import ValidationError

    with pytest.raises(ValidationError):
        validator.validate({"id": "x", "error": {"code": "made_up", "message": ""}})


def test_record_without_optional_components(comp, validator):
    """Only NER in the pipeline (no ConText / linker extensions registered): same schema, nulls."""
    from spacy_clinical_ner.tokenizer import clinical_blank

    nlp = clinical_blank()
    nlp.add_pipe("entity_ruler").add_patterns(comp.patterns())
    names = (*comp.FLAGS, "assertion", "context_cues", "kb_ents", "kb_name")
    saved = {n: Span.remove_extension(n) for n in names if Span.has_extension(n)}
    try:
        rec = doc_to_record(nlp("Patient denies fever."), "bare")
    finally:
        for name, (default, method, getter, setter) in saved.items():
            if getter is not None:
                Span.set_extension(name, getter=getter, setter=setter)
            elif method is not None:
                Span.set_extension(name, method=method)
            else:
                Span.set_extension(name, default=default)
    validator.validate(rec)
    ent = rec["entities"][0]
    assert ent["text"] == "fever" and ent["assertion"] is None and ent["is_negated"] is None
    assert ent["cue"] is None and ent["cui"] is None and ent["candidates"] == [] and rec["relations"] == []


def test_relation_argument_outside_ents_is_kept(pipe, validator):
    doc = pipe("Takes aspirin daily.")
    doc._.relations = [
        {
            "head": {"start": 14, "end": 19, "label": "Frequency"},
            "tail": {"start": 6, "end": 13, "label": "Medication"},
            "label": "MODIFY",
            "score": 0.5,
        }
    ]
    rec = doc_to_record(doc, "r")
    validator.validate(rec)
    assert rec["triples"] == [["daily", "MODIFY", "aspirin"]]
    assert rec["entities"][rec["relations"][0]["head"]]["label"] == "Frequency"


def resources_of(bundle_dict, kind):
    return [e["resource"] for e in bundle_dict["entry"] if e["resource"]["resourceType"] == kind]


def check_codes(bundle_dict):
    urls = [e["fullUrl"] for e in bundle_dict["entry"]]
    assert len(urls) == len(set(urls))
    for entry in bundle_dict["entry"]:
        res = entry["resource"]
        if res["resourceType"] in STATUS_CODES:
            assert res["status"] in STATUS_CODES[res["resourceType"]]
        if res["resourceType"] == "Condition" and "verificationStatus" in res:  # 0..1
            assert res["verificationStatus"]["coding"][0]["code"] in VER_STATUS
        for key in ("subject", "patient"):
            if key in res:
                assert res[key]["reference"] in urls


#: The code of each terminology as FHIR writes it, and its system.
CODE_PATTERNS = {
    "http://www.nlm.nih.gov/research/umls": r"C\d{7}",
    "https://go.drugbank.com/drugs": r"DB\d{5}",
    "http://human-phenotype-ontology.org": r"HP:\d{7}",
    "http://purl.obolibrary.org/obo/doid.owl": r"DOID:\d+",
    "http://purl.obolibrary.org/obo/mondo.owl": r"MONDO:\d{7}",
    "http://id.nlm.nih.gov/mesh": r"[CD]?\d+",
    "https://medlineplus.gov/druginfo/meds": r"a\d+",
}
CONCEPT_KEYS = ("code", "medicationCodeableConcept")


def concept_codings(bundle_dict):
    """``(CodeableConcept, coding)`` of every concept the pipeline coded (entities, body sites, family conditions)."""
    for entry in bundle_dict["entry"]:
        res = entry["resource"]
        concepts = [res[k] for k in CONCEPT_KEYS if isinstance(res.get(k), dict)]
        concepts += res.get("bodySite", []) + [c["code"] for c in res.get("condition", [])]
        for concept in concepts:
            for coding in concept.get("coding", []):
                yield concept, coding


def check_concept_systems(bundle_dict, record):
    """Every coding's system is its concept id's namespace, and the code is that system's code."""
    import re

    by_text = {}
    for e in record["entities"]:
        if e["concept_id"]:
            by_text.setdefault(e["text"].replace("\x0c", " "), set()).add(ConceptId.parse(e["concept_id"]))
    n = 0
    for concept, coding in concept_codings(bundle_dict):
        ids = by_text[concept["text"]]
        assert (coding.get("system"), coding["code"]) in {(c.system, c.code) for c in ids}, (concept, ids)
        pattern = CODE_PATTERNS.get(coding.get("system"))
        assert pattern is None or re.fullmatch(pattern, coding["code"]), coding
        n += 1
    return n


def test_fhir_bundles(records, comp):
    from fhir.resources.R4B.bundle import Bundle

    parsed = {}
    for nid, (rec, doc) in records.items():
        text = bundle_json(rec, doc.text)
        bundle = Bundle.model_validate_json(text)  # the library's validation, R4B models
        assert bundle.type == "collection" and bundle.identifier.value == nid
        parsed[nid] = json.loads(text)
        check_codes(parsed[nid])
    conditions = {c["code"]["text"]: c for c in resources_of(parsed["n1"], "Condition")}
    assert conditions["fever"]["verificationStatus"]["coding"][0]["code"] == "refuted"
    assert conditions["fever"]["code"]["coding"][0] == {
        "system": "http://www.nlm.nih.gov/research/umls",
        "code": "C0015967",
        "display": "Fever",
    }
    assert conditions["chest pain"]["verificationStatus"]["coding"][0]["code"] == "confirmed"
    assert conditions["chest pain"]["severity"]["text"] == "severe"
    (med,) = resources_of(parsed["n1"], "MedicationStatement")
    assert med["medicationCodeableConcept"]["text"] == "lisinopril" and med["dosage"][0]["text"] == "10 mg"
    assert med["status"] == "completed"  # "History of ...": historical
    (fam,) = resources_of(parsed["n2"], "FamilyMemberHistory")
    assert fam["condition"][0]["code"]["text"] == "diabetes"
    (obs,) = resources_of(parsed["n2"], "Observation")
    assert obs["code"]["text"] == "Hemoglobin a1c" and obs["valueString"] == "7.2 %"
    assert {c["code"]["text"]: c["verificationStatus"]["coding"][0]["code"] for c in resources_of(parsed["n2"], "Condition")} == {
        "pneumonia": "refuted"
    }
    n3 = parsed["n3"]
    # hypothetical headache / rash: no resource; possible asthma: provisional
    assert [c["code"]["text"] for c in resources_of(n3, "Condition")] == ["asthma"]
    assert resources_of(n3, "Condition")[0]["verificationStatus"]["coding"][0]["code"] == "provisional"
    assert [(p["code"]["text"], p["status"]) for p in resources_of(n3, "Procedure")] == [("Appendectomy", "completed")]
    # a DrugBank id is coded as DrugBank, not as a UMLS CUI
    (ibuprofen,) = resources_of(n3, "MedicationStatement")
    assert ibuprofen["medicationCodeableConcept"]["coding"] == [
        {"system": "https://go.drugbank.com/drugs", "code": "DB01050", "display": "Ibuprofen"}
    ]
    for nid, (rec, _) in records.items():
        check_concept_systems(parsed[nid], rec)
    # deterministic: the same record gives the same Bundle, also in another process with other hash seeds
    import subprocess
    import sys

    script = "import json, sys; from spacy_clinical_ner.io.fhir import bundle_json; r, t = json.load(sys.stdin); print(bundle_json(r, t))"
    again = subprocess.run(
        [sys.executable, "-c", script],
        input=json.dumps([records["n1"][0], records["n1"][1].text]),
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONHASHSEED": "12345"},
        check=True,
    ).stdout.strip()
    assert again == bundle_json(records["n1"][0], records["n1"][1].text)


def test_fhir_claims_no_more_than_the_assertions(records):
    """Someone else's medication is not the patient's; an uncertain or never-assessed finding is not a
    fact; two notes with one id get different URLs; control characters never reach a FHIR string."""
    import copy

    from fhir.resources.R4B.bundle import Bundle

    rec, doc = copy.deepcopy(records["n1"][0]), records["n1"][1]
    med = by_text(rec, "lisinopril")
    med.update(is_family=True, is_historical=False, assertion="associated_with_someone_else")
    bundle = json.loads(bundle_json(rec, doc.text))
    assert resources_of(bundle, "MedicationStatement") == []
    med.update(is_family=False, is_uncertain=True, assertion="possible")
    (statement,) = resources_of(json.loads(bundle_json(rec, doc.text)), "MedicationStatement")
    assert statement["status"] == "unknown"
    # a pipeline without ConText: nothing was assessed, so nothing is confirmed or active
    for ent in rec["entities"]:
        for key in ("assertion", "is_negated", "is_uncertain", "is_historical", "is_hypothetical", "is_family"):
            ent[key] = None
    ent = rec["entities"][0]
    ent["text"] = "chest\x0cpain"
    bundle = json.loads(bundle_json(rec, doc.text))
    Bundle.model_validate(bundle)
    check_codes(bundle)
    assert resources_of(bundle, "Condition") and all("verificationStatus" not in c for c in resources_of(bundle, "Condition"))
    assert [m["status"] for m in resources_of(bundle, "MedicationStatement")] == ["unknown"]
    assert "\x0c" not in json.dumps(bundle, ensure_ascii=False)
    # the same id, another text: other URLs; the same text: the same URLs
    urls = [e["fullUrl"] for e in bundle["entry"]]
    assert [e["fullUrl"] for e in json.loads(bundle_json(rec, doc.text))["entry"]] == urls
    assert not set(urls) & {e["fullUrl"] for e in json.loads(bundle_json(rec, doc.text + " "))["entry"]}


def test_fhir_identifiers_have_no_control_characters(records):
    """A note id is any string of the input (a JSONL id may hold a bell or an escape): the Bundle's and
    the DocumentReference's identifiers, the title and an error's diagnostics carry spaces instead of
    the control characters FHIR's ``string`` forbids, and fhir.resources accepts the Bundle."""
    import copy

    from fhir.resources.R4B.bundle import Bundle

    rec, doc = copy.deepcopy(records["n1"][0]), records["n1"][1]
    rec["id"] = "n1\x07\x1b[0m\x0c"
    bundle = json.loads(bundle_json(rec, doc.text))
    Bundle.model_validate(bundle)
    (reference,) = resources_of(bundle, "DocumentReference")
    assert bundle["identifier"]["value"] == reference["identifier"][0]["value"] == "n1  [0m "
    assert reference["content"][0]["attachment"]["title"] == "note n1  [0m "
    error = json.loads(bundle_json(error_record("bad\x07id", "pipeline_error", reason="ValueError: \x1b[31m")))
    Bundle.model_validate(error)
    for written in (bundle, error):
        dumped = json.dumps(written, ensure_ascii=False)
        assert not any(c in dumped for c in "\x07\x1b\x0c")


def test_entity_texts_have_no_edge_newlines(validator):
    """spaCy's NER can end an entity on a newline token ("20\\n" when the line breaks after a dose):
    records, FHIR and BRAT write the entity without it (the same offsets in each), and a relation
    that names the entity by the Doc's offsets still finds it (no extra entity)."""
    from spacy_clinical_ner.extensions import RELATIONS_ATTR, install_doc_extensions
    from spacy_clinical_ner.tokenizer import clinical_blank

    install_doc_extensions()
    text = "Lisinopril 20\nonce daily.\nFever\r\n"
    doc = clinical_blank()(text)
    assert [t.text for t in doc] == ["Lisinopril", "20", "\n", "once", "daily", ".", "\n", "Fever", "\r\n"]
    med, dose, fever = Span(doc, 0, 1, "Medication"), Span(doc, 1, 3, "Dosage"), Span(doc, 7, 9, "Sign_symptom")
    doc.ents = [med, dose, fever]
    assert dose.text == "20\n" and fever.text == "Fever\r\n"  # what the Doc holds
    arg = lambda span: {"start": span.start_char, "end": span.end_char, "label": span.label_}  # noqa: E731
    setattr(doc._, RELATIONS_ATTR, [{"head": arg(dose), "tail": arg(med), "label": "MODIFY", "score": 0.9}])

    rec = doc_to_record(doc, "nl")
    validator.validate(rec)
    assert [(e["text"], e["start"], e["end"]) for e in rec["entities"]] == [("Lisinopril", 0, 10), ("20", 11, 13), ("Fever", 26, 31)]
    assert all(text[e["start"] : e["end"]] == e["text"] for e in rec["entities"])
    assert [(r["head"], r["tail"]) for r in rec["relations"]] == [(1, 0)] and rec["triples"] == [["20", "MODIFY", "Lisinopril"]]
    bundle = json.loads(bundle_json(rec, text))
    assert {r["code"]["text"] for r in resources_of(bundle, "Condition")} == {"Fever"}
    _, ann = doc_to_brat(doc)
    bdoc = parse_ann(ann, text, doc_id="nl")
    assert sorted((e.text, e.start, e.end) for e in bdoc.entities.values()) == sorted(
        (e["text"], e["start"], e["end"]) for e in rec["entities"]
    )
    assert len(bdoc.relations) == 1 and len(bdoc.entities) == 3


def test_fhir_error_bundle():
    bundle = record_to_bundle(error_record("bad", "empty_text"))
    (entry,) = bundle.entry
    assert entry.resource.get_resource_type() == "OperationOutcome"
    assert entry.resource.issue[0].details.text == "empty_text"


def test_brat_round_trip(records):
    for nid, (rec, doc) in records.items():
        text, ann = doc_to_brat(doc)
        assert text == doc.text
        bdoc = parse_ann(ann, text, doc_id=nid)
        got = sorted((e.label, e.start, e.end) for e in bdoc.entities.values())
        assert got == sorted((e["label"], e["start"], e["end"]) for e in rec["entities"])
        negated = {bdoc.entities[a["target"]].text for a in bdoc.attributes if a["name"] == "NEGATED"}
        assert negated == {e["text"] for e in rec["entities"] if e["is_negated"]}
        # N lines name the concept's own database: UMLS:C0015967, DrugBank:DB01050, HP:0000988
        linked = {(e["start"], e["end"]): ConceptId.parse(e["concept_id"]) for e in rec["entities"] if e["concept_id"]}
        assert {(n["target"], f"{n['db']}:{n['db_id']}") for n in bdoc.normalizations} == {
            (t, linked[(ent.start, ent.end)].brat) for t, ent in bdoc.entities.items() if (ent.start, ent.end) in linked
        }
        assert not any(n["db_id"].startswith(("DRUGBANK:", "HP:")) for n in bdoc.normalizations)
        if nid == "n3":
            assert {(n["db"], n["db_id"]) for n in bdoc.normalizations} >= {("DrugBank", "DB01050"), ("HP", "0000988")}
        rels = {(bdoc.entities[r["head"]].text, r["label"], bdoc.entities[r["tail"]].text) for r in bdoc.relations}
        assert rels == {tuple(t) for t in rec["triples"]}


def test_brat_ann_lines_survive_any_line_reader():
    """A span over CRLF (or another line separator) stays on one .ann line for readers that split
    on every line end (brat's server, universal newlines); conditional findings keep their
    assertion; the N line names the concept."""
    from spacy_clinical_ner.context.attributes import install_context_extensions
    from spacy_clinical_ner.linking.component import install_span_extensions
    from spacy_clinical_ner.tokenizer import clinical_blank

    install_context_extensions()
    install_span_extensions()
    text = "Rash if exposed.\r\nChest\r\npain and leg\u2028swelling."
    doc = clinical_blank()(text)
    rash = doc.char_span(0, 4, label="Sign_symptom")
    chest = doc.char_span(text.index("Chest"), text.index(" and"), label="Sign_symptom", kb_id="C0008031")
    leg = doc.char_span(text.index("leg"), text.rindex("."), label="Sign_symptom")
    doc.ents = [rash, chest, leg]
    rash._.assertion = "conditional"
    chest._.kb_name = "Chest Pain"
    _, ann = doc_to_brat(doc)
    assert len(ann.splitlines()) == len(ann.split("\n")) - 1  # no line end inside a line
    bdoc = parse_ann(ann, text, doc_id="x")
    assert sorted((e.start, e.end) for e in bdoc.entities.values()) == sorted((s.start_char, s.end_char) for s in doc.ents)
    assert [(a["name"], bdoc.entities[a["target"]].text) for a in bdoc.attributes] == [("CONDITIONAL", "Rash")]
    assert "UMLS:C0008031\tChest Pain" in ann


def test_record_assertion_follows_flags_set_elsewhere():
    """Flags set by medspaCy's ConText or by hand (no assertion stored) must not give a record that is
    both "present" and negated; an assertion a component stored wins."""
    from spacy_clinical_ner.context.attributes import install_context_extensions
    from spacy_clinical_ner.tokenizer import clinical_blank

    install_context_extensions()
    doc = clinical_blank()("No fever or cough.")
    doc.ents = [doc.char_span(3, 8, label="Sign_symptom"), doc.char_span(12, 17, label="Sign_symptom")]
    doc.ents[0]._.is_negated = True
    fever, cough = doc_to_record(doc, "x")["entities"]
    assert (fever["assertion"], fever["is_negated"]) == ("absent", True)
    assert (cough["assertion"], cough["is_negated"]) == ("present", False)
    doc.ents[1]._.is_uncertain = True
    doc.ents[1]._.assertion = "hypothetical"
    assert doc_to_record(doc, "x")["entities"][1]["assertion"] == "hypothetical"


def test_html(pipe):
    text = "No fever <script>alert(1)</script> & severe cough."
    doc = pipe(text)
    rec = doc_to_record(doc, "h<1>")
    page = record_to_html(rec, text)
    assert "<script>alert" not in page and "&lt;script&gt;" in page
    assert "NEG Sign_symptom C0015967" in page and "C0010200" in page
    assert "<title>h&lt;1&gt;</title>" in page
    index = index_html([rec, error_record("e", "empty_text")], lambda i: "f")
    assert "empty_text" in index and "href='f.html'" in index


def test_html_escapes_labels_and_marks_assertions(pipe):
    """displaCy inserts labels unescaped: a label or a CUI from a user's KB must not become markup;
    possible / family findings are labelled as such, not drawn like present ones."""
    text = "No fever & severe cough."
    rec = doc_to_record(pipe(text), "x")
    fever, cough = by_text(rec, "fever"), by_text(rec, "cough")
    fever["concept_id"] = "C0015967<img src=x onerror=alert(1)>"
    cough["label"], cough["assertion"], cough["is_negated"] = "Sign<i>x</i>", "possible", False
    page = record_to_html(rec, text)
    assert "<img" not in page and "<i>x" not in page
    assert "C0015967&lt;img src=x onerror=alert(1)&gt;" in page and "POSSIBLE Sign&lt;i&gt;x&lt;/i&gt;" in page
    cough["assertion"] = "associated_with_someone_else"
    assert "FAMILY Sign&lt;i&gt;x" in record_to_html(rec, text)


def test_records_and_bundles_from_the_real_components(comp, validator, fixtures_dir):
    """The rule annotator of the surface tests stands in for speed; here the real sentencizer, sectionizer,
    ConText and linker (fixture KB) write the attributes: records pass the schema and FHIR, and a
    conditional or hypothetical finding gets no resource."""
    from fhir.resources.R4B.bundle import Bundle

    from spacy_clinical_ner.linking.builders import create_umls_kb
    from spacy_clinical_ner.tokenizer import clinical_blank

    nlp = clinical_blank()
    nlp.add_pipe("clinical_sectionizer")
    ruler = nlp.add_pipe("entity_ruler", config={"phrase_matcher_attr": "LOWER"})
    ruler.add_patterns(comp.patterns())
    nlp.add_pipe("clinical_sentencizer")
    nlp.add_pipe("clinical_context")
    nlp.add_pipe("umls_linker").initialize(kb=create_umls_kb(fixtures_dir / "linking"))
    text = "Patient denies fever. Chest pain on exertion. Return if headache. History of hypertension.\nFamily history: diabetes."
    record = doc_to_record(nlp(text), "real")
    validator.validate(record)
    got = {e["text"]: e for e in record["entities"]}
    assert got["fever"]["is_negated"] and got["fever"]["cue"]["text"] == "denies"
    assert got["fever"]["cue"]["category"] == "NEGATED_EXISTENCE"
    assert got["headache"]["is_hypothetical"] and got["hypertension"]["is_historical"] and got["diabetes"]["is_family"]
    assert got["hypertension"]["cui"] == "C0020538"
    assert got["Chest pain"]["assertion"] == "conditional"  # "on exertion"
    bundle = json.loads(bundle_json(record, text))
    Bundle.parse_obj(bundle)
    check_codes(bundle)
    conditions = {c["code"]["text"]: c["verificationStatus"]["coding"][0]["code"] for c in resources_of(bundle, "Condition")}
    assert conditions["fever"] == "refuted" and conditions["hypertension"] == "confirmed"
    assert "headache" not in conditions and "Chest pain" not in conditions  # hypothetical, conditional: no resource
    (family,) = resources_of(bundle, "FamilyMemberHistory")
    assert family["condition"][0]["code"]["text"] == "diabetes"


@pytest.mark.parametrize(
    "raw,namespace,code,system,brat",
    [
        ("C0011849", "UMLS", "C0011849", "http://www.nlm.nih.gov/research/umls", "UMLS:C0011849"),
        ("UMLS:C0011849", "UMLS", "C0011849", "http://www.nlm.nih.gov/research/umls", "UMLS:C0011849"),
        ("DRUGBANK:DB01050", "DRUGBANK", "DB01050", "https://go.drugbank.com/drugs", "DrugBank:DB01050"),
        ("HP:0001250", "HP", "HP:0001250", "http://human-phenotype-ontology.org", "HP:0001250"),
        ("DOID:9352", "DOID", "DOID:9352", "http://purl.obolibrary.org/obo/doid.owl", "DOID:9352"),
        ("MONDO:0005015", "MONDO", "MONDO:0005015", "http://purl.obolibrary.org/obo/mondo.owl", "MONDO:0005015"),
        ("MESH:D018712", "MESH", "D018712", "http://id.nlm.nih.gov/mesh", "MeSH:D018712"),
        ("MSH:D018712", "MESH", "D018712", "http://id.nlm.nih.gov/mesh", "MeSH:D018712"),
        ("OMIM:143100", "OMIM", "143100", "https://omim.org", "OMIM:143100"),
        ("RXNORM:5640", "RXNORM", "5640", "http://www.nlm.nih.gov/research/umls/rxnorm", "RxNorm:5640"),
        ("SNOMEDCT_US:73211009", "SNOMEDCT", "73211009", "http://snomed.info/sct", "SNOMEDCT:73211009"),
        ("MEDLINEPLUS:a682159", "MEDLINEPLUS", "a682159", "https://medlineplus.gov/druginfo/meds", "MedlinePlus:a682159"),
        # a terminology the package does not know: no system is claimed for it
        ("LOCAL:42", "LOCAL", "LOCAL:42", None, "LOCAL:42"),
        ("X42", "", "X42", None, "KB:X42"),
    ],
)
def test_concept_id(raw, namespace, code, system, brat):
    cid = ConceptId.parse(raw)
    assert (cid.namespace, cid.code, cid.system, cid.brat) == (namespace, code, system, brat)
    assert ConceptId.parse(str(cid)) == cid


def test_nil_is_no_concept():
    from spacy_clinical_ner.concepts import NIL, is_nil
    from spacy_clinical_ner.io.records import concept_fields

    assert all(ConceptId.parse(x) is None and is_nil(x) for x in ("", NIL, None, " NIL "))
    assert concept_fields(NIL) == {"cui": None, "concept_id": None, "concept_system": None}


def test_one_record_model():
    """The record of ``io.records``, its JSON Schema, the REST model and the Spark schema name the same
    entity fields in the same order, with the same nullability."""
    from spacy_clinical_ner.io.records import _argument_entity, entity_record  # noqa: F401
    from spacy_clinical_ner.tokenizer import clinical_blank

    doc = clinical_blank()("Takes aspirin daily.")
    fields = list(_argument_entity(doc, {"start": 6, "end": 13, "label": "Medication"}))
    doc.ents = [doc.char_span(6, 13, label="Medication")]
    assert list(entity_record(doc.ents[0])) == fields
    schema = load_schema()["$defs"]["entity"]
    assert list(schema["properties"]) == fields and schema["required"] == fields
    serve = pytest.importorskip("spacy_clinical_ner.serve.app", reason="needs the [serve] extra")
    assert list(serve.EntityOut.model_fields) == fields
    pytest.importorskip("pyspark", reason="needs the [spark] extra")
    from spacy_clinical_ner.spark import annotation_schema

    spark_entity = annotation_schema()["entities"].dataType.elementType
    assert [f.name for f in spark_entity.fields] == fields


def _packaged_pipeline():
    import spacy

    name = "en_clinical_ner_cnn"
    if not spacy.util.is_package(name):
        pytest.skip(f"the packaged pipeline {name} is not installed (spacy project run pipeline, then pip install its wheel)")
    return spacy.load(name)


def test_sample_notes_fhir_and_brat_from_the_packaged_pipeline(repo_dir):
    """The real packaged pipeline on the sample notes: every Bundle validates with fhir.resources, every
    coding's system is its concept id's namespace, and BRAT N lines name the concept's database."""
    from fhir.resources.R4B.bundle import Bundle

    nlp = _packaged_pipeline()
    notes = sorted((repo_dir / "corpus" / "samples").glob("*.txt"))
    assert notes
    namespaces = set()
    n_codings = 0
    for path in notes:
        text = path.read_text(encoding="utf8")
        doc = nlp(text)
        record = doc_to_record(doc, path.stem)
        bundle = json.loads(bundle_json(record, text))
        Bundle.model_validate(bundle)
        check_codes(bundle)
        n_codings += check_concept_systems(bundle, record)
        linked = {(e["start"], e["end"]): ConceptId.parse(e["concept_id"]) for e in record["entities"] if e["concept_id"]}
        for e in record["entities"]:
            if e["concept_id"]:
                cid = ConceptId.parse(e["concept_id"])
                namespaces.add(cid.namespace)
                assert e["concept_system"] == cid.system and e["cui"] == e["concept_id"]
        _, ann = doc_to_brat(doc)
        bdoc = parse_ann(ann, text, doc_id=path.stem)
        for norm in bdoc.normalizations:
            ent = bdoc.entities[norm["target"]]
            assert f"{norm['db']}:{norm['db_id']}" == linked[(ent.start, ent.end)].brat
            assert not norm["db_id"].startswith(tuple(f"{ns}:" for ns in ("DRUGBANK", "MESH", "MEDLINEPLUS")))
    assert n_codings > 0 and namespaces, "the packaged pipeline linked nothing in the sample notes"
