"""One plain JSON record per note: the output schema shared by the CLI, the REST service and Spark.

An annotated note::

    {"id": "n1", "text_length": 42, "error": null,
     "entities": [{"text", "label", "start", "end", "assertion", "is_negated", "is_uncertain",
                   "is_historical", "is_hypothetical", "is_family", "cue", "cues",
                   "cui", "concept_id", "concept_system", "concept_name",
                   "candidates": [[id, score], ...], "confidence"}],
     "relations": [{"head": entity index, "tail": entity index, "label", "score"}],
     "triples": [[head text, label, tail text]]}

A note that could not be annotated::

    {"id": "n2", "error": {"code": "empty_text", "message": "[E610] ..."}}

``start``/``end`` are character offsets into the note text. Attributes of components that
are not in the pipeline are ``null`` (assertions, cue, cui, concept name) or empty
(candidates, relations): the schema is the same whatever subset of components runs.
``concept_id`` is the linked concept's id as the knowledge base writes it (a UMLS CUI, or a
prefixed source id such as ``DRUGBANK:DB01050`` or ``HP:0001250``) and ``concept_system`` the URI
of its terminology (``concepts.ConceptId``); ``cui`` is kept for records written before 0.2 and
holds the same id (deprecated: it is not always a UMLS CUI, read ``concept_id``).
``confidence`` is the calibrated probability that the entity is right (``clinical_entity_confidence``).
The JSON Schema is ``resources/annotation.schema.json`` (``load_schema``).
"""

from __future__ import annotations

import json
from importlib import resources
from typing import Any, Dict, List, Tuple

from spacy.tokens import Doc, Span

from ..concepts import ConceptId
from ..context.attributes import BOOL_ATTRS, assertion_class, is_stored
from ..errors import NOTE_ERRORS
from ..extensions import RELATIONS_ATTR
from ..relations.records import typed_label
from ..spans import trimmed_offsets
from .inputs import clean_text

#: Boolean ConText attributes, medspaCy's names.
ASSERTION_FLAGS = BOOL_ATTRS
SCHEMA_RESOURCE = "annotation.schema.json"


def _span_attr(span: Span, name: str, default: Any = None) -> Any:
    return getattr(span._, name) if Span.has_extension(name) else default


def _cue(raw: Any) -> Dict[str, Any] | None:
    if not isinstance(raw, dict):
        return None
    return {
        "text": raw.get("text"),
        "start": raw.get("start"),
        "end": raw.get("end"),
        "category": raw.get("category"),
        "rule": raw.get("rule"),
    }


def _confidence(span: Span) -> float | None:
    value = _span_attr(span, "confidence")
    return None if value is None else float(value)


def concept_fields(kb_id: str | None) -> Dict[str, Any]:
    """``cui`` (deprecated alias), ``concept_id`` and ``concept_system`` of a ``kb_id_``; nulls when
    it names no concept (``""``, ``"NIL"``)."""
    concept = ConceptId.parse(kb_id)
    if concept is None:
        return {"cui": None, "concept_id": None, "concept_system": None}
    # the id exactly as the KB writes it, so that it looks up in the KB
    return {"cui": kb_id, "concept_id": kb_id, "concept_system": concept.system}


def entity_record(span: Span) -> Dict[str, Any]:
    """The record of one entity, reading each extension only if it is registered."""
    flags = {flag: (bool(_span_attr(span, flag)) if Span.has_extension(flag) else None) for flag in ASSERTION_FLAGS}
    assertion = _span_attr(span, "assertion")
    # "present" is the extension's default, never stored: with flags set by another component
    # (medspaCy's ConText, user code) and no assertion stored, the flags decide
    unset = assertion is None or (assertion == "present" and not is_stored(span, "assertion"))
    if unset and any(v is not None for v in flags.values()):
        # the precedence the components use (context.attributes.assertion_class)
        categories = [c.get("category") for c in (_span_attr(span, "context_cues") or []) if isinstance(c, dict)]
        assertion = assertion_class({flag: bool(v) for flag, v in flags.items()}, categories)
    cues = [c for c in (_cue(raw) for raw in (_span_attr(span, "context_cues") or [])) if c is not None]
    candidates = [[str(c[0]), float(c[1])] for c in (_span_attr(span, "kb_ents") or []) if len(c) >= 2]
    concept_name = _span_attr(span, "kb_name")
    start, end = trimmed_offsets(span.doc.text, span.start_char, span.end_char)  # no edge newline
    return {
        "text": span.doc.text[start:end],
        "label": span.label_,
        "start": start,
        "end": end,
        "assertion": assertion,
        **flags,
        "cue": cues[0] if cues else None,
        "cues": cues,
        **concept_fields(span.kb_id_),
        "concept_name": concept_name or None,
        "candidates": candidates,
        "confidence": _confidence(span),
    }


