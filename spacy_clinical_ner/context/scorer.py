"""``spacy-clinical-ner.context_scorer.v1``: P/R/F per ConText attribute.

Keys: ``context_<attr>_p/r/f`` for negated, uncertain, historical, hypothetical and family,
``context_conditional_p/r/f`` for the i2b2 ``conditional`` class (predicted: ``span._.assertion ==
"conditional"``), plus ``context_acc``: the share of spans on both sides whose scorable attributes all agree.

Spans are paired by character offsets. A gold span with the attribute counts as a miss
when the prediction lacks it – also when the predicted doc has no span there at all, so
with a full pipeline the scores include NER misses; place gold entities in the predicted
docs (as ``benchmarks/context_eval.py`` does) to score the assertion step alone. A
predicted span with the attribute counts as a false positive when gold lacks it.

``context_<attr>_overlap_p/r/f`` score the same attribute with spans paired when they overlap
(one to one, as in the lenient i2b2 measure): behind a predicted NER, a negated "shortness of
breath" counts for the gold "shortness of breath on exertion". These move less with the NER's
exact boundaries; the exact keys stay the headline.

Gold comes from, in order: BRAT attributes in ``doc._.brat`` (the MACCROBAT reader keeps
``POLARITY`` there; see :data:`POLARITY_GOLD`), else the reference spans' own
extension values. Attributes the gold source cannot express (MACCROBAT has no
historical/hypothetical/family annotation) are reported as ``None``, not as zeros.

Which attributes a BRAT document can express follows from the attribute *types* its corpus
annotates (:data:`BRAT_TYPE_ATTRS`): ``POLARITY`` always (MACCROBAT and the visit notes), and
the visit notes' flags ``HYPOTHETICAL``, ``CONDITIONAL``, ``HISTORICAL`` and ``FAMILY`` where the
reader declared them (``GoldEntityCorpus.v1``'s ``brat_attributes`` stores the declaration on
the reference doc, :data:`GOLD_TYPES_KEY`) or where the document uses one. Declare them for the
notes: a short note without any flag is still evidence that its entities are not hypothetical.
"""

from __future__ import annotations

from typing import Any, Dict, Iterable, List, Set, Tuple

from spacy.scorer import PRFScore
from spacy.tokens import Doc, Span
from spacy.training import Example
from spacy.util import registry

from ..extensions import install_doc_extensions
from .attributes import BOOL_ATTRS, CONDITIONAL, PRESENT

#: MACCROBAT ``POLARITY`` values -> attributes. NEG is a negation; UNCERTAIN and the
#: hedged MAYBE_POS ("most likely", "suggestive of") and MAYBE_NEG ("did not cause
#: much", "reluctant") are uncertainty; POS is an explicit affirmation (neither).
POLARITY_GOLD: Dict[str, Dict[str, bool]] = {
    "NEG": {"is_negated": True},
    "UNCERTAIN": {"is_uncertain": True},
    "MAYBE_POS": {"is_uncertain": True},
    "MAYBE_NEG": {"is_uncertain": True},
    "POS": {},
}
BRAT_ATTRS = ("is_negated", "is_uncertain")
#: Binary BRAT attributes of the visit-note corpus (corpus/notes/annotated/GUIDELINE.md) -> attributes.
#: ``conditional`` is no boolean extension: it is scored on ``span._.assertion``.
BRAT_FLAG_GOLD: Dict[str, Dict[str, bool]] = {
    "HYPOTHETICAL": {"is_hypothetical": True},
    "CONDITIONAL": {CONDITIONAL: True},
    "HISTORICAL": {"is_historical": True},
    "FAMILY": {"is_family": True},
}
#: BRAT attribute type -> the attributes a corpus annotating it can express.
BRAT_TYPE_ATTRS: Dict[str, Tuple[str, ...]] = {"POLARITY": BRAT_ATTRS, **{k: tuple(v) for k, v in BRAT_FLAG_GOLD.items()}}
#: ``doc.user_data`` key on a reference doc: the BRAT attribute types its corpus annotates.
GOLD_TYPES_KEY = ("spacy_clinical_ner", "brat_attribute_types")
#: Attributes scored by default: the five booleans and the conditional class.
SCORED_ATTRS = BOOL_ATTRS + (CONDITIONAL,)
SHORT = {a: a[3:] for a in BOOL_ATTRS}  # is_negated -> negated
SHORT[CONDITIONAL] = CONDITIONAL


def brat_attribute_types(doc: Doc) -> Tuple[str, ...]:
    """The BRAT attribute types ``doc``'s corpus annotates (declared, else POLARITY and those used)."""
    declared = doc.user_data.get(GOLD_TYPES_KEY)
    if declared:
        return tuple(declared)
    brat = doc._.brat if Doc.has_extension("brat") else None
    used = {a.get("name") for a in (brat or {}).get("attributes") or ()}
    return ("POLARITY",) + tuple(t for t in BRAT_FLAG_GOLD if t in used)


