"""Relation records on ``doc._.relations`` and readable access to them.

A record is plain, msgpack-safe data with *character* offsets::

    {"head": {"start": 10, "end": 17, "label": "Dosage"},
     "tail": {"start": 21, "end": 30, "label": "Medication"},
     "label": "MODIFY", "score": 0.93}

``iter_relations(doc)`` yields ``(head Span, label, tail Span, score)``; with
``typed=True`` the label of a MODIFY record is its readable name by argument types
(``dosage_of``, ``location_of``, ... see ``resources/modify_types.json``).
"""

from __future__ import annotations

import json
from functools import lru_cache
from importlib import resources
from typing import Dict, Iterator, List, Optional, Tuple

from spacy.tokens import Doc, Span

from ..extensions import RELATIONS_ATTR, install_doc_extensions
from .errors import RelationError, RelationErrors

Record = Dict[str, object]
PairKey = Tuple[int, int, int, int]


def span_record(span: Span) -> Dict[str, object]:
    return {"start": int(span.start_char), "end": int(span.end_char), "label": span.label_}


def make_record(head: Span, tail: Span, label: str, score: float) -> Record:
    return {"head": span_record(head), "tail": span_record(tail), "label": str(label), "score": float(score)}


def pair_key(record: Record) -> PairKey:
    """``(head start, head end, tail start, tail end)`` of a record, validated."""
    head, tail = record["head"], record["tail"]
    return (int(head["start"]), int(head["end"]), int(tail["start"]), int(tail["end"]))


def validate_record(record: object, index: int = 0, doc_id: str = "") -> None:
    """Raise E506 if ``record`` is not a well-formed relation record."""

    def fail(reason: str) -> RelationError:
        return RelationError(RelationErrors.E506.format(index=index, doc_id=doc_id, reason=reason))

    if not isinstance(record, dict):
        raise fail(f"not a dict but {type(record).__name__}")
    for arg in ("head", "tail"):
        value = record.get(arg)
        if not isinstance(value, dict):
            raise fail(f"'{arg}' missing or not a dict")
        for key in ("start", "end"):
            if not isinstance(value.get(key), int) or isinstance(value.get(key), bool):
                raise fail(f"'{arg}.{key}' missing or not an int")
        if value["start"] > value["end"]:
            raise fail(f"'{arg}' starts after it ends")
    if not isinstance(record.get("label"), str) or not record["label"]:
        raise fail("'label' missing or not a non-empty string")


def get_relations(doc: Doc) -> List[Record]:
    install_doc_extensions()
    return getattr(doc._, RELATIONS_ATTR) or []


@lru_cache(maxsize=1)
def modify_rules() -> Dict[Tuple[str, str], str]:
    """``(head label, tail label) -> readable label`` for MODIFY, from the packaged rules."""
    path = resources.files("spacy_clinical_ner.relations").joinpath("resources", "modify_types.json")
    data = json.loads(path.read_text(encoding="utf8"))
    table: Dict[Tuple[str, str], str] = {}
    for i, rule in enumerate(data.get("rules", [])):
        try:
            label, heads, tails = rule["label"], rule["head"], rule["tail"]
        except KeyError as err:
            raise RelationError(RelationErrors.E509.format(path=path, reason=f"rule {i} lacks {err}")) from None
        for h in heads:
            for t in tails:
                if (h, t) in table and table[(h, t)] != label:
                    raise RelationError(RelationErrors.E509.format(path=path, reason=f"({h}, {t}) is both {table[(h, t)]} and {label}"))
                table[(h, t)] = label
    return table


def typed_label(label: str, head_label: Optional[str], tail_label: Optional[str]) -> str:
    """The readable name of a MODIFY relation between these entity types (other labels unchanged)."""
    if label != "MODIFY":
        return label
    return modify_rules().get((head_label or "", tail_label or ""), label)


def record_typed_label(record: Record) -> str:
    return typed_label(str(record["label"]), record["head"].get("label"), record["tail"].get("label"))


def _span_for(doc: Doc, arg: Dict[str, object], index: int) -> Span:
    span = doc.char_span(int(arg["start"]), int(arg["end"]), label=str(arg.get("label", "")), alignment_mode="strict")
    if span is None:
        span = doc.char_span(int(arg["start"]), int(arg["end"]), label=str(arg.get("label", "")), alignment_mode="expand")
    if span is None:
        raise RelationError(RelationErrors.E507.format(start=arg["start"], end=arg["end"], doc_id=doc.text[:30], length=len(doc.text)))
    return span


def iter_relations(doc: Doc, *, typed: bool = False, min_score: float = 0.0) -> Iterator[Tuple[Span, str, Span, float]]:
    """Yield ``(head Span, label, tail Span, score)`` for the records on ``doc._.relations``.

    typed: give MODIFY relations their readable name by argument types (``dosage_of``...).
    min_score: skip records scored below this.
    """
    for i, record in enumerate(get_relations(doc)):
        validate_record(record, i, doc.text[:30])
        score = float(record.get("score", 1.0))
        if score < min_score:
            continue
        label = record_typed_label(record) if typed else str(record["label"])
        yield _span_for(doc, record["head"], i), label, _span_for(doc, record["tail"], i), score