def _argument_entity(doc: Doc, arg: dict) -> Dict[str, Any]:
    """An entity record for a relation argument that is not among ``doc.ents``."""
    span = doc.char_span(arg["start"], arg["end"], label=arg["label"], alignment_mode="expand")
    if span is not None and (span.start_char, span.end_char) == (arg["start"], arg["end"]):
        return entity_record(span)
    # Not on token boundaries: the offsets and text are still exact; no attributes.
    start, end = trimmed_offsets(doc.text, arg["start"], arg["end"])
    return {
        "text": doc.text[start:end],
        "label": arg["label"],
        "start": start,
        "end": end,
        "assertion": None,
        **{flag: None for flag in ASSERTION_FLAGS},
        "cue": None,
        "cues": [],
        **concept_fields(None),
        "concept_name": None,
        "candidates": [],
        "confidence": None,
    }


def doc_to_record(doc: Doc, note_id: str) -> Dict[str, Any]:
    """The output record of an annotated Doc."""
    entities = [entity_record(ent) for ent in doc.ents]
    # relation arguments name entities by the Doc's offsets (a record's may be trimmed)
    index: Dict[Tuple[int, int, str], int] = {(ent.start_char, ent.end_char, ent.label_): i for i, ent in enumerate(doc.ents)}
    relations: List[Dict[str, Any]] = []
    triples: List[List[str]] = []
    raw_relations = getattr(doc._, RELATIONS_ATTR) if Doc.has_extension(RELATIONS_ATTR) else []
    for rel in raw_relations or []:
        ends = []
        for arg in (rel["head"], rel["tail"]):
            key = (arg["start"], arg["end"], arg["label"])
            if key not in index:
                # Keep the relation: its argument becomes an entity of its own.
                index[key] = len(entities)
                entities.append(_argument_entity(doc, arg))
            ends.append(index[key])
        head, tail = ends
        readable = typed_label(str(rel["label"]), rel["head"].get("label"), rel["tail"].get("label"))
        relations.append(
            {"head": head, "tail": tail, "label": rel["label"], "typed_label": readable, "score": float(rel.get("score", 1.0))}
        )
        triples.append([entities[head]["text"], rel["label"], entities[tail]["text"]])
    return {
        "id": note_id,
        "text_length": len(doc.text),
        "entities": entities,
        "relations": relations,
        "triples": triples,
        "error": None,
    }


def error_record(note_id: str, code: str, **details: Any) -> Dict[str, Any]:
    """The record of a note that could not be annotated (``code`` is a key of ``NOTE_ERRORS``)."""
    template = NOTE_ERRORS[code]
    try:
        message = template.format(**details)
    except (KeyError, IndexError):
        message = template.split("{", 1)[0].strip()
    # Undecodable input bytes (kept as surrogates) must not reach a UTF-8 writer.
    message = clean_text(message)
    return {"id": note_id, "error": {"code": code, "message": message}}


def dumps(record: Dict[str, Any]) -> str:
    """One JSONL line (no newline); non-ASCII characters are kept as they are."""
    return json.dumps(record, ensure_ascii=False, separators=(",", ":"))


def load_schema() -> Dict[str, Any]:
    """The JSON Schema (draft 2020-12) of an output record."""
    return json.loads(resources.files(__package__).joinpath("resources", SCHEMA_RESOURCE).read_text(encoding="utf8"))
