"""The graph's vocabulary: node kinds, edge types, concept id systems, and what counts as a
fact about the patient. One definition, used by every writer (JSON, RDF, Neo4j, FHIR).

Node kinds (Neo4j labels, RDF classes ``scn:<Kind>``)

=========  ===================================================================================
Patient    ``patient_id``; one per patient (the notes' ``patient_id`` field, else one per note)
Note       ``note_id``, ``text_length``, ``date`` (when given), ``error`` (a note that failed)
Concept    a linked concept: ``concept_id`` (``C0011849``, ``HP:0001250``, ``DRUGBANK:DB00331``),
           ``name``, ``system`` (UMLS, HPO, DrugBank ...), ``namespace`` (the id's prefix),
           ``semantic_types`` (from the knowledge base, when given), ``iri``
Term       an entity that no concept was linked to, by NER label and normalised text
=========  ===================================================================================

Edge types (Neo4j relationship types; RDF properties ``scn:<camelCase>``)

================  ===================================================================================
HAS_NOTE          Patient -> Note
MENTIONS          Note -> Concept | Term, one per entity: offsets, text, NER label, assertion and the
                  ConText flags, cue, link score / confidence. In RDF each one is a ``scn:Mention``.
HAS_PROBLEM       Patient -> Concept | Term: a ``Disease_disorder`` / ``Sign_symptom`` mentioned as
                  *present* and *of the patient* at least once (never for a negated, possible,
                  hypothetical, conditional or family-history mention alone)
TAKES_MEDICATION  Patient -> Concept | Term: the same rule for ``Medication`` entities
RELATION          Concept | Term -> Concept | Term: a relation of the extractor, one per relation
                  and note (``label``, ``typed_label``, ``score``, offsets, provenance). The Neo4j
                  type is the label in upper case (``DOSAGE_OF``, ``BEFORE``, ``CAUSE``); in RDF
                  each one is a ``scn:Relation``.
================  ===================================================================================
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from typing import Any, Dict, Mapping, Tuple
from urllib.parse import quote

from ..context.attributes import ABSENT, ASSERTION_CLASSES, HYPOTHETICAL, POSSIBLE, PRESENT, SOMEONE_ELSE
from ..io.fhir import CONDITION_LABELS, MEDICATION_LABELS

#: The project's vocabulary namespace (classes and properties, documented in ``resources/scn.ttl``).
VOCAB = "https://github.com/spacy-clinical-ner/spacy-clinical-ner/vocab#"
#: Default base of the instance IRIs (patients, notes, terms, mentions): ``<base>note/<id>``.
DEFAULT_BASE = "urn:spacy-clinical-ner:"

PATIENT, NOTE, CONCEPT, TERM = "Patient", "Note", "Concept", "Term"
NODE_KINDS = (PATIENT, NOTE, CONCEPT, TERM)
HAS_NOTE, MENTIONS, HAS_PROBLEM, TAKES_MEDICATION = "HAS_NOTE", "MENTIONS", "HAS_PROBLEM", "TAKES_MEDICATION"
#: The kind of a relation edge (its Neo4j type is ``relation_type(label)``).
RELATION = "RELATION"
PATIENT_FACTS = {HAS_PROBLEM: CONDITION_LABELS, TAKES_MEDICATION: MEDICATION_LABELS}


# --------------------------------------------------------------------------- concept id systems


@dataclass(frozen=True)
class System:
    """A code system: its name, the IRI of a code (``{code}`` filled in) and its FHIR system URI."""

    name: str
    iri: str | None
    fhir: str


#: Concept id prefix -> system. UMLS CUIs have no prefix (``C0011849``).
SYSTEMS: Dict[str, System] = {
    "UMLS": System("UMLS", "https://uts.nlm.nih.gov/uts/umls/concept/{code}", "http://www.nlm.nih.gov/research/umls"),
    "DRUGBANK": System("DrugBank", "https://go.drugbank.com/drugs/{code}", "http://www.drugbank.ca"),
    "HP": System("HPO", "http://purl.obolibrary.org/obo/HP_{code}", "http://human-phenotype-ontology.org"),
    "DOID": System("Disease Ontology", "http://purl.obolibrary.org/obo/DOID_{code}", "http://purl.obolibrary.org/obo/doid.owl"),
    "MONDO": System("MONDO", "http://purl.obolibrary.org/obo/MONDO_{code}", "http://purl.obolibrary.org/obo/mondo.owl"),
    "MESH": System("MeSH", "http://id.nlm.nih.gov/mesh/{code}", "http://id.nlm.nih.gov/mesh"),
    "SNOMEDCT": System("SNOMED CT", "http://snomed.info/id/{code}", "http://snomed.info/sct"),
    "RXNORM": System("RxNorm", "http://purl.bioontology.org/ontology/RXNORM/{code}", "http://www.nlm.nih.gov/research/umls/rxnorm"),
    "NCIT": System("NCI Thesaurus", "http://purl.obolibrary.org/obo/NCIT_{code}", "http://ncicb.nci.nih.gov/xml/owl/EVS/Thesaurus.owl"),
    "OMIM": System("OMIM", "https://omim.org/entry/{code}", "http://omim.org"),
}
_CUI = re.compile(r"^C\d{7}$")
#: What a code may look like to be put into an IRI template (anything else gets a project IRI).
_SAFE_CODE = re.compile(r"^[A-Za-z0-9._-]+$")


def split_id(concept_id: str) -> Tuple[str, str]:
    """``("UMLS", "C0011849")``, ``("HP", "0001250")``, ``("DRUGBANK", "DB00331")``; an id of
    no known form keeps its prefix (``("MEDLINEPLUS", "a682345")``) or gets ``""``."""
    if _CUI.match(concept_id):
        return "UMLS", concept_id
    if ":" in concept_id:
        prefix, code = concept_id.split(":", 1)
        return prefix.upper(), code
    return "", concept_id


def concept_system(concept_id: str) -> Dict[str, Any]:
    """Namespace, system name, IRI (None when the id's system has no IRI form) and FHIR system URI."""
    namespace, code = split_id(concept_id)
    system = SYSTEMS.get(namespace)
    iri = system.iri.format(code=code) if system and system.iri and _SAFE_CODE.match(code) else None
    return {
        "namespace": namespace or None,
        "system": system.name if system else (namespace or None),
        "iri": iri,
        "fhir_system": system.fhir if system else f"urn:spacy-clinical-ner:system:{quote(namespace or 'local', safe='')}",
        "code": code,
    }


def instance_iri(base: str, kind: str, key: str) -> str:
    """``<base><kind>/<percent-encoded key>``: any id becomes a valid IRI."""
    return f"{base}{kind.lower()}/{quote(key, safe='')}"


# --------------------------------------------------------------------------- assertions


def assertion_of(entity: Mapping[str, Any]) -> str | None:
    """The entity's assertion class; from its flags when only they are given; None when
    nothing was assessed (no ConText component ran)."""
    value = entity.get("assertion")
    if value in ASSERTION_CLASSES:
        return value
    flags = {f: entity.get(f) for f in ("is_family", "is_hypothetical", "is_negated", "is_uncertain")}
    if all(v is None for v in flags.values()):
        return None
    if flags["is_family"]:
        return SOMEONE_ELSE
    if flags["is_hypothetical"]:
        return HYPOTHETICAL
    if flags["is_negated"]:
        return ABSENT
    if flags["is_uncertain"]:
        return POSSIBLE
    return PRESENT


def is_patient_fact(entity: Mapping[str, Any]) -> bool:
    """True only for a *present* finding *of the patient*: the assertion says present and no
    flag says negated, uncertain, hypothetical or family (a record that contradicts itself is
    not trusted). A mention nobody assessed (no ConText) is not a fact either."""
    if assertion_of(entity) != PRESENT:
        return False
    return not any(entity.get(flag) for flag in ("is_negated", "is_uncertain", "is_hypothetical", "is_family"))


def is_family(entity: Mapping[str, Any]) -> bool:
    return assertion_of(entity) == SOMEONE_ELSE or bool(entity.get("is_family"))


def fact_type(label: str) -> str | None:
    """``HAS_PROBLEM`` / ``TAKES_MEDICATION`` for the NER labels that make patient facts."""
    for edge, labels in PATIENT_FACTS.items():
        if label in labels:
            return edge
    return None


# --------------------------------------------------------------------------- terms and names

_SPACE = re.compile(r"\s+")
_EDGE_PUNCT = re.compile(r"^[\W_]+|[\W_]+$")


def normalise_term(text: str) -> str:
    """The key of an unlinked mention: NFKC, lower case, spaces collapsed, punctuation at the ends
    dropped (``"Chest  pain,"`` -> ``"chest pain"``)."""
    text = _SPACE.sub(" ", unicodedata.normalize("NFKC", text).lower()).strip()
    return _EDGE_PUNCT.sub("", text) or text


def relation_type(label: str) -> str:
    """The Neo4j relationship type of a relation label: ``dosage_of`` -> ``DOSAGE_OF``."""
    name = re.sub(r"[^A-Za-z0-9]+", "_", label).strip("_").upper()
    return name if name and not name[0].isdigit() else f"REL_{name}"


def camel(name: str) -> str:
    """``HAS_PROBLEM`` -> ``hasProblem`` (RDF property names)."""
    first, *rest = name.lower().split("_")
    return first + "".join(part.capitalize() for part in rest)
