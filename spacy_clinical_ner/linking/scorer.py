"""Linking scorer: micro P/R/F of concept ids on the gold mentions' offsets.

Only spans whose character offsets match a gold mention that has a concept id are scored (NER
errors are the NER scorer's business, as in spaCy's ``Scorer.score_links``):

- true positive: the predicted id equals the gold id;
- false positive: a predicted id (not ``"NIL"``/empty) that differs from the gold id;
- false negative: a gold mention whose prediction is wrong, ``"NIL"`` or missing.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any, Callable, Dict, Iterable

from spacy.training import Example
from spacy.util import registry

from ..concepts import NULL_IDS as NIL_IDS


def _spans(doc, spans_key: str | None):
    if spans_key is not None and spans_key in doc.spans:
        return list(doc.spans[spans_key])
    return list(doc.ents)


def score_linking(examples: Iterable[Example], spans_key: str | None = None, **kwargs: Any) -> Dict[str, Any]:
    tp = fp = fn = 0
    per_type: Dict[str, Dict[str, int]] = defaultdict(lambda: {"tp": 0, "fp": 0, "fn": 0})
    for eg in examples:
        gold = {(s.start_char, s.end_char): (s.label_, s.kb_id_) for s in _spans(eg.reference, spans_key) if s.kb_id_ not in NIL_IDS}
        pred = {(s.start_char, s.end_char): s.kb_id_ for s in _spans(eg.predicted, spans_key)}
        for offsets, (label, gold_id) in gold.items():
            p = pred.get(offsets, "")
            counts = per_type[label]
            if p == gold_id:
                tp += 1
                counts["tp"] += 1
            else:
                fn += 1
                counts["fn"] += 1
                if p not in NIL_IDS:
                    fp += 1
                    counts["fp"] += 1
    return {
        "nel_micro_p": _p(tp, fp),
        "nel_micro_r": _r(tp, fn),
        "nel_micro_f": _f(tp, fp, fn),
        "nel_per_type": {
            label: {"p": _p(c["tp"], c["fp"]), "r": _r(c["tp"], c["fn"]), "f": _f(c["tp"], c["fp"], c["fn"])}
            for label, c in per_type.items()
        },
    }


def _p(tp: int, fp: int) -> float:
    return tp / (tp + fp) if tp + fp else 0.0


def _r(tp: int, fn: int) -> float:
    return tp / (tp + fn) if tp + fn else 0.0


def _f(tp: int, fp: int, fn: int) -> float:
    p, r = _p(tp, fp), _r(tp, fn)
    return 2 * p * r / (p + r) if p + r else 0.0


@registry.scorers("spacy-clinical-ner.linker_scorer.v1")
def make_linker_scorer() -> Callable:
    return score_linking
