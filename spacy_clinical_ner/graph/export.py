"""``export_graph``: annotation files in, graph files out (what ``clinical-ner graph`` runs).

Formats (``--format``, comma-separated):

=========  ===============================================================================
json       ``graph.json``: the node/edge list (``format: spacy-clinical-ner.graph.v1``)
rdf        ``graph.ttl`` (Turtle) and ``graph.nt`` (N-Triples), vocabulary ``scn:``
neo4j      ``neo4j/graph.cypher`` (+ ``schema.cypher``) and ``neo4j/*.csv`` + ``import.sh``
           for ``neo4j-admin database import full``
patients   ``patients.json`` (the patient view) and ``patients.fhir.json`` (a FHIR R4B Bundle,
           validated with ``fhir.resources``)
=========  ===============================================================================

``graph_report.json`` lists the inputs, the broken lines (file and line number), the counts,
and the time and size of each output.
"""

from __future__ import annotations

import importlib.util
import json
import logging
import os
import time
from pathlib import Path
from typing import Any, Dict, List, Sequence, Union

from ..errors import ClinicalNERError
from .errors import GraphErrors
from .model import ClinicalGraph, GraphBuilder
from .reader import LineProblem, read_annotations, read_note_meta, run_manifest
from .vocabulary import DEFAULT_BASE

logger = logging.getLogger(__name__)

GRAPH_FORMATS = ("json", "rdf", "neo4j", "patients")
REPORT_NAME = "graph_report.json"
_NEEDS = {"rdf": ("rdflib", "graph"), "patients": ("fhir", "fhir")}


def parse_graph_formats(formats: Union[str, Sequence[str]]) -> List[str]:
    items = formats.split(",") if isinstance(formats, str) else list(formats)
    out: List[str] = []
    for item in (i.strip().lower() for i in items):
        if not item:
            continue
        if item not in GRAPH_FORMATS:
            raise ClinicalNERError(GraphErrors.E901.format(value=item, options=", ".join(GRAPH_FORMATS)))
        if item not in out:
            out.append(item)
    for item in out:
        if item in _NEEDS and importlib.util.find_spec(_NEEDS[item][0]) is None:
            module, extra = _NEEDS[item]
            raise ClinicalNERError(GraphErrors.E904.format(module="fhir.resources" if module == "fhir" else module, extra=extra))
    return out or ["json"]


def _write(path: Path, text: str) -> int:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text, encoding="utf8", newline="")
    os.replace(tmp, path)
    return path.stat().st_size


