"""Span attributes written by ``clinical_context``, and the i2b2-style assertion class.

Extensions (installed idempotently, medspaCy-compatible):

* ``is_negated``, ``is_uncertain``, ``is_historical``, ``is_hypothetical``, ``is_family``
  – booleans with medspaCy's names and defaults (``False``). medspaCy registers the same
  five with ``default=False``; whichever package registers first, both read and write
  the same ``doc.user_data`` entries, so medspaCy code keeps working.
* ``assertion`` – one of :data:`ASSERTION_CLASSES` (default ``"present"``).
* ``context_cues`` – a list of plain dicts, one per cue that modified the span
  (``text``, ``start``, ``end`` as character offsets, ``category``, ``rule``,
  ``direction``, ``attribute``, ``source``), the cue that decided ``assertion`` first.

All values live in ``doc.user_data`` under spaCy's own keys, so they survive
``DocBin(store_user_data=True)``, ``Doc.to_bytes`` and ``nlp.pipe(n_process=...)``.
"""

from __future__ import annotations

from typing import Dict, Iterable, List

from spacy.tokens import Doc, Span

BOOL_ATTRS = ("is_negated", "is_uncertain", "is_historical", "is_hypothetical", "is_family")
ASSERTION_ATTR = "assertion"
CUES_ATTR = "context_cues"
SECTIONS_ATTR = "clinical_sections"
SPAN_SECTION_ATTR = "clinical_section"

ABSENT, POSSIBLE, HYPOTHETICAL, CONDITIONAL, SOMEONE_ELSE, PRESENT = (
    "absent",
    "possible",
    "hypothetical",
    "conditional",
    "associated_with_someone_else",
    "present",
)
ASSERTION_CLASSES = (PRESENT, ABSENT, POSSIBLE, HYPOTHETICAL, CONDITIONAL, SOMEONE_ELSE)

#: medspaCy's category -> attribute mapping, plus CONDITIONAL_EXISTENCE (no boolean;
#: it only sets ``assertion = "conditional"``).
DEFAULT_SPAN_ATTRS: Dict[str, Dict[str, bool]] = {
    "NEGATED_EXISTENCE": {"is_negated": True},
    "POSSIBLE_EXISTENCE": {"is_uncertain": True},
    "HISTORICAL": {"is_historical": True},
    "HYPOTHETICAL": {"is_hypothetical": True},
    "FAMILY": {"is_family": True},
    "CONDITIONAL_EXISTENCE": {},
}
#: Section category -> attributes (medspaCy's ``DEFAULT_ATTRS`` for its sectionizer, less its
#: three blanket "hypothetical" sections). An allergy list names reactions the patient *has*
#: under a condition (i2b2 2010: "conditional", not hypothetical), and an instructions section
#: mixes conditions to watch for with the patient's current problems ("take aspirin for your
#: CAD"): there the conditional cues in the sentence ("call if", "return for any") decide.
#: Pass ``section_attrs`` to restore them.
DEFAULT_SECTION_ATTRS: Dict[str, Dict[str, bool]] = {
    "past_medical_history": {"is_historical": True},
    "past_surgical_history": {"is_historical": True},
    "social_history": {"is_historical": True},
    "allergy": {"is_historical": True},
    "family_history": {"is_family": True},
}
ATTR_CATEGORY = {
    "is_negated": "NEGATED_EXISTENCE",
    "is_uncertain": "POSSIBLE_EXISTENCE",
    "is_historical": "HISTORICAL",
    "is_hypothetical": "HYPOTHETICAL",
    "is_family": "FAMILY",
}
#: Which cue decides the assertion class when several apply (first wins).
CATEGORY_PRIORITY = ("FAMILY", "HYPOTHETICAL", "CONDITIONAL_EXISTENCE", "NEGATED_EXISTENCE", "POSSIBLE_EXISTENCE", "HISTORICAL")


def assertion_class(values: Dict[str, bool], categories: Iterable[str] = ()) -> str:
    """The i2b2 2010 assertion class for a span's attributes.

    Precedence: someone else > hypothetical > conditional > absent > possible > present.
    A historical finding is ``present`` (i2b2 has no historical class).
    """
    if values.get("is_family"):
        return SOMEONE_ELSE
    if values.get("is_hypothetical"):
        return HYPOTHETICAL
    if "CONDITIONAL_EXISTENCE" in set(categories):
        return CONDITIONAL
    if values.get("is_negated"):
        return ABSENT
    if values.get("is_uncertain"):
        return POSSIBLE
    return PRESENT


def category_rank(category: str) -> int:
    try:
        return CATEGORY_PRIORITY.index(category)
    except ValueError:
        return len(CATEGORY_PRIORITY)


def _key(name: str, span: Span) -> tuple:
    # The key spaCy's Underscore uses for span extensions with a default.
    return ("._.", name, span.start_char, span.end_char)


def is_stored(span: Span, name: str) -> bool:
    """Whether a value of span extension ``name`` is stored for ``span`` (defaults are not)."""
    return _key(name, span) in span.doc.user_data


def _cues_getter(span: Span) -> List[dict]:
    # msgpack (DocBin, Doc.to_bytes) gives lists back as tuples: always hand out a list
    return list(span.doc.user_data.get(_key(CUES_ATTR, span), ()))


def _cues_setter(span: Span, value: List[dict] | None) -> None:
    key = _key(CUES_ATTR, span)
    if value:
        span.doc.user_data[key] = [dict(v) for v in value]
    else:
        span.doc.user_data.pop(key, None)


def _sections_getter(doc: Doc) -> List[dict]:
    return list(doc.user_data.get(("._.", SECTIONS_ATTR, None, None), ()))


def _sections_setter(doc: Doc, value: List[dict] | None) -> None:
    doc.user_data[("._.", SECTIONS_ATTR, None, None)] = [dict(v) for v in value or []]


def _span_section_getter(span: Span) -> str | None:
    for section in _sections_getter(span.doc):
        if section["start"] <= span.start_char < section["end"]:
            return section["category"]
    return None


def install_context_extensions() -> None:
    """Register the extensions (safe to call many times, with or without medspaCy)."""
    for attr in BOOL_ATTRS:
        if not Span.has_extension(attr):
            Span.set_extension(attr, default=False)
    if not Span.has_extension(ASSERTION_ATTR):
        Span.set_extension(ASSERTION_ATTR, default=PRESENT)
    if not Span.has_extension(CUES_ATTR):
        Span.set_extension(CUES_ATTR, getter=_cues_getter, setter=_cues_setter)
    if not Doc.has_extension(SECTIONS_ATTR):
        Doc.set_extension(SECTIONS_ATTR, getter=_sections_getter, setter=_sections_setter)
    if not Span.has_extension(SPAN_SECTION_ATTR):
        Span.set_extension(SPAN_SECTION_ATTR, getter=_span_section_getter)


def write_span_values(doc: Doc, start_char: int, end_char: int, values: Dict[str, bool], assertion: str, cues: List[dict]) -> None:
    """Write one span's results into ``doc.user_data`` (False/"present"/[] are not stored)."""
    data = doc.user_data
    for attr in BOOL_ATTRS:
        key = ("._.", attr, start_char, end_char)
        if values.get(attr):
            data[key] = True
        else:
            data.pop(key, None)
    key = ("._.", ASSERTION_ATTR, start_char, end_char)
    if assertion != PRESENT:
        data[key] = assertion
    else:
        data.pop(key, None)
    key = ("._.", CUES_ATTR, start_char, end_char)
    if cues:
        data[key] = cues
    else:
        data.pop(key, None)
