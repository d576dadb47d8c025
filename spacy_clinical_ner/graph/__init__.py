"""From notes to a knowledge graph and a patient view.

The annotation records of a batch of notes (``annotations.jsonl``, or Docs through
``doc_to_record``) become one property graph (:mod:`.model`) of patients, notes, concepts and
unlinked terms, with "note mentions concept" edges that keep each mention's assertion and cue,
the extractor's relations, and ``HAS_PROBLEM`` / ``TAKES_MEDICATION`` edges only for findings
that are present and the patient's own (:mod:`.vocabulary`). Writers: JSON node/edge list,
RDF (Turtle, N-Triples; :mod:`.rdf`), Neo4j (Cypher script, ``neo4j-admin import`` CSVs;
:mod:`.neo4j`), and the patient view as JSON and a FHIR Bundle (:mod:`.patients`).

Python::

    from spacy_clinical_ner.graph import graph_from_docs, write_graph
    graph = graph_from_docs(nlp.pipe(texts), note_ids, patients={"n1": "p1", "n2": "p1"})
    write_graph(graph, "out", ["rdf", "neo4j", "json", "patients"])

Command line: ``clinical-ner graph annotations.jsonl OUT_DIR --format rdf,neo4j,json,patients``.
"""

from .export import GRAPH_FORMATS, export_graph, load_graph, parse_graph_formats, write_graph
from .model import ClinicalGraph, Edge, GraphBuilder, Node, NoteInfo, build_graph, graph_from_docs
from .reader import LineProblem, read_annotations, read_note_meta

__all__ = [
    "GRAPH_FORMATS",
    "ClinicalGraph",
    "Edge",
    "GraphBuilder",
    "LineProblem",
    "Node",
    "NoteInfo",
    "build_graph",
    "export_graph",
    "graph_from_docs",
    "load_graph",
    "parse_graph_formats",
    "read_annotations",
    "read_note_meta",
    "write_graph",
]