def write_graph(
    graph: ClinicalGraph, out_dir: Union[str, Path], formats: Sequence[str] = ("json",), base: str = DEFAULT_BASE
) -> Dict[str, Any]:
    """Write ``graph`` in ``formats`` into ``out_dir``; returns ``{format: {"seconds", "files": {name: bytes}}}``."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    outputs: Dict[str, Any] = {}
    for fmt in parse_graph_formats(formats):
        started = time.perf_counter()
        files: Dict[str, int] = {}
        if fmt == "json":
            files["graph.json"] = _write(out_dir / "graph.json", json.dumps(graph.to_dict(), ensure_ascii=False, indent=1))
        elif fmt == "rdf":
            from .rdf import to_rdf

            rdf = to_rdf(graph, base)
            files["graph.ttl"] = _write(out_dir / "graph.ttl", rdf.serialize(format="turtle"))
            files["graph.nt"] = _write(out_dir / "graph.nt", rdf.serialize(format="nt"))
            outputs.setdefault("counts", {})["triples"] = len(rdf)
        elif fmt == "neo4j":
            from .neo4j import cypher_script, schema_script, write_admin_csv

            folder = out_dir / "neo4j"
            files["neo4j/schema.cypher"] = _write(folder / "schema.cypher", schema_script(graph))
            files["neo4j/graph.cypher"] = _write(folder / "graph.cypher", cypher_script(graph))
            for path in write_admin_csv(graph, folder):
                files[f"neo4j/{path.name}"] = path.stat().st_size
        elif fmt == "patients":
            from .patients import patients_bundle_dict, patients_json

            files["patients.json"] = _write(out_dir / "patients.json", json.dumps(patients_json(graph), ensure_ascii=False, indent=1))
            bundle = patients_bundle_dict(graph)
            from fhir.resources.R4B.bundle import Bundle

            Bundle.model_validate(bundle)
            files["patients.fhir.json"] = _write(out_dir / "patients.fhir.json", json.dumps(bundle, ensure_ascii=False, indent=1))
        outputs[fmt] = {"seconds": round(time.perf_counter() - started, 3), "files": files}
    return outputs


def load_graph(
    annotations: Sequence[Union[str, Path]],
    *,
    notes: Union[str, Path, None] = None,
    id_field: str | None = None,
    patient_field: str = "patient_id",
    date_field: str | None = "date",
    kb: Any = None,
) -> tuple[ClinicalGraph, List[LineProblem]]:
    """Build the graph of one or more ``annotations.jsonl`` files. Patients and dates come from
    ``notes`` (the input file of ``annotate``; by default the one its ``run.json`` names, when it
    is a JSONL or CSV file), else from the records, else one patient per note."""
    problems: List[LineProblem] = []
    pipelines = []
    builder = GraphBuilder(kb=kb)
    sources = []
    n_records = 0
    for path in map(Path, annotations):
        if not path.is_file():
            raise FileNotFoundError(f"No annotations file {path}")
        manifest = run_manifest(path)
        model = manifest.get("model")
        if model and model not in pipelines:
            pipelines.append(model)
        notes_path = Path(notes) if notes is not None else (Path(manifest["input"]) if manifest.get("input") else None)
        field = id_field or (manifest.get("read_options") or {}).get("id_field", "id")
        meta = {}
        if notes_path is not None and notes_path.is_file():
            meta = read_note_meta(
                notes_path, id_field=field, patient_field=patient_field, date_field=date_field, required=notes is not None
            )
        builder.graph.meta["pipeline"] = model or builder.graph.meta.get("pipeline")
        sources.append(
            {
                "annotations": str(path),
                "notes": str(notes_path) if notes_path else None,
                "pipeline": model,
                "patients_from": "notes" if meta else "records",
            }
        )
        for record, source in read_annotations(path, problems):
            info = meta.get(record["id"])
            builder.add_record(record, patient_id=info.patient_id if info else None, date=info.date if info else None, source=source)
            n_records += 1
    if n_records == 0:
        raise ClinicalNERError(GraphErrors.E902.format(path=", ".join(map(str, annotations)), problems=len(problems)))
    graph = builder.finish()
    graph.meta.update(pipeline=", ".join(pipelines) or None, inputs=sources, records=n_records, broken_lines=len(problems))
    return graph, problems


def pipeline_kb(annotations: Sequence[Union[str, Path]]) -> Path | None:
    """The knowledge base folder inside the installed pipeline package that ``run.json`` names
    (``en_clinical_ner_cnn-0.1.0`` -> ``<package>/en_clinical_ner_cnn-0.1.0/umls_linker/kb``), if any."""
    import spacy

    for path in annotations:
        model = run_manifest(Path(path)).get("model")
        if not model:
            continue
        name = model.rsplit("-", 1)[0]
        if not spacy.util.is_package(name):
            continue
        found = sorted(Path(spacy.util.get_package_path(name)).glob("*/umls_linker/kb/kb.json"))
        if found:
            return found[-1].parent
    return None


def export_graph(
    annotations: Sequence[Union[str, Path]],
    out_dir: Union[str, Path],
    *,
    formats: Union[str, Sequence[str]] = ("json",),
    notes: Union[str, Path, None] = None,
    id_field: str | None = None,
    patient_field: str = "patient_id",
    date_field: str | None = "date",
    kb: Any = None,
    base: str = DEFAULT_BASE,
) -> Dict[str, Any]:
    """Read, build, write; returns (and writes as ``graph_report.json``) the report."""
    fmts = parse_graph_formats(formats)
    started = time.perf_counter()
    graph, problems = load_graph(annotations, notes=notes, id_field=id_field, patient_field=patient_field, date_field=date_field, kb=kb)
    build_s = time.perf_counter() - started
    outputs = write_graph(graph, out_dir, fmts, base=base)
    counts = graph.counts()
    counts.update(outputs.pop("counts", {}))
    report = {
        "inputs": graph.meta.get("inputs"),
        "records": graph.meta.get("records"),
        "notes": len(graph.notes),
        "patients": len(graph.patients),
        "broken_lines": [{"path": p.path, "line": p.line, "reason": p.reason} for p in problems],
        "counts": counts,
        "build_seconds": round(build_s, 3),
        "outputs": outputs,
    }
    _write(Path(out_dir) / REPORT_NAME, json.dumps(report, indent=1, ensure_ascii=False))
    return report
