"""Candidate pairs of entities for relation classification.

The generator is shared by the model (which pools a vector per pair) and the component
(which maps model rows back to pairs), so both always see the same pairs in the same order.

Scopes (``max_distance`` is a token gap: the number of tokens *between* the two spans,
0 for adjacent or overlapping spans):

* ``"window"`` – both directions of every pair of entities at most ``max_distance``
  tokens apart. Needs no sentence boundaries. On MACCROBAT train a window of 20 holds
  98% of MODIFY, 89% of BEFORE and 70% of SUB_PROCEDURE arguments, where a sentence
  holds only 27% of BEFORE (temporal links usually cross a line).
* ``"sentence"`` – pairs in the same sentence, still capped by ``max_distance`` so one
  run-on "sentence" (a table, a list without full stops) cannot make the work quadratic.
  Needs ``doc.sents`` (a ``sentencizer`` before the component).

Both scopes keep the number of pairs linear in the number of entities (each entity has
at most the entities of a ``2 * max_distance``-token neighbourhood as partners).

Label constraints: ``type_pairs`` is a whitelist of ``(head label, tail label)`` entity
type pairs. ``clinical_relation_extractor`` learns it from the training data at
``initialize`` (``constrain_types = true``) and saves it with the pipeline; a config can
also give it explicitly.
"""

from typing import Iterable, List, Optional, Sequence, Set, Tuple

import numpy
from spacy.tokens import Doc, Span
from spacy.util import registry

from .errors import RelationError, RelationErrors

SCOPES = ("window", "sentence")

#: Tokens that end a sentence-like unit, for the "breaks between" feature (with line breaks).
_BREAK_TEXTS = {".", "!", "?", ";"}


def get_entities(doc: Doc, source: str = "ents") -> List[Span]:
    """The entities a relation can connect: ``doc.ents`` or a span group, sorted by offset."""
    if source == "ents":
        return list(doc.ents)
    if source.startswith("spans:"):
        key = source[len("spans:") :]
        if key not in doc.spans:
            return []
        seen = set()
        spans = []
        for span in sorted(doc.spans[key], key=lambda s: (s.start, s.end, s.label_)):
            sig = (span.start, span.end, span.label)
            if sig not in seen:
                seen.add(sig)
                spans.append(span)
        return spans
    raise RelationError(RelationErrors.E504.format(source=source))


def sentence_ids(doc: Doc) -> Optional[numpy.ndarray]:
    """Sentence index per token, or None when the doc has no sentence boundaries."""
    if len(doc) == 0:
        return numpy.zeros((0,), dtype="int32")
    if not doc.has_annotation("SENT_START"):
        return None
    starts = numpy.fromiter((1 if t.is_sent_start else 0 for t in doc), dtype="int32", count=len(doc))
    starts[0] = 0
    return numpy.cumsum(starts).astype("int32")


def break_prefix(doc: Doc) -> numpy.ndarray:
    """Prefix counts (length ``len(doc) + 1``) of sentence breaks, for a "breaks between" feature.

    A break is a token that ends a sentence-like unit: a full stop, ``!``, ``?``, ``;`` or a
    line break. The doc's sentence boundaries are deliberately not used: the relation
    extractor is trained on documents without them, and a sentencizer in front of it at
    inference would otherwise give the feature another meaning than it was trained with.
    """
    flags = numpy.zeros((len(doc) + 1,), dtype="int32")
    if len(doc) == 0:
        return flags
    # flags[i + 1] = 1: token i ends a sentence-like unit (full stop, line break)
    orth, is_space = doc.to_array(["ORTH", "IS_SPACE"]).T
    is_break = numpy.isin(orth, _break_orths(doc))
    for i in numpy.nonzero(is_space)[0].tolist():
        is_break[i] = is_break[i] or "\n" in doc[i].text
    flags[1:] = is_break
    return numpy.cumsum(flags).astype("int32")


def _break_orths(doc: Doc) -> numpy.ndarray:
    return numpy.asarray([doc.vocab.strings.add(t) for t in sorted(_BREAK_TEXTS)], dtype="uint64")


