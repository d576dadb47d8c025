"""Relation scorer: micro P/R/F and per-label scores over the union of gold and predicted pairs.

A predicted record is a true positive when a gold record has the same head offsets,
tail offsets and label (entity labels are not compared: the entity is identified by
where it is). Every gold record that was not predicted is a false negative – whether
the model scored it low, or it was never a candidate (outside the window, an entity
the NER missed or placed differently). This is what makes end-to-end scores honest,
and what explosion's ``rel_component`` tutorial scorer does not do.

Keys: ``rel_micro_p``, ``rel_micro_r``, ``rel_micro_f``, ``rel_macro_f`` and
``rel_per_type`` (``{label: {"p", "r", "f"}}``), plus ``rel_typed_per_type`` with MODIFY
split into its readable names by argument types (gold types for gold, predicted types
for predictions).
"""

from collections import defaultdict
from typing import Any, Callable, Dict, Iterable, Optional, Set, Tuple

from spacy.scorer import PRFScore
from spacy.training import Example
from spacy.util import registry

from ..extensions import RELATIONS_ATTR, install_doc_extensions
from .gold import gold_relations
from .records import Record, pair_key, record_typed_label, validate_record

Key = Tuple[Tuple[int, int, int, int], str]


def _keys(records: Iterable[Record], doc_id: str, typed: bool, min_score: float, wanted: Optional[Set[str]] = None) -> Set[Key]:
    """(pair, label) keys of the records scoring at least ``min_score`` whose (base) label is in ``wanted``."""
    keys = set()
    for i, record in enumerate(records or []):
        validate_record(record, i, doc_id)
        if float(record.get("score", 1.0)) < min_score or (wanted is not None and str(record["label"]) not in wanted):
            continue
        label = record_typed_label(record) if typed else str(record["label"])
        keys.add((pair_key(record), label))
    return keys


def _prf(scores: Dict[str, PRFScore], prefix: str, labels: Optional[Set[str]] = None) -> Dict[str, Any]:
    micro = PRFScore()
    for label, score in scores.items():
        if labels is None or label in labels:
            micro += score
    per_type = {label: score.to_dict() for label, score in sorted(scores.items()) if labels is None or label in labels}
    fs = [v["f"] for v in per_type.values()]
    return {
        f"{prefix}_micro_p": micro.precision,
        f"{prefix}_micro_r": micro.recall,
        f"{prefix}_micro_f": micro.fscore,
        f"{prefix}_macro_f": sum(fs) / len(fs) if fs else 0.0,
        f"{prefix}_per_type": per_type,
    }


def score_relations(
    examples: Iterable[Example],
    *,
    labels: Optional[Iterable[str]] = None,
    min_score: float = 0.0,
    typed: bool = True,
    overlap: str = "sentence",
    **cfg: Any,
) -> Dict[str, Any]:
    """Score ``doc._.relations`` of ``eg.predicted`` against ``eg.reference``.

    The gold records of a converted BRAT reference are derived from ``doc._.brat`` by
    :func:`.gold.gold_relations` (so OVERLAP groups count as the same pairs the extractor
    was trained on, also under a plain ``spacy evaluate``); other references give their
    ``doc._.relations`` as they are.

    labels: score only these relation labels (default: every label seen in gold or predictions).
    min_score: ignore predicted records scored below this (the component has already applied its threshold).
    typed: also return ``rel_typed_per_type``.
    overlap: how BRAT OVERLAP groups become gold pairs (see :func:`.gold.gold_relations`).
    """
    install_doc_extensions()
    by_label: Dict[str, PRFScore] = defaultdict(PRFScore)
    by_typed: Dict[str, PRFScore] = defaultdict(PRFScore)
    wanted = set(labels) if labels is not None else None
    for eg in examples:
        doc_id = eg.reference.text[:30]
        variants = [(by_label, False)] + ([(by_typed, True)] if typed else [])
        gold_records = gold_relations(eg.reference, overlap=overlap)
        for table, use_typed in variants:
            gold = _keys(gold_records, doc_id, use_typed, 0.0, wanted)  # typed keys filtered by their base label too
            pred = _keys(getattr(eg.predicted._, RELATIONS_ATTR), doc_id, use_typed, min_score, wanted)
            for key in pred & gold:
                table[key[1]].tp += 1
            for key in pred - gold:
                table[key[1]].fp += 1
            for key in gold - pred:
                table[key[1]].fn += 1
    result = _prf(by_label, "rel")
    if typed:
        typed_scores = _prf(by_typed, "rel_typed")
        result["rel_typed_per_type"] = typed_scores["rel_typed_per_type"]
    return result


@registry.scorers("spacy-clinical-ner.relation_scorer.v1")
def make_relation_scorer() -> Callable[..., Dict[str, Any]]:
    """The scorer of ``clinical_relation_extractor`` (see :func:`score_relations`)."""
    return score_relations
