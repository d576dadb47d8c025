"""The relation classifier network: ``List[Doc] -> Floats2d`` (one row per candidate pair).

A pair is represented by

* the mean token vector of the head span, of the tail span and of the tokens between
  them (zeros when they touch or overlap), from the shared ``tok2vec`` – a
  ``Tok2VecListener`` or a ``TransformerListener`` in the shipped configs;
* hashed embeddings of discrete pair features: head label, tail label, the
  (head, tail) label pair, the signed token gap, the number of entities between the two
  and the number of sentence breaks between them.

A ReLU hidden layer (layer-normalised) and a linear layer give one logit per relation
label; the output is its sigmoid (several labels may hold for one pair, and a pair with
no label is the all-zero target). The sigmoid layer passes the gradient through
unchanged: ``clinical_relation_extractor.get_loss`` returns ``scores - truths``, the
gradient of binary cross-entropy with respect to the logits.

Mean pooling over arbitrary token ranges uses prefix sums: ``mean[a:b] = (C[b] - C[a]) /
(b - a)``, so its cost does not depend on span lengths, and its gradient is a
scatter-add followed by a reverse prefix sum.
"""

from typing import Callable, List, Optional, Tuple

import numpy
from spacy.tokens import Doc
from spacy.util import registry
from thinc.api import HashEmbed, Linear, Model, Relu, chain
from thinc.types import Floats2d, Ints1d

from .instances import RelationCandidates, break_prefix

#: Discrete pair features, in the order their embeddings are concatenated.
FEATURE_FIELDS = ("head_label", "tail_label", "label_pair", "gap", "ents_between", "breaks_between")
_GAP_EDGES = (0, 1, 2, 3, 4, 5, 8, 16, 32)
_ENTS_EDGES = (0, 1, 2, 3, 4, 6, 10)
_BREAK_EDGES = (0, 1, 2, 3)
_MASK64 = (1 << 64) - 1
#: Candidate pairs pooled at a time (bounds the float64 temporaries of long notes).
POOL_BLOCK = 4096
#: Candidate pairs scored at a time by ``predict_in_blocks``.
PREDICT_BLOCK = 16384


def _field_salt(field: str) -> int:
    from spacy.strings import hash_string

    return int(hash_string(f"spacy-clinical-ner.relation-feature.{field}")) & _MASK64


_SALTS = None


def _salts() -> dict:
    global _SALTS
    if _SALTS is None:
        _SALTS = {field: numpy.uint64(_field_salt(field)) for field in FEATURE_FIELDS}
    return _SALTS


def _bucket(values: numpy.ndarray, edges: Tuple[int, ...]) -> numpy.ndarray:
    """Index of the last edge <= value (values below the first edge go to bucket 0)."""
    return numpy.maximum(numpy.searchsorted(numpy.asarray(edges), values, side="right") - 1, 0).astype("uint64")


def pair_feature_keys(docs: List[Doc], get_candidates: RelationCandidates):
    """Candidate pairs of a batch as global token ranges and hashed feature keys.

    Returns ``(ranges, keys, lengths)``: ``ranges`` is an int array ``(n_pairs, 6)`` of
    ``[head_start, head_end, tail_start, tail_end, between_start, between_end]`` token
    offsets into the concatenation of the docs; ``keys`` is a uint64 array ``(n_pairs,
    len(FEATURE_FIELDS))``; ``lengths`` the number of pairs per doc.
    """
    salts = _salts()
    all_ranges, all_keys, lengths = [], [], []
    offset = 0
    for doc in docs:
        ents, heads, tails = get_candidates.pairs(doc)
        n = len(heads)
        lengths.append(n)
        if n:
            starts = numpy.asarray([e.start for e in ents], dtype="int64")
            ends = numpy.asarray([e.end for e in ents], dtype="int64")
            labels = numpy.asarray([e.label for e in ents], dtype="uint64")
            hs, he, ts, te = starts[heads], ends[heads], starts[tails], ends[tails]
            head_first = hs <= ts
            first_end = numpy.where(head_first, he, te)
            second_start = numpy.where(head_first, ts, hs)
            b_start = first_end
            b_end = numpy.maximum(second_start, first_end)  # empty when the spans touch or overlap
            ranges = numpy.stack([hs, he, ts, te, b_start, b_end], axis=1) + offset
            gap = numpy.maximum(second_start - first_end, 0)
            gap_b = _bucket(gap, _GAP_EDGES) * numpy.uint64(2) + head_first.astype("uint64")
            overlap = (second_start < first_end).astype("uint64")
            gap_b = gap_b + overlap * numpy.uint64(100)
            ents_between = numpy.maximum(numpy.abs(heads.astype("int64") - tails.astype("int64")) - 1, 0)
            breaks = break_prefix(doc).astype("int64")
            n_breaks = breaks[numpy.maximum(second_start, 0)] - breaks[numpy.minimum(first_end, len(doc))]
            n_breaks = numpy.maximum(n_breaks, 0)
            hl, tl = labels[heads], labels[tails]
            with numpy.errstate(over="ignore"):
                keys = numpy.stack(
                    [
                        hl ^ salts["head_label"],
                        tl ^ salts["tail_label"],
                        (hl * numpy.uint64(1000003) + tl) ^ salts["label_pair"],
                        gap_b ^ salts["gap"],
                        _bucket(ents_between, _ENTS_EDGES) ^ salts["ents_between"],
                        _bucket(n_breaks, _BREAK_EDGES) ^ salts["breaks_between"],
                    ],
                    axis=1,
                )
            all_ranges.append(ranges)
            all_keys.append(keys)
        offset += len(doc)
    if all_ranges:
        return numpy.concatenate(all_ranges, axis=0), numpy.concatenate(all_keys, axis=0), lengths
    return numpy.zeros((0, 6), dtype="int64"), numpy.zeros((0, len(FEATURE_FIELDS)), dtype="uint64"), lengths


