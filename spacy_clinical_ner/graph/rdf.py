"""RDF with rdflib: Turtle and N-Triples in the project's vocabulary (``scn:``, documented in
``resources/scn.ttl``), with PROV, SKOS, Dublin Core and XSD.

* Patients, notes and unlinked terms get instance IRIs under a base (``urn:spacy-clinical-ner:``
  by default): ``<base>patient/<id>``, ``<base>note/<id>``, ``<base>term/<label>/<text>``.
* A linked concept *is* its ontology IRI where the id allows: UMLS CUIs, DrugBank, HPO, MeSH,
  Disease Ontology, MONDO, SNOMED CT, RxNorm, NCIt, OMIM (see ``vocabulary.SYSTEMS``); other ids
  get ``<base>concept/<id>``. Cross-references from the knowledge base are ``skos:exactMatch``.
* Each mention is a ``scn:Mention`` (``scn:inNote``, ``scn:denotes``, offsets, label, assertion,
  ConText flags and cue), and ``note scn:mentions concept`` says only that it is mentioned.
* Each relation is a ``scn:Relation`` (``scn:head`` / ``scn:tail`` mentions, ``scn:relationLabel``,
  ``scn:score``, ``prov:wasDerivedFrom`` its note, ``scn:provenance``).
* ``patient scn:hasProblem concept`` and ``patient scn:takesMedication concept`` only for
  present findings of the patient (see ``vocabulary.is_patient_fact``).
"""

from __future__ import annotations

from typing import Any, Dict

from .errors import GraphErrors
from .model import ClinicalGraph
from .vocabulary import CONCEPT, DEFAULT_BASE, HAS_NOTE, MENTIONS, NOTE, PATIENT, PATIENT_FACTS, RELATION, TERM, VOCAB, camel, instance_iri


def _rdflib():
    try:
        import rdflib
    except ImportError:  # pragma: no cover - the extra is missing
        from ..errors import ClinicalNERError

        raise ClinicalNERError(GraphErrors.E904.format(module="rdflib", extra="graph")) from None
    return rdflib


def node_iri(graph: ClinicalGraph, node_id: str, base: str = DEFAULT_BASE) -> str:
    node = graph.nodes[node_id]
    if node.kind == CONCEPT:
        return node.props.get("iri") or instance_iri(base, "concept", node.props["concept_id"])
    if node.kind == TERM:
        return instance_iri(base, "term", f"{node.props['label']}/{node.props['term']}")
    key = node.props["patient_id"] if node.kind == PATIENT else node.props["note_id"]
    return instance_iri(base, node.kind, key)


