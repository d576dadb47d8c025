"""Gold relation records for training and scoring, from a converted BRAT Doc.

What the relation task on MACCROBAT is (the documented choices):

* Binary ``R`` relations as annotated: MODIFY, BEFORE, AFTER, SUB_PROCEDURE, IDENTICAL,
  CAUSE, directed (head = BRAT Arg1, tail = Arg2). CO-OCCURRENCE (5 in train, 0 in
  dev) is dropped by default.
* The n-ary ``OVERLAP`` groups (``*`` lines: events that overlap in time) become binary
  ``OVERLAP`` records. ``overlap="sentence"`` (default): every pair of group members
  in the same sentence, head = the earlier mention. A pair classifier can decide that
  from the two mentions and their context, and it is what a reader of one sentence
  means by "these happened together". Cross-sentence membership stays in
  ``doc._.brat["groups"]`` (on train: 32,472 member pairs in all, 7,649 within a
  sentence). ``"chain"``: consecutive members in text order (n-1 pairs per group,
  5,479 on train, the transitive closure gives the group back). ``"all"``: every member
  pair. ``"none"``: no OVERLAP.
* Offsets are those of the entity *as placed on tokens* (``doc.spans["entities"]``),
  not the raw BRAT offsets: an annotation that the converter trimmed (edge whitespace)
  or snapped outwards to token boundaries is the span an NER can predict, so the gold
  pair is matched against that span. Unplaced arguments keep their raw offsets and
  count as misses.
"""

from __future__ import annotations

import itertools
from typing import Dict, Iterable, List, Optional, Sequence, Tuple

from spacy.pipeline import Sentencizer
from spacy.tokens import Doc

from ..extensions import ALL_ENTITIES_KEY, BRAT_ATTR, RELATIONS_ATTR, install_doc_extensions
from .errors import RelationError, RelationErrors
from .records import Record, pair_key

OVERLAP_MODES = ("sentence", "chain", "all", "none")
DEFAULT_DROP_LABELS = ("CO-OCCURRENCE",)

_SENTENCIZER: Optional[Sentencizer] = None


def sentence_of_tokens(doc: Doc) -> List[int]:
    """Sentence index of each token: the doc's own boundaries, else spaCy's rule-based sentencizer."""
    global _SENTENCIZER
    if len(doc) == 0:
        return []
    if not doc.has_annotation("SENT_START"):
        if _SENTENCIZER is None:
            _SENTENCIZER = Sentencizer()
        doc = _SENTENCIZER(doc.copy())
    ids, current = [], -1
    for token in doc:
        if token.i == 0 or token.is_sent_start:
            current += 1
        ids.append(current)
    return ids


def gold_relations(
    doc: Doc,
    overlap: str = "sentence",
    drop_labels: Sequence[str] = DEFAULT_DROP_LABELS,
    keep_labels: Optional[Iterable[str]] = None,
) -> List[Record]:
    """Gold relation records of a converted BRAT doc (see the module docstring)."""
    if overlap not in OVERLAP_MODES:
        raise RelationError(RelationErrors.E505.format(mode=overlap, options=list(OVERLAP_MODES)))
    install_doc_extensions()
    brat = getattr(doc._, BRAT_ATTR)
    keep = set(keep_labels) if keep_labels is not None else None
    drop = set(drop_labels)

    def wanted(label: str) -> bool:
        return label not in drop and (keep is None or label in keep)

    if not brat:
        # not a converted BRAT doc: its records are the gold as given
        return [dict(r) for r in (getattr(doc._, RELATIONS_ATTR) or []) if wanted(r["label"])]

    placed: Dict[str, Tuple[int, int, int, int]] = {}  # T id -> (start_char, end_char, start token, end token)
    if ALL_ENTITIES_KEY in doc.spans:
        for span in doc.spans[ALL_ENTITIES_KEY]:
            if span.id_:
                placed[span.id_] = (span.start_char, span.end_char, span.start, span.end)
    entities = {e["id"]: e for e in brat.get("entities", [])}

    def arg(t_id: str) -> Dict[str, object]:
        ent = entities[t_id]
        if t_id in placed:
            start, end = placed[t_id][:2]
        else:
            start, end = ent["start"], ent["end"]
        return {"start": int(start), "end": int(end), "label": ent["label"]}

    records: List[Record] = []
    seen = set()

    def add(head_id: str, tail_id: str, label: str) -> None:
        record = {"head": arg(head_id), "tail": arg(tail_id), "label": label, "score": 1.0}
        key = (pair_key(record), label)
        if key not in seen and record["head"] != record["tail"]:
            seen.add(key)
            records.append(record)

    for rel in brat.get("relations", []):
        if wanted(rel["label"]) and rel["head"] in entities and rel["tail"] in entities:
            add(rel["head"], rel["tail"], rel["label"])
    if overlap != "none":
        sent_ids = sentence_of_tokens(doc) if overlap == "sentence" else []
        for group in brat.get("groups", []):
            label = group["label"]
            if not wanted(label):
                continue
            members = [m for m in group["members"] if m in entities]
            members.sort(key=lambda m: (arg(m)["start"], arg(m)["end"]))
            if overlap == "chain":
                pairs: Iterable[Tuple[str, str]] = zip(members, members[1:], strict=False)
            else:
                pairs = itertools.combinations(members, 2)
            for a, b in pairs:
                if overlap == "sentence":
                    if a not in placed or b not in placed:
                        continue
                    if sent_ids[placed[a][2]] != sent_ids[placed[b][2]]:
                        continue
                add(a, b, label)
    return records
