"""A relation baseline a user can build without learning: the nearest compatible entity.

"Compatible" comes from a table ``(head label, tail label) -> relation label``: for
every directed pair of entity types, the relation label it most often carries in the
training data (a type pair seen fewer than ``min_count`` times has no entry). One could
write the same table by hand; counting it is the honest version of that.

Rule: for every entity ``h`` and every relation label ``L``, link ``h`` to the nearest
entity ``t`` (fewest tokens between them; ties go to the closer start) among the
candidates of ``h`` whose type pair maps to ``L``. Candidates come from the same
generator the model uses, e.g. the sentence (``scope="sentence"``) or a token window.
Scores are 1.0; the records go to ``doc._.relations`` exactly like the model's, so one
scorer measures both.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from typing import Dict, Iterable, List, Tuple

from spacy.tokens import Doc

from ..extensions import RELATIONS_ATTR, install_doc_extensions
from .instances import RelationCandidates
from .records import Record, make_record, pair_key

TypeTable = Dict[Tuple[str, str], str]


def learn_type_table(records: Iterable[Record], min_count: int = 2) -> TypeTable:
    """Most frequent relation label per directed (head label, tail label) pair."""
    counts: Dict[Tuple[str, str], Counter] = defaultdict(Counter)
    for record in records:
        counts[(record["head"]["label"], record["tail"]["label"])][record["label"]] += 1
    table: TypeTable = {}
    for pair, labels in counts.items():
        if sum(labels.values()) >= min_count:
            # most_common breaks ties by insertion order; sort first so the table is deterministic
            table[pair] = sorted(labels.items(), key=lambda kv: (-kv[1], kv[0]))[0][0]
    return table


def nearest_compatible(doc: Doc, table: TypeTable, candidates: RelationCandidates) -> List[Record]:
    """Baseline relation records for one doc (see the module docstring)."""
    ents, heads, tails = candidates.pairs(doc, "nearest_compatible_baseline")
    best: Dict[Tuple[int, str], Tuple[Tuple[int, int], int]] = {}
    for h, t in zip(heads.tolist(), tails.tolist(), strict=True):
        head, tail = ents[h], ents[t]
        label = table.get((head.label_, tail.label_))
        if label is None:
            continue
        gap = max(tail.start - head.end, head.start - tail.end, 0)
        rank = (gap, abs(tail.start - head.start))
        key = (h, label)
        if key not in best or rank < best[key][0]:
            best[key] = (rank, t)
    records = [make_record(ents[h], ents[t], label, 1.0) for (h, label), (_, t) in best.items()]
    records.sort(key=lambda r: (pair_key(r), r["label"]))
    return records


def apply_baseline(docs: Iterable[Doc], table: TypeTable, candidates: RelationCandidates) -> List[Doc]:
    """Write baseline records to ``doc._.relations`` (replacing what is there)."""
    install_doc_extensions()
    out = []
    for doc in docs:
        setattr(doc._, RELATIONS_ATTR, nearest_compatible(doc, table, candidates))
        out.append(doc)
    return out
