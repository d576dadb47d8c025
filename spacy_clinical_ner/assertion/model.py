"""The assertion classifier network (a pure, registered function; the component wraps it).

Input: an :class:`AssertionBatch` – the docs, and per doc the instances (token start,
token end, hashed feature keys). Output: one probability row per instance over the
component's labels.

* ``AssertionClassifier.v1``: a softmax over ``present``, ``negated``, ``uncertain`` (one
  class per entity; pipelines trained before the multi-attribute classifier use it);
* ``AssertionClassifier.v2``: an independent sigmoid per attribute (``is_negated``,
  ``is_uncertain``, ``is_hypothetical``, ``conditional``, ``is_historical``, ``is_family``), so
  that an entity can be historical *and* negated, and a corpus that does not annotate an
  attribute can leave its output out of the loss (see ``ClinicalAssertion.get_loss``).

Two paths whose logits are added before the activation:

* a sparse linear model over hashed features – ConText's output for the span (which
  rule, category, side and token distance), the entity label and the words around and
  inside the span (see ``ClinicalAssertion.features``);
* optionally, a dense path over a ``tok2vec`` layer – the mean vectors of the span and
  of a window on each side, through a hidden layer. ``tok2vec`` can be the component's
  own embedding or a listener on the shared ``tok2vec``/``transformer`` of the NER
  pipeline (``spacy.Tok2VecListener.v1`` / ``spacy-transformers.TransformerListener.v1``).
"""

from typing import List, NamedTuple, Tuple

import numpy
from spacy.tokens import Doc
from spacy.util import registry
from thinc.api import Linear as LinearLayer
from thinc.api import Model, Relu, SparseLinear_v2, add, chain, softmax_activation, with_array
from thinc.types import Floats2d


class Instance(NamedTuple):
    start: int
    end: int
    keys: numpy.ndarray  # uint64 hashed feature keys


class AssertionBatch(NamedTuple):
    docs: List[Doc]
    instances: List[List[Instance]]


@registry.architectures("spacy-clinical-ner.AssertionClassifier.v1")
def build_assertion_classifier(
    tok2vec: Model[List[Doc], List[Floats2d]] | None = None,
    length: int = 262144,
    window: int = 6,
    hidden_width: int = 64,
    dropout: float = 0.1,
    nO: int | None = None,
) -> Model[AssertionBatch, Floats2d]:
    """Sparse features (+ optional pooled tok2vec) -> softmax over the assertion labels."""
    return _build(tok2vec, length, window, hidden_width, dropout, nO, multilabel=False)


@registry.architectures("spacy-clinical-ner.AssertionClassifier.v2")
def build_assertion_classifier_v2(
    tok2vec: Model[List[Doc], List[Floats2d]] | None = None,
    length: int = 262144,
    window: int = 6,
    hidden_width: int = 64,
    dropout: float = 0.1,
    nO: int | None = None,
) -> Model[AssertionBatch, Floats2d]:
    """Sparse features (+ optional pooled tok2vec) -> one sigmoid per assertion attribute."""
    return _build(tok2vec, length, window, hidden_width, dropout, nO, multilabel=True)


def _build(
    tok2vec: Model | None, length: int, window: int, hidden_width: int, dropout: float, nO: int | None, *, multilabel: bool
) -> Model[AssertionBatch, Floats2d]:
    length = 2 ** (max(length, 2) - 1).bit_length()
    sparse: Model[AssertionBatch, Floats2d] = chain(sparse_instance_features(), SparseLinear_v2(nO=nO, length=length))
    if tok2vec is None:
        scores = sparse
    else:
        dense = chain(
            pool_instances(tok2vec, window),
            with_array(Relu(nO=hidden_width, dropout=dropout)),
            LinearLayer(nO=nO),
        )
        scores = add(sparse, dense)
    model = chain(scores, sigmoid_output() if multilabel else softmax_activation())
    model.attrs["window"] = window
    model.attrs["multilabel"] = multilabel
    model.set_ref("sparse", sparse)
    model.set_ref("tok2vec", tok2vec)
    return model