def build_pair_layer(
    tok2vec: Model[List[Doc], List[Floats2d]],
    get_candidates: RelationCandidates,
    feature_width: int,
    feature_rows: int,
) -> Model[List[Doc], Floats2d]:
    """Docs -> one row per candidate pair: [head mean, tail mean, between mean, feature embeddings]."""
    embed = HashEmbed(nO=feature_width, nV=feature_rows, seed=17)
    return Model(
        "relation_pairs",
        _pairs_forward,
        init=_pairs_init,
        layers=[tok2vec, embed],
        attrs={"get_candidates": get_candidates},
        dims={"nO": None, "token_width": None},
    )


def _pairs_init(model: Model, X: Optional[List[Doc]] = None, Y=None) -> None:
    tok2vec, embed = model.layers
    tok2vec.initialize(X=X)
    embed.initialize()
    width = tok2vec.get_dim("nO") if tok2vec.has_dim("nO") else None
    if not width and X is not None:
        outputs = tok2vec.predict(X)
        width = outputs[0].shape[1] if outputs else None
    if width:
        model.set_dim("token_width", width)
        model.set_dim("nO", 3 * width + len(FEATURE_FIELDS) * embed.get_dim("nO"))


def _prefix_sums(model: Model, docs: List[Doc], tokvecs: List[Floats2d]):
    """Prefix sums of the batch's token vectors and the candidate pairs: ``(C, ranges, keys, width, doc_lengths)``."""
    ops = model.ops
    xp = ops.xp
    doc_lengths = [len(doc) for doc in docs]
    width = tokvecs[0].shape[1] if tokvecs else model.get_dim("token_width")
    if not model.has_dim("token_width"):
        model.set_dim("token_width", width)
    ranges, keys, _ = pair_feature_keys(docs, model.attrs["get_candidates"])
    total = sum(doc_lengths)
    X = xp.concatenate(tokvecs, axis=0) if total else ops.alloc2f(0, width)
    # prefix sums in float64: the subtraction of two large sums stays exact enough
    C = xp.zeros((total + 1, width), dtype="float64")
    if total:
        C[1:] = xp.cumsum(X, axis=0, dtype="float64")
    ranges = ops.asarray(ranges, dtype="int64") if ranges.shape[0] else ranges
    return C, ranges, keys, width, doc_lengths


def _pair_rows(model: Model, C, ranges, keys, width: int, is_train: bool):
    """The representation of the pairs ``ranges``/``keys``: ``(rows, bp_feats, starts, ends, inv_len)``."""
    _, embed = model.layers
    ops = model.ops
    xp = ops.xp
    n_pairs, n_fields = keys.shape
    feat_width = embed.get_dim("nO")
    starts = ranges[:, 0::2]
    ends = ranges[:, 1::2]
    lengths = (ends - starts).astype("float32")
    inv_len = xp.where(lengths > 0, 1.0 / xp.maximum(lengths, 1.0), 0.0).astype("float32")
    feats, bp_feats = embed(ops.asarray(keys.reshape(-1), dtype="uint64"), is_train)
    output = ops.alloc2f(n_pairs, 3 * width + n_fields * feat_width, zeros=False)
    output[:, 3 * width :] = feats.reshape((n_pairs, n_fields * feat_width))
    # Pairs in blocks: the float64 differences of a long note's pairs at once would take gigabytes.
    for lo in range(0, n_pairs, POOL_BLOCK):
        hi = min(lo + POOL_BLOCK, n_pairs)
        for k in range(3):
            diff = (C[ends[lo:hi, k]] - C[starts[lo:hi, k]]).astype("float32")
            output[lo:hi, k * width : (k + 1) * width] = diff * inv_len[lo:hi, k : k + 1]
    return output, bp_feats, starts, ends, inv_len