def _spans(doc: Doc, spans_key: str | None, include_ents: bool) -> List[Span]:
    spans: List[Span] = []
    if spans_key is not None and spans_key in doc.spans:
        spans.extend(doc.spans[spans_key])
    if include_ents or spans_key is None:
        spans.extend(doc.ents)
    return spans


def gold_values(
    doc: Doc, spans: Iterable[Span], polarity_map: Dict[str, Dict[str, bool]] = POLARITY_GOLD
) -> Tuple[Dict[Tuple[int, int], Dict[str, bool]], Set[str]]:
    """Gold attribute values per (start_char, end_char) and the attributes the source can express."""
    brat = doc._.brat if Doc.has_extension("brat") else None
    out: Dict[Tuple[int, int], Dict[str, bool]] = {}
    if brat and brat.get("entities") is not None:
        types = brat_attribute_types(doc)
        can = tuple(dict.fromkeys(a for t in types for a in BRAT_TYPE_ATTRS.get(t, ())))
        by_id = {e["id"]: e for e in brat["entities"]}
        for span in spans:
            record = by_id.get(span.id_)
            attributes = (record or {}).get("attributes", {})
            polarity = attributes.get("POLARITY")
            values = dict.fromkeys(can, False)
            values.update(polarity_map.get(polarity, {}) if polarity else {})
            for name, flag in BRAT_FLAG_GOLD.items():
                if name in types and attributes.get(name):
                    values.update(flag)
            key = (span.start_char, span.end_char)
            previous = out.get(key, {})
            out[key] = {a: values.get(a, False) or previous.get(a, False) for a in can}
        return out, set(can)
    for span in spans:
        key = (span.start_char, span.end_char)
        out[key] = {a: bool(getattr(span._, a, False)) for a in BOOL_ATTRS if Span.has_extension(a)}
    return out, {a for a in BOOL_ATTRS if Span.has_extension(a)}


def _overlap_matches(gold: Iterable[Tuple[int, int]], pred: Iterable[Tuple[int, int]]) -> int:
    """One-to-one pairs of overlapping character spans (each gold span takes the first free
    predicted span that overlaps it, in text order)."""
    free = sorted(pred)
    n = 0
    for g_start, g_end in sorted(gold):
        for i, (p_start, p_end) in enumerate(free):
            if p_start < g_end and g_start < p_end:
                del free[i]
                n += 1
                break
    return n


def score_context(
    examples: Iterable[Example],
    *,
    spans_key: str | None = None,
    include_ents: bool = True,
    attrs: Iterable[str] = SCORED_ATTRS,
    polarity_map: Dict[str, Dict[str, bool]] = POLARITY_GOLD,
    **_: Any,
) -> Dict[str, Any]:
    install_doc_extensions()  # doc._.brat must be readable on references loaded by `spacy evaluate`
    attrs = tuple(attrs)
    scores = {a: PRFScore() for a in attrs}
    overlap = {a: PRFScore() for a in attrs}
    expressible: Set[str] = set()
    n_pairs = n_agree = 0
    for eg in examples:
        gold, can = gold_values(eg.reference, _spans(eg.reference, spans_key, include_ents), polarity_map)
        expressible |= can
        pred: Dict[Tuple[int, int], Dict[str, Any]] = {}
        for span in _spans(eg.predicted, spans_key, include_ents):
            values: Dict[str, Any] = {a: bool(getattr(span._, a, False)) for a in attrs if Span.has_extension(a)}
            values["assertion"] = span._.assertion if Span.has_extension("assertion") else PRESENT
            values[CONDITIONAL] = values["assertion"] == CONDITIONAL
            pred[(span.start_char, span.end_char)] = values
        for attr in attrs:
            if attr not in can:
                continue
            g = {k for k, v in gold.items() if v.get(attr)}
            p = {k for k, v in pred.items() if v.get(attr)}
            scores[attr].tp += len(g & p)
            scores[attr].fp += len(p - g)
            scores[attr].fn += len(g - p)
            n = _overlap_matches(g, p)
            overlap[attr].tp += n
            overlap[attr].fp += len(p) - n
            overlap[attr].fn += len(g) - n
        for key, values in gold.items():
            if key in pred:
                n_pairs += 1
                n_agree += all(values.get(a, False) == pred[key].get(a, False) for a in can)
    out: Dict[str, Any] = {}
    for attr, prf in scores.items():
        name = SHORT.get(attr, attr)
        for suffix, score in (("", prf), ("_overlap", overlap[attr])):
            keys = [f"context_{name}{suffix}_{m}" for m in "prf"]
            values = (score.precision, score.recall, score.fscore) if attr in expressible else (None, None, None)
            out.update(zip(keys, values))
    out["context_acc"] = n_agree / n_pairs if n_pairs else None
    return out


@registry.scorers("spacy-clinical-ner.context_scorer.v1")
def make_context_scorer():
    """Scorer for ``clinical_context`` (see :func:`score_context`)."""
    return score_context