# The forward and init functions live at module level (as in thinc's own layers), so that the
# model pickles: nlp.pipe(n_process=2) under the "spawn" start method (macOS, Windows) needs it.


def sigmoid_output() -> Model[Floats2d, Floats2d]:
    """Element-wise sigmoid whose backward pass takes the gradient w.r.t. the *logits*: the
    component passes ``(p - y) * mask``, binary cross-entropy's gradient, which stays exact
    where thinc's ``sigmoid_activation`` would divide and multiply by ``p (1 - p)``."""
    return Model("sigmoid_output", _sigmoid_forward)


def _identity_backprop(d_logits: Floats2d) -> Floats2d:
    return d_logits


def _sigmoid_forward(model: Model, X: Floats2d, is_train: bool):
    return model.ops.sigmoid(X, inplace=False), _identity_backprop


def sparse_instance_features() -> Model[AssertionBatch, Tuple[numpy.ndarray, numpy.ndarray, numpy.ndarray]]:
    """(keys, values, lengths) for thinc's SparseLinear, one group of keys per instance."""
    return Model("sparse_instance_features", _sparse_forward)


def _return_batch(batch: AssertionBatch):
    return lambda d_output: batch


def _sparse_forward(model: Model, batch: AssertionBatch, is_train: bool):
    all_keys: List[numpy.ndarray] = []
    lengths: List[int] = []
    for instances in batch.instances:
        for inst in instances:
            all_keys.append(inst.keys)
            lengths.append(len(inst.keys))
    keys = numpy.concatenate(all_keys) if all_keys else numpy.zeros((0,), dtype="uint64")
    xp = model.ops.xp
    out = (
        xp.asarray(keys, dtype="uint64"),
        xp.asarray(numpy.ones(len(keys), dtype="float32")),
        xp.asarray(numpy.asarray(lengths, dtype="int32")),
    )
    return out, _return_batch(batch)


def pool_instances(tok2vec: Model[List[Doc], List[Floats2d]], window: int) -> Model[AssertionBatch, Floats2d]:
    """For each instance: mean of its tokens, of ``window`` tokens before and after it."""
    return Model("pool_instances", _pool_forward, init=_pool_init, layers=[tok2vec], dims={"nO": None}, attrs={"window": window})


def _pool_forward(model: Model, batch: AssertionBatch, is_train: bool):
    tok2vec = model.layers[0]
    window = model.attrs["window"]
    tokvecs, bp_tokvecs = tok2vec(batch.docs, is_train)
    ops = model.ops
    width = tokvecs[0].shape[1] if tokvecs else tok2vec.get_dim("nO")
    rows: List[Floats2d] = []
    spans: List[Tuple[int, List[Tuple[int, int]]]] = []  # (doc index, [(start, end) x 3])
    for d, instances in enumerate(batch.instances):
        vecs = tokvecs[d]
        n = vecs.shape[0]
        for inst in instances:
            parts = [(inst.start, inst.end), (max(0, inst.start - window), inst.start), (inst.end, min(n, inst.end + window))]
            pooled = []
            for s, e in parts:
                pooled.append(vecs[s:e].mean(axis=0) if e > s else ops.alloc1f(width))
            rows.append(ops.xp.concatenate(pooled))
            spans.append((d, parts))
    output = ops.xp.vstack(rows) if rows else ops.alloc2f(0, width * 3)

    def backprop(d_output: Floats2d) -> AssertionBatch:
        d_tokvecs = [ops.alloc2f(*v.shape) for v in tokvecs]
        for row, (d, parts) in enumerate(spans):
            for k, (s, e) in enumerate(parts):
                if e > s:
                    d_tokvecs[d][s:e] += d_output[row, k * width : (k + 1) * width] / (e - s)
        bp_tokvecs(d_tokvecs)
        return batch

    return output, backprop


def _pool_init(model: Model, X: AssertionBatch | None = None, Y=None) -> None:
    model.layers[0].initialize(X.docs if X is not None else None)