def to_rdf(graph: ClinicalGraph, base: str = DEFAULT_BASE):
    """The graph as an ``rdflib.Graph``."""
    rdflib = _rdflib()
    from rdflib import RDF, RDFS, XSD, Literal, Namespace, URIRef
    from rdflib.namespace import DCTERMS, PROV, SKOS

    from .vocabulary import concept_system

    SCN = Namespace(VOCAB)
    g = rdflib.Graph()
    for prefix, ns in (("scn", SCN), ("prov", PROV), ("skos", SKOS), ("dcterms", DCTERMS)):
        g.bind(prefix, ns)
    g.bind("obo", Namespace("http://purl.obolibrary.org/obo/"))
    g.bind("mesh", Namespace("http://id.nlm.nih.gov/mesh/"))
    g.bind("umls", Namespace("https://uts.nlm.nih.gov/uts/umls/concept/"))
    g.bind("drugbank", Namespace("https://go.drugbank.com/drugs/"))

    iris: Dict[str, URIRef] = {nid: URIRef(node_iri(graph, nid, base)) for nid in graph.nodes}

    def lit(value: Any) -> Literal:
        if isinstance(value, bool):
            return Literal(value)
        if isinstance(value, int):
            return Literal(value, datatype=XSD.integer)
        if isinstance(value, float):
            return Literal(value, datatype=XSD.double)
        return Literal(str(value))

    def add(subject: URIRef, prop: str, value: Any) -> None:
        if value is None:
            return
        for v in value if isinstance(value, list) else [value]:
            g.add((subject, SCN[prop], lit(v)))

    for nid, node in graph.nodes.items():
        s = iris[nid]
        g.add((s, RDF.type, SCN[node.kind]))
        p = node.props
        if node.kind == PATIENT:
            add(s, "patientId", p.get("patient_id"))
        elif node.kind == NOTE:
            add(s, "noteId", p.get("note_id"))
            add(s, "textLength", p.get("text_length"))
            add(s, "error", p.get("error"))
            if p.get("date"):
                g.add((s, DCTERMS.date, Literal(p["date"])))
        elif node.kind == CONCEPT:
            add(s, "conceptId", p.get("concept_id"))
            add(s, "namespace", p.get("namespace"))
            add(s, "system", p.get("system"))
            add(s, "semanticType", p.get("semantic_types"))
            add(s, "nerLabel", p.get("ner_labels"))
            if p.get("name"):
                g.add((s, RDFS.label, Literal(p["name"])))
                g.add((s, SKOS.prefLabel, Literal(p["name"])))
            for xref in p.get("xrefs") or []:
                iri = concept_system(xref)["iri"]
                if iri:
                    g.add((s, SKOS.exactMatch, URIRef(iri)))
                else:
                    add(s, "xref", xref)
        else:
            add(s, "term", p.get("term"))
            add(s, "nerLabel", p.get("ner_labels"))
            g.add((s, RDFS.label, Literal(p["term"])))

    mention_iris: Dict[str, URIRef] = {}
    for e in graph.edges:
        s, o = iris[e.source], iris[e.target]
        p = e.props
        if e.kind == HAS_NOTE:
            g.add((s, SCN.hasNote, o))
        elif e.kind == MENTIONS:
            g.add((s, SCN.mentions, o))
            m = mention_iris[e.id] = URIRef(f"{s}/mention/{p['entity']}")
            g.add((m, RDF.type, SCN.Mention))
            g.add((m, SCN.inNote, s))
            g.add((m, SCN.denotes, o))
            for key, prop in (
                ("text", "text"),
                ("label", "nerLabel"),
                ("start", "start"),
                ("end", "end"),
                ("assertion", "assertion"),
                ("is_negated", "isNegated"),
                ("is_uncertain", "isUncertain"),
                ("is_historical", "isHistorical"),
                ("is_hypothetical", "isHypothetical"),
                ("is_family", "isFamily"),
                ("cue", "cueText"),
                ("cue_category", "cueCategory"),
                ("cue_rule", "cueRule"),
                ("link_score", "linkScore"),
                ("confidence", "confidence"),
            ):
                add(m, prop, p.get(key))
        elif e.kind in PATIENT_FACTS:
            g.add((s, SCN[camel(e.kind)], o))
        elif e.kind == RELATION:
            r = URIRef(f"{iris['note:' + p['note_id']]}/relation/{e.id.rsplit('#r', 1)[1]}")
            g.add((r, RDF.type, SCN.Relation))
            g.add((r, SCN.head, mention_iris[p["head_mention"]]))
            g.add((r, SCN.tail, mention_iris[p["tail_mention"]]))
            g.add((r, SCN.headConcept, s))
            g.add((r, SCN.tailConcept, o))
            g.add((r, PROV.wasDerivedFrom, iris["note:" + p["note_id"]]))
            add(r, "relationLabel", p.get("label"))
            add(r, "typedLabel", p.get("typed_label"))
            add(r, "score", p.get("score"))
            add(r, "provenance", p.get("provenance"))
    return g


def serialize(graph: ClinicalGraph, fmt: str = "turtle", base: str = DEFAULT_BASE) -> str:
    """``fmt``: ``turtle`` or ``nt`` (N-Triples), or any rdflib serializer name."""
    return to_rdf(graph, base).serialize(format=fmt)


def vocabulary_graph():
    """The vocabulary's documentation (``resources/scn.ttl``) as an ``rdflib.Graph``."""
    from importlib import resources

    rdflib = _rdflib()
    text = resources.files(__package__).joinpath("resources", "scn.ttl").read_text(encoding="utf8")
    return rdflib.Graph().parse(data=text, format="turtle")
