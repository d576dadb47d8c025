"""The graph of a batch of notes: a property graph (nodes and edges with plain properties) built
from annotation records, which every writer (JSON, RDF, Neo4j) and the patient view read.

``build_graph(records)`` takes the records of ``annotations.jsonl`` (or of ``doc_to_record``)
and, per note, its patient id and date. The vocabulary (node kinds, edge types, which mention
is a fact about the patient) is in :mod:`.vocabulary`.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any, Dict, Iterable, List, Mapping, Tuple

from .errors import GraphWarnings
from .vocabulary import (
    CONCEPT,
    HAS_NOTE,
    MENTIONS,
    NOTE,
    PATIENT,
    RELATION,
    TERM,
    assertion_of,
    concept_system,
    normalise_term,
    relation_type,
)

logger = logging.getLogger(__name__)

#: ``format`` of the JSON node/edge list.
JSON_FORMAT = "spacy-clinical-ner.graph.v1"
_FLAGS = ("is_negated", "is_uncertain", "is_historical", "is_hypothetical", "is_family")


@dataclass
class Node:
    id: str
    kind: str
    props: Dict[str, Any] = field(default_factory=dict)


@dataclass
class Edge:
    """``kind`` is one of the vocabulary's edge kinds; ``type`` its Neo4j relationship type (the
    same, except for relations, whose type is their label: ``DOSAGE_OF``)."""

    id: str
    kind: str
    type: str
    source: str
    target: str
    props: Dict[str, Any] = field(default_factory=dict)


@dataclass
class NoteInfo:
    """Where a record came from and whose note it is."""

    note_id: str
    patient_id: str
    date: str | None = None
    order: int = 0
    source: str | None = None


@dataclass
class Mention:
    """One entity of one note, as the patient view reads it."""

    note: NoteInfo
    index: int
    entity: Dict[str, Any]
    node: str
    edge: str


@dataclass
class ClinicalGraph:
    nodes: Dict[str, Node] = field(default_factory=dict)
    edges: List[Edge] = field(default_factory=list)
    notes: List[NoteInfo] = field(default_factory=list)
    mentions: List[Mention] = field(default_factory=list)
    meta: Dict[str, Any] = field(default_factory=dict)
    #: the patient view (``patients.patient_view``), filled by ``build_graph``
    patients: List[Dict[str, Any]] = field(default_factory=list)

    def add_node(self, node_id: str, kind: str, **props: Any) -> Node:
        """Add a node, or merge ``props`` into the node with this id (None values never overwrite)."""
        node = self.nodes.get(node_id)
        if node is None:
            node = self.nodes[node_id] = Node(node_id, kind)
        for key, value in props.items():
            if value is not None and (key not in node.props or node.props[key] is None):
                node.props[key] = value
        return node

    def add_edge(self, edge_id: str, kind: str, source: str, target: str, type: str | None = None, **props: Any) -> Edge:
        edge = Edge(edge_id, kind, type or kind, source, target, {k: v for k, v in props.items() if v is not None})
        self.edges.append(edge)
        return edge

    def nodes_of(self, kind: str) -> List[Node]:
        return [n for n in self.nodes.values() if n.kind == kind]

    def edges_of(self, kind: str) -> List[Edge]:
        return [e for e in self.edges if e.kind == kind]

    def counts(self) -> Dict[str, Any]:
        nodes: Dict[str, int] = {}
        for node in self.nodes.values():
            nodes[node.kind] = nodes.get(node.kind, 0) + 1
        edges: Dict[str, int] = {}
        for edge in self.edges:
            edges[edge.type] = edges.get(edge.type, 0) + 1
        return {"nodes": len(self.nodes), "edges": len(self.edges), "node_kinds": nodes, "edge_types": edges}

    def to_dict(self) -> Dict[str, Any]:
        """The JSON node/edge list."""
        return {
            "format": JSON_FORMAT,
            "meta": {**self.meta, **self.counts()},
            "nodes": [{"id": n.id, "kind": n.kind, "properties": n.props} for n in self.nodes.values()],
            "edges": [
                {"id": e.id, "kind": e.kind, "type": e.type, "source": e.source, "target": e.target, "properties": e.props}
                for e in self.edges
            ],
        }


# --------------------------------------------------------------------------- building


def _patient_id(record: Mapping[str, Any]) -> str | None:
    """A patient id carried by the record itself (``patient_id`` or ``meta.patient_id``)."""
    meta = record.get("meta")
    value = record.get("patient_id") or (meta.get("patient_id") if isinstance(meta, dict) else None)
    return str(value) if value not in (None, "") else None


def _concept_props(concept_id: str, name: str | None, kb: Any) -> Dict[str, Any]:
    system = concept_system(concept_id)
    props: Dict[str, Any] = {
        "concept_id": concept_id,
        "name": name,
        "namespace": system["namespace"],
        "system": system["system"],
        "iri": system["iri"],
    }
    concept = kb.get(concept_id) if kb is not None else None
    if concept is not None:
        props["name"] = name or concept.canonical_name
        props["semantic_types"] = list(concept.types)
        if concept.xrefs:
            props["xrefs"] = list(concept.xrefs)
    return props


def _link_score(entity: Mapping[str, Any]) -> float | None:
    for cand in entity.get("candidates") or []:
        if len(cand) >= 2 and cand[0] == entity.get("cui"):
            return float(cand[1])
    return None


class GraphBuilder:
    """Adds records one at a time; ``finish()`` adds the patient facts and returns the graph."""

    def __init__(self, *, kb: Any = None, pipeline: str | None = None):
        self.graph = ClinicalGraph(meta={"pipeline": pipeline} if pipeline else {})
        self.kb = kb
        self._ids: Dict[str, int] = {}

    def _unique(self, note_id: str, source: str | None) -> str:
        if note_id not in self._ids:
            self._ids[note_id] = 1
            return note_id
        n = self._ids[note_id] + 1
        while f"{note_id}#{n}" in self._ids:
            n += 1
        self._ids[note_id] = n
        new_id = f"{note_id}#{n}"
        self._ids[new_id] = 1
        logger.warning(GraphWarnings.W902.format(note_id=note_id, source=source or "input", new_id=new_id))
        return new_id

    def add_record(
        self, record: Mapping[str, Any], *, patient_id: str | None = None, date: str | None = None, source: str | None = None
    ) -> NoteInfo:
        """Add one annotation record (an error record gives a Note node with its ``error`` code)."""
        g = self.graph
        note_id = self._unique(str(record["id"]), source)
        patient_id = patient_id or _patient_id(record) or note_id
        info = NoteInfo(note_id, patient_id, date, len(g.notes), source)
        g.notes.append(info)
        pnode, nnode = f"patient:{patient_id}", f"note:{note_id}"
        g.add_node(pnode, PATIENT, patient_id=patient_id)
        error = record.get("error")
        g.add_node(
            nnode,
            NOTE,
            note_id=note_id,
            patient_id=patient_id,
            date=date,
            text_length=record.get("text_length"),
            source=source,
            error=error.get("code") if isinstance(error, dict) else None,
            error_message=error.get("message") if isinstance(error, dict) else None,
        )
        g.add_edge(f"{note_id}#note", HAS_NOTE, pnode, nnode)
        if error:
            return info
        entities = record.get("entities") or []
        targets: List[Tuple[str, str]] = []
        for i, ent in enumerate(entities):
            target = self._entity_node(ent)
            edge_id = f"{note_id}#m{i}"
            cue = ent.get("cue") if isinstance(ent.get("cue"), dict) else None
            assertion = assertion_of(ent)
            g.add_edge(
                edge_id,
                MENTIONS,
                nnode,
                target,
                note_id=note_id,
                entity=i,
                start=ent.get("start"),
                end=ent.get("end"),
                text=ent.get("text"),
                label=ent.get("label"),
                assertion=assertion,
                assessed=assertion is not None,
                **{flag: ent.get(flag) for flag in _FLAGS},
                cue=cue.get("text") if cue else None,
                cue_category=cue.get("category") if cue else None,
                cue_rule=cue.get("rule") if cue else None,
                concept_id=ent.get("cui"),
                link_score=_link_score(ent),
                confidence=ent.get("confidence"),
            )
            targets.append((target, edge_id))
            g.mentions.append(Mention(info, i, dict(ent), target, edge_id))
        provenance = "; ".join(p for p in (g.meta.get("pipeline"), source) if p) or None
        for r, rel in enumerate(record.get("relations") or []):
            head, tail = entities[rel["head"]], entities[rel["tail"]]
            label = str(rel["label"])
            typed = str(rel.get("typed_label") or label)
            g.add_edge(
                f"{note_id}#r{r}",
                RELATION,
                targets[rel["head"]][0],
                targets[rel["tail"]][0],
                type=relation_type(typed),
                label=label,
                typed_label=typed,
                score=float(rel["score"]) if rel.get("score") is not None else None,
                note_id=note_id,
                head_mention=targets[rel["head"]][1],
                tail_mention=targets[rel["tail"]][1],
                head_text=head.get("text"),
                tail_text=tail.get("text"),
                head_start=head.get("start"),
                head_end=head.get("end"),
                tail_start=tail.get("start"),
                tail_end=tail.get("end"),
                provenance=provenance,
            )
        return info

    def _entity_node(self, ent: Mapping[str, Any]) -> str:
        g = self.graph
        label = str(ent.get("label") or "")
        cui = ent.get("cui")
        if cui:
            node = g.add_node(f"concept:{cui}", CONCEPT, **_concept_props(str(cui), ent.get("concept_name"), self.kb))
        else:
            term = normalise_term(str(ent.get("text") or ""))
            node = g.add_node(f"term:{label}:{term}", TERM, term=term, label=label)
        labels = node.props.setdefault("ner_labels", [])
        if label and label not in labels:
            labels.append(label)
        return node.id

    def finish(self) -> ClinicalGraph:
        from .patients import add_patient_facts, patient_view

        self.graph.patients = patient_view(self.graph)
        add_patient_facts(self.graph)
        return self.graph


def build_graph(
    records: Iterable[Mapping[str, Any]],
    *,
    patients: Mapping[str, str] | None = None,
    dates: Mapping[str, str] | None = None,
    sources: Mapping[str, str] | None = None,
    kb: Any = None,
    pipeline: str | None = None,
) -> ClinicalGraph:
    """The graph of ``records`` (``annotations.jsonl`` lines or ``doc_to_record`` results).

    ``patients`` maps a note id to its patient id (default: the record's ``patient_id`` or
    ``meta.patient_id``, else one patient per note); ``dates`` a note id to its date (ISO 8601,
    which orders the patient view; without dates, the input order does); ``kb`` (a
    ``linking.kb.KnowledgeBase``) adds concept names, semantic types and cross-references.
    """
    builder = GraphBuilder(kb=kb, pipeline=pipeline)
    for record in records:
        note_id = str(record["id"])
        builder.add_record(
            record,
            patient_id=(patients or {}).get(note_id),
            date=(dates or {}).get(note_id),
            source=(sources or {}).get(note_id),
        )
    return builder.finish()


def graph_from_docs(
    docs: Iterable[Any],
    note_ids: Iterable[str] | None = None,
    *,
    patients: Mapping[str, str] | None = None,
    dates: Mapping[str, str] | None = None,
    kb: Any = None,
    pipeline: str | None = None,
) -> ClinicalGraph:
    """The graph of annotated Docs, through the same record builder as the CLI (``doc_to_record``).
    Note ids default to ``"1"``, ``"2"``, ...; with ``kb=None`` the KB of an ``umls_linker`` is
    not known here: pass ``nlp.get_pipe("umls_linker").kb`` to add semantic types."""
    from ..io.records import doc_to_record

    ids = iter(note_ids) if note_ids is not None else None
    records = (doc_to_record(doc, next(ids) if ids is not None else str(i)) for i, doc in enumerate(docs, start=1))
    return build_graph(records, patients=patients, dates=dates, kb=kb, pipeline=pipeline)