class RelationCandidates:
    """Callable candidate generator: ``doc -> [(head Span, tail Span), ...]``."""

    def __init__(
        self,
        max_distance: int = 20,
        scope: str = "window",
        entity_source: str = "ents",
        type_pairs: Optional[Iterable[Sequence[str]]] = None,
    ) -> None:
        if scope not in SCOPES:
            raise RelationError(RelationErrors.E502.format(scope=scope, options=list(SCOPES)))
        if max_distance < 0:
            raise RelationError(RelationErrors.E508.format(name="max_distance", value=max_distance, reason="must be >= 0"))
        if entity_source != "ents" and not entity_source.startswith("spans:"):
            raise RelationError(RelationErrors.E504.format(source=entity_source))
        self.max_distance = int(max_distance)
        self.scope = scope
        self.entity_source = entity_source
        self.type_pairs: Optional[Set[Tuple[str, str]]] = None
        self.config_type_pairs = type_pairs is not None
        self.set_type_pairs(type_pairs)

    def set_type_pairs(self, type_pairs: Optional[Iterable[Sequence[str]]]) -> None:
        """Set (or clear, with None) the whitelist of ``(head label, tail label)`` pairs."""
        self.type_pairs = None if type_pairs is None else {(str(h), str(t)) for h, t in type_pairs}

    def get_type_pairs(self) -> Optional[List[List[str]]]:
        return None if self.type_pairs is None else [list(p) for p in sorted(self.type_pairs)]

    def entities(self, doc: Doc) -> List[Span]:
        return get_entities(doc, self.entity_source)

    def pairs(self, doc: Doc, component: str = "clinical_relation_extractor") -> Tuple[List[Span], numpy.ndarray, numpy.ndarray]:
        """Entities of ``doc`` and the candidate pairs as two index arrays (head, tail) into them."""
        ents = self.entities(doc)
        n = len(ents)
        if n < 2:
            empty = numpy.zeros((0,), dtype="int32")
            return ents, empty, empty
        sents = None
        if self.scope == "sentence":
            sents = sentence_ids(doc)
            if sents is None:
                raise RelationError(RelationErrors.E503.format(doc_id=doc.user_data.get("doc_id", doc.text[:30]), name=component))
        starts = numpy.fromiter((e.start for e in ents), dtype="int64", count=n)
        ends = numpy.fromiter((e.end for e in ents), dtype="int64", count=n)
        # Entities are sorted by start, so the partners j > i of entity i that start at most
        # max_distance tokens after i ends form one contiguous run [i + 1, hi[i]).
        hi = numpy.searchsorted(starts, ends + self.max_distance, side="right")
        lo = numpy.arange(1, n + 1, dtype="int64")
        counts = numpy.maximum(hi - lo, 0)
        first = numpy.repeat(numpy.arange(n, dtype="int64"), counts)
        offsets = numpy.repeat(numpy.cumsum(counts) - counts, counts)
        second = numpy.arange(int(counts.sum()), dtype="int64") - offsets + numpy.repeat(lo, counts)
        if sents is not None:
            same = sents[starts[first]] == sents[starts[second]]
            first, second = first[same], second[same]
        # two spans of a group with the same offsets (other labels) are one mention: no pair with itself
        distinct = (starts[first] != starts[second]) | (ends[first] != ends[second])
        first, second = first[distinct], second[distinct]
        # both directions, i -> j before j -> i, each kept if its type pair is allowed
        heads = numpy.stack([first, second], axis=1).reshape(-1)
        tails = numpy.stack([second, first], axis=1).reshape(-1)
        if self.type_pairs is not None and len(heads):
            names = sorted({e.label_ for e in ents})
            index = {name: k for k, name in enumerate(names)}
            allowed = numpy.zeros((len(names), len(names)), dtype=bool)
            for a, name_a in enumerate(names):
                for b, name_b in enumerate(names):
                    allowed[a, b] = (name_a, name_b) in self.type_pairs
            label_ids = numpy.fromiter((index[e.label_] for e in ents), dtype="int64", count=n)
            keep = allowed[label_ids[heads], label_ids[tails]]
            heads, tails = heads[keep], tails[keep]
        return ents, heads.astype("int32"), tails.astype("int32")

    def __call__(self, doc: Doc) -> List[Tuple[Span, Span]]:
        ents, heads, tails = self.pairs(doc)
        return [(ents[h], ents[t]) for h, t in zip(heads.tolist(), tails.tolist(), strict=True)]

    def __repr__(self) -> str:
        n_pairs = "any" if self.type_pairs is None else len(self.type_pairs)
        return (
            f"RelationCandidates(scope={self.scope!r}, max_distance={self.max_distance}, "
            f"entity_source={self.entity_source!r}, type_pairs={n_pairs})"
        )


@registry.misc("spacy-clinical-ner.relation_candidates.v1")
def make_relation_candidates(
    max_distance: int = 20,
    scope: str = "window",
    entity_source: str = "ents",
    type_pairs: Optional[List[List[str]]] = None,
) -> RelationCandidates:
    """Candidate pairs within ``max_distance`` tokens (``scope = "window"``) or within a
    sentence (``scope = "sentence"``, also capped by ``max_distance``), both directions,
    optionally restricted to a whitelist of ``[head label, tail label]`` type pairs.

    ``entity_source``: ``"ents"`` (``doc.ents``, what an NER produces) or ``"spans:<key>"``
    (a span group, e.g. ``"spans:entities"`` with all gold entities, overlapping ones too).
    """
    return RelationCandidates(max_distance=max_distance, scope=scope, entity_source=entity_source, type_pairs=type_pairs)