def _pairs_forward(model: Model, docs: List[Doc], is_train: bool) -> Tuple[Floats2d, Callable]:
    tok2vec, _ = model.layers
    ops = model.ops
    xp = ops.xp
    tokvecs, bp_tokvecs = tok2vec(docs, is_train)
    C, ranges, keys, width, doc_lengths = _prefix_sums(model, docs, tokvecs)
    total = sum(doc_lengths)
    n_pairs, n_fields = keys.shape
    output, bp_feats, starts, ends, inv_len = _pair_rows(model, C, ranges, keys, width, is_train)

    def backprop(d_output: Floats2d) -> List[Doc]:
        dC = xp.zeros((total + 1, width), dtype="float32")
        if n_pairs:
            for k in range(3):
                g = d_output[:, k * width : (k + 1) * width] * inv_len[:, k : k + 1]
                ops.scatter_add(dC, ends[:, k], g)
                ops.scatter_add(dC, starts[:, k], -g)
            d_feats = d_output[:, 3 * width :].reshape((n_pairs * n_fields, -1))
            bp_feats(xp.ascontiguousarray(d_feats))
        # dX[t] = sum_{k > t} dC[k]: a reverse prefix sum
        dX = xp.ascontiguousarray(xp.cumsum(dC[1:][::-1], axis=0)[::-1]) if total else ops.alloc2f(0, width)
        d_tokvecs = []
        start = 0
        for length in doc_lengths:
            d_tokvecs.append(dX[start : start + length])
            start += length
        return bp_tokvecs(d_tokvecs)

    return output, backprop


def predict_in_blocks(model: Model[List[Doc], Floats2d], docs: List[Doc], block_size: int = PREDICT_BLOCK) -> Floats2d:
    """``model.predict(docs)`` with the pairs scored ``block_size`` at a time.

    The same numbers, but the memory no longer grows with the pairs of the batch: a long
    note has about 12 candidate pairs per token, and their 576-wide representations and
    hidden activations at once would take gigabytes. The token vectors are computed once.
    """
    if not model.has_ref("pairs") or model.layers[0] is not model.get_ref("pairs"):
        return model.predict(docs)  # another architecture: no blocks
    pairs = model.get_ref("pairs")
    classifier = model.layers[1:]  # everything after the pair layer is row-wise
    tok2vec, _ = pairs.layers
    C, ranges, keys, width, _ = _prefix_sums(pairs, docs, tok2vec.predict(docs))
    n_pairs = keys.shape[0]
    scores = model.ops.alloc2f(n_pairs, model.get_dim("nO"), zeros=False)
    for lo in range(0, n_pairs, block_size):
        hi = min(lo + block_size, n_pairs)
        rows = _pair_rows(pairs, C, ranges[lo:hi], keys[lo:hi], width, is_train=False)[0]
        for layer in classifier:
            rows = layer.predict(rows)
        scores[lo:hi] = rows
    return scores


def sigmoid_for_bce() -> Model[Floats2d, Floats2d]:
    """Sigmoid whose backward pass is the identity: it expects ``d_scores = scores - truths``,
    which is the gradient of binary cross-entropy with respect to the logits."""
    return Model("sigmoid_for_bce", _sigmoid_forward)


def _sigmoid_forward(model: Model, X: Floats2d, is_train: bool) -> Tuple[Floats2d, Callable]:
    Y = model.ops.sigmoid(X)

    def backprop(dY: Floats2d) -> Floats2d:
        return dY

    return Y, backprop


@registry.architectures("spacy-clinical-ner.RelationModel.v1")
def build_relation_model(
    tok2vec: Model[List[Doc], List[Floats2d]],
    get_candidates: RelationCandidates,
    hidden_width: int = 128,
    feature_width: int = 32,
    feature_rows: int = 1024,
    dropout: float = 0.1,
    nO: Optional[int] = None,
) -> Model[List[Doc], Floats2d]:
    """Relation classifier over the candidate pairs of a batch of docs.

    tok2vec: token vectors, usually a listener of a shared ``tok2vec`` or ``transformer``.
    get_candidates: the pair generator (``spacy-clinical-ner.relation_candidates.v1``).
    hidden_width: width of the ReLU layer over the pair representation.
    feature_width / feature_rows: hashed embeddings of the discrete pair features.
    nO: number of relation labels (set by the component at ``initialize``).
    """
    pairs = build_pair_layer(tok2vec, get_candidates, feature_width, feature_rows)
    output = Linear(nO=nO)
    model: Model[List[Doc], Floats2d] = chain(
        pairs,
        Relu(nO=hidden_width, dropout=dropout, normalize=True),
        output,
        sigmoid_for_bce(),
    )
    model.set_ref("tok2vec", tok2vec)
    model.set_ref("pairs", pairs)
    model.set_ref("output_layer", output)
    model.attrs["get_candidates"] = get_candidates
    return model


def rows_per_doc(docs: List[Doc], get_candidates: RelationCandidates) -> Ints1d:
    """Number of model output rows each doc contributes (its candidate pairs)."""
    return numpy.asarray([len(get_candidates.pairs(doc)[1]) for doc in docs], dtype="int32")
