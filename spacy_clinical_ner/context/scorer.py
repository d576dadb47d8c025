"""``spacy-clinical-ner.context_scorer.v1``: P/R/F per ConText attribute.

Keys: ``context_<attr>_p/r/f`` for negated, uncertain, historical, hypothetical and family,
plus ``context_acc``: the share of spans on both sides whose scorable attributes all agree.

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
"""

from __future__ import annotations

from typing import Any, Dict, Iterable, List, Set, Tuple

from spacy.scorer import PRFScore
from spacy.tokens import Doc, Span
from spacy.training import Example
from spacy.util import registry

from ..extensions import install_doc_extensions
from .attributes import BOOL_ATTRS, PRESENT

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
SHORT = {a: a[3:] for a in BOOL_ATTRS}  # is_negated -> negated


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
        by_id = {e["id"]: e for e in brat["entities"]}
        for span in spans:
            record = by_id.get(span.id_)
            polarity = (record or {}).get("attributes", {}).get("POLARITY")
            values = dict.fromkeys(BRAT_ATTRS, False)
            values.update(polarity_map.get(polarity, {}) if polarity else {})
            key = (span.start_char, span.end_char)
            previous = out.get(key, {})
            out[key] = {a: values.get(a, False) or previous.get(a, False) for a in BRAT_ATTRS}
        return out, set(BRAT_ATTRS)
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
    attrs: Iterable[str] = BOOL_ATTRS,
    polarity_map: Dict[str, Dict[str, bool]] = POLARITY_GOLD,
    **_: Any,
) -> Dict[str, Any]:
    install_doc_extensions()  # doc._.brat must be readable on references loaded by `spacy evaluate`
    scores = {a: PRFScore() for a in attrs}
    overlap = {a: PRFScore() for a in attrs}
    expressible: Set[str] = set()
    n_pairs = n_agree = 0
    for eg in examples:
        gold, can = gold_values(eg.reference, _spans(eg.reference, spans_key, include_ents), polarity_map)
        expressible |= can
        pred: Dict[Tuple[int, int], Dict[str, Any]] = {}
        for span in _spans(eg.predicted, spans_key, include_ents):
            pred[(span.start_char, span.end_char)] = {a: bool(getattr(span._, a, False)) for a in attrs if Span.has_extension(a)}
            pred[(span.start_char, span.end_char)]["assertion"] = span._.assertion if Span.has_extension("assertion") else PRESENT
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
