"""``clinical_relation_extractor``: a trainable relation classifier over pairs of entities.

It reads entities from ``doc.ents`` (default; what an NER produces) or from a span group
(``entity_source = "spans:entities"`` in the candidate generator), scores every candidate
pair with the model, and writes the pairs scoring at least ``threshold`` for a label to
``doc._.relations`` as plain records (see :mod:`.records`), replacing what was there.

Labels that are functional in the training data (a head takes one tail: in MACCROBAT a modifier
MODIFYs one entity, an event is BEFORE one next event) keep only each head's best-scoring tail:
``functional_labels``, learned at ``initialize`` and saved with the component.
"""

import logging
import warnings
from collections import Counter
from itertools import islice
from typing import Any, Callable, Dict, Iterable, List, Optional, Sequence, Tuple

import numpy
from spacy.language import Language
from spacy.pipeline import TrainablePipe
from spacy.tokens import Doc
from spacy.training import Example, validate_get_examples
from spacy.vocab import Vocab
from thinc.api import Model, Optimizer
from thinc.types import Floats2d

from ..extensions import RELATIONS_ATTR, install_doc_extensions
from .errors import RelationError, RelationErrors, RelationWarnings
from .instances import RelationCandidates
from .model import predict_in_blocks
from .records import make_record, pair_key
from .scorer import score_relations

logger = logging.getLogger(__name__)

#: At ``initialize``, a label is functional when at most this share of its gold heads has more than one tail.
FUNCTIONAL_MAX_SHARE = 0.05

DEFAULT_REL_MODEL = """
[model]
@architectures = "spacy-clinical-ner.RelationModel.v1"
hidden_width = 128
feature_width = 32
feature_rows = 1024
dropout = 0.1
nO = null

[model.tok2vec]
@architectures = "spacy.HashEmbedCNN.v2"
pretrained_vectors = null
width = 96
depth = 2
embed_size = 2000
window_size = 1
maxout_pieces = 3
subword_features = true

[model.get_candidates]
@misc = "spacy-clinical-ner.relation_candidates.v1"
max_distance = 20
scope = "window"
entity_source = "ents"
type_pairs = null
"""


def _default_model_config() -> Dict[str, Any]:
    from thinc.api import Config

    return Config().from_str(DEFAULT_REL_MODEL)["model"]


@Language.factory(
    "clinical_relation_extractor",
    assigns=[f"doc._.{RELATIONS_ATTR}"],
    requires=["doc.ents"],
    default_config={
        "model": _default_model_config(),
        "threshold": 0.5,
        "negative_rate": 0.3,
        "constrain_types": True,
        "min_type_count": 1,
        "functional_labels": None,
        "scorer": {"@scorers": "spacy-clinical-ner.relation_scorer.v1"},
    },
    default_score_weights={"rel_micro_f": 1.0, "rel_micro_p": 0.0, "rel_micro_r": 0.0, "rel_per_type": None},
)
def make_clinical_relation_extractor(
    nlp: Language,
    name: str,
    model: Model[List[Doc], Floats2d],
    threshold: float,
    negative_rate: float,
    constrain_types: bool,
    min_type_count: int,
    functional_labels: Optional[List[str]],
    scorer: Optional[Callable],
) -> "RelationExtractor":
    """Create a ``clinical_relation_extractor``.

    model: ``spacy-clinical-ner.RelationModel.v1`` or another ``Model[List[Doc], Floats2d]``
        with the candidate generator in ``model.attrs["get_candidates"]``.
    threshold: a pair gets a label when the label's score is at least this.
    negative_rate: share of candidate pairs without any relation kept in each update's loss
        (1.0 = all). On MACCROBAT about 7% of candidate pairs carry a relation; keeping 30% of
        the negatives raised dev macro F from 43.7 to 48.5 and micro F from 72.2 to 73.5
        (benchmarks/results/relations.md), mostly through recall on the rarer labels.
    constrain_types: at ``initialize``, restrict candidates to the (head label, tail label)
        pairs seen in at least ``min_type_count`` gold relations (unless the candidate
        generator's config lists ``type_pairs`` itself).
    functional_labels: labels for which each head keeps only its best-scoring tail above the
        threshold. ``null`` (default): learned at ``initialize``, the labels whose gold heads have
        more than one tail in at most 5% of cases (MACCROBAT train: MODIFY 4.1%, SUB_PROCEDURE 0.9%,
        IDENTICAL 1.0%, CAUSE 4.4%, BEFORE 0.1%, AFTER 0.4%; OVERLAP, made of groups, is not).
        ``[]`` turns the constraint off. Applied to the earlier CPU model on dev it raised micro F
        from 73.5 to 74.3 (gold entities) and from 36.7 to 37.3 (end to end): precision up, recall
        slightly down.
    scorer: defaults to ``spacy-clinical-ner.relation_scorer.v1``.
    """
    return RelationExtractor(
        nlp.vocab,
        model,
        name,
        threshold=threshold,
        negative_rate=negative_rate,
        constrain_types=constrain_types,
        min_type_count=min_type_count,
        functional_labels=functional_labels,
        scorer=scorer,
    )


class RelationExtractor(TrainablePipe):
    """Classify candidate entity pairs into relation labels (multi-label, sigmoid per label)."""

    def __init__(
        self,
        vocab: Vocab,
        model: Model[List[Doc], Floats2d],
        name: str = "clinical_relation_extractor",
        *,
        threshold: float = 0.5,
        negative_rate: float = 0.3,
        constrain_types: bool = True,
        min_type_count: int = 1,
        functional_labels: Optional[Sequence[str]] = None,
        scorer: Optional[Callable] = score_relations,
    ) -> None:
        install_doc_extensions()
        if not 0.0 <= threshold <= 1.0:
            raise RelationError(RelationErrors.E508.format(name="threshold", value=threshold, reason="must lie in [0, 1]"))
        if not 0.0 < negative_rate <= 1.0:
            raise RelationError(RelationErrors.E508.format(name="negative_rate", value=negative_rate, reason="must lie in (0, 1]"))
        if "get_candidates" not in model.attrs:
            raise RelationError(
                RelationErrors.E508.format(
                    name="model", value=model.name, reason="model.attrs lacks 'get_candidates' (a candidate generator)"
                )
            )
        self.vocab = vocab
        self.model = model
        self.name = name
        self.scorer = scorer
        self.cfg: Dict[str, Any] = {
            "labels": [],
            "threshold": float(threshold),
            "negative_rate": float(negative_rate),
            "constrain_types": bool(constrain_types),
            "min_type_count": int(min_type_count),
            "type_pairs": self.candidates.get_type_pairs(),
            "functional_labels": _check_labels(functional_labels),
        }
        # What the config sets; saved state (labels, type pairs, learned functional labels) does not override it.
        self._settings = {k: self.cfg[k] for k in ("threshold", "negative_rate", "constrain_types", "min_type_count")}
        if functional_labels is not None:
            self._settings["functional_labels"] = self.cfg["functional_labels"]
        self._warned_no_ents = False

    # -- state -------------------------------------------------------------------------
    @property
    def candidates(self) -> RelationCandidates:
        return self.model.attrs["get_candidates"]

    @property
    def labels(self) -> Tuple[str, ...]:
        return tuple(self.cfg["labels"])

    @property
    def label_data(self) -> List[str]:
        return list(self.labels)

    @property
    def threshold(self) -> float:
        return float(self.cfg["threshold"])

    @threshold.setter
    def threshold(self, value: float) -> None:
        if not 0.0 <= value <= 1.0:
            raise RelationError(RelationErrors.E508.format(name="threshold", value=value, reason="must lie in [0, 1]"))
        self.cfg["threshold"] = float(value)

    @property
    def functional_labels(self) -> Tuple[str, ...]:
        """Labels for which each head keeps only its best-scoring tail (empty: none)."""
        return tuple(self.cfg.get("functional_labels") or ())

    @functional_labels.setter
    def functional_labels(self, labels: Sequence[str]) -> None:
        self.cfg["functional_labels"] = _check_labels(labels) or []

    def add_label(self, label: str) -> int:
        if not isinstance(label, str) or not label:
            raise RelationError(RelationErrors.E508.format(name="label", value=label, reason="must be a non-empty string"))
        if label in self.labels:
            return 0
        self._allow_extra_label()
        self.cfg["labels"] = list(self.labels) + [label]
        return 1

    def _sync_candidates(self) -> None:
        self.candidates.set_type_pairs(self.cfg.get("type_pairs"))

    def _check_initialized(self) -> None:
        if not self.labels:
            raise RelationError(RelationErrors.E501.format(name=self.name))
        if self.model.has_ref("output_layer") and not self.model.get_ref("output_layer").has_dim("nO"):
            raise RelationError(RelationErrors.E501.format(name=self.name))

    # -- training ----------------------------------------------------------------------
    def initialize(
        self,
        get_examples: Callable[[], Iterable[Example]],
        *,
        nlp: Optional[Language] = None,
        labels: Optional[Sequence[str]] = None,
        type_pairs: Optional[Sequence[Sequence[str]]] = None,
    ) -> None:
        """Collect labels, the type-pair whitelist and the functional labels from the gold data
        and initialise the model.

        labels: relation labels; default: the labels added with ``add_label`` and every label on
            the reference docs' ``doc._.relations``.
        type_pairs: ``[[head label, tail label], ...]`` whitelist; default: learned when
            ``constrain_types`` (and the generator's config gives none).
        """
        validate_get_examples(get_examples, "RelationExtractor.initialize")
        label_counts: Counter = Counter()
        pair_counts: Counter = Counter()
        tails_per_head: Dict[Tuple[int, str, int, int], set] = {}
        for n, eg in enumerate(get_examples()):
            for record in getattr(eg.reference._, RELATIONS_ATTR) or []:
                label_counts[record["label"]] += 1
                pair_counts[(record["head"].get("label", ""), record["tail"].get("label", ""))] += 1
                head = (n, record["label"], record["head"]["start"], record["head"]["end"])
                tails_per_head.setdefault(head, set()).add((record["tail"]["start"], record["tail"]["end"]))
        if labels is None:  # labels added with add_label() stay, as in spaCy's own components
            labels = list(self.labels) + sorted(set(label_counts) - set(self.labels))
        if not labels:
            raise RelationError(RelationErrors.E501.format(name=self.name))
        self.cfg["labels"] = list(dict.fromkeys(str(label) for label in labels))
        if type_pairs is not None:
            self.cfg["type_pairs"] = [list(p) for p in sorted({(str(h), str(t)) for h, t in type_pairs})]
        elif self.candidates.config_type_pairs:
            self.cfg["type_pairs"] = self.candidates.get_type_pairs()
        elif self.cfg["constrain_types"]:
            min_count = self.cfg["min_type_count"]
            self.cfg["type_pairs"] = [list(p) for p in sorted(p for p, c in pair_counts.items() if c >= min_count)]
        else:
            self.cfg["type_pairs"] = None
        if self.cfg.get("functional_labels") is None:
            heads, multi = Counter(), Counter()
            for (_, label, _, _), tails in tails_per_head.items():
                heads[label] += 1
                multi[label] += len(tails) > 1
            self.cfg["functional_labels"] = [
                label for label in self.cfg["labels"] if heads[label] and multi[label] <= FUNCTIONAL_MAX_SHARE * heads[label]
            ]
        self._sync_candidates()
        sample = [eg.predicted for eg in islice(get_examples(), 10)]
        if self.model.has_ref("output_layer"):
            output_layer = self.model.get_ref("output_layer")
            if output_layer.has_dim("nO") is None:
                output_layer.set_dim("nO", len(self.labels))
            elif output_layer.get_dim("nO") != len(self.labels):
                raise RelationError(
                    RelationErrors.E508.format(
                        name="labels", value=list(self.labels), reason=f"the model's output layer has {output_layer.get_dim('nO')} labels"
                    )
                )
        self.model.initialize(X=sample)
        logger.info(
            "%s: %d labels, %s type pairs, functional: %s",
            self.name,
            len(self.labels),
            "any" if self.cfg["type_pairs"] is None else len(self.cfg["type_pairs"]),
            ", ".join(self.functional_labels) or "none",
        )

    def _gold_matrix(self, examples: Iterable[Example], n_rows: int) -> Tuple[numpy.ndarray, numpy.ndarray]:
        """Targets ``(n_rows, n_labels)`` and a positive-row mask for the examples' candidate pairs."""
        label_index = {label: i for i, label in enumerate(self.labels)}
        truths = numpy.zeros((n_rows, len(self.labels)), dtype="float32")
        row = 0
        for eg in examples:
            gold: Dict[Tuple[int, int, int, int], List[int]] = {}
            for record in getattr(eg.reference._, RELATIONS_ATTR) or []:
                if record["label"] in label_index:
                    gold.setdefault(pair_key(record), []).append(label_index[record["label"]])
            ents, heads, tails = self.candidates.pairs(eg.predicted, self.name)
            if gold:
                spans = [(e.start_char, e.end_char) for e in ents]
                for k, (h, t) in enumerate(zip(heads.tolist(), tails.tolist(), strict=True)):
                    cols = gold.get(spans[h] + spans[t])
                    if cols:
                        truths[row + k, cols] = 1.0
            row += len(heads)
        if row != n_rows:
            raise RelationError(
                RelationErrors.E508.format(
                    name="scores", value=n_rows, reason=f"the model returned {n_rows} rows for {row} candidate pairs"
                )
            )
        return truths, truths.sum(axis=1) > 0

    def get_loss(self, examples: Iterable[Example], scores: Floats2d) -> Tuple[float, Floats2d]:
        """Binary cross-entropy over the candidate pairs; negatives subsampled by ``negative_rate``.

        Gold pairs that are not candidates cannot be learned here; the scorer counts them as misses.
        """
        examples = list(examples)
        ops = self.model.ops
        scores_np = ops.to_numpy(scores)
        truths, positive = self._gold_matrix(examples, scores_np.shape[0])
        keep = numpy.ones((truths.shape[0],), dtype="float32")
        rate = self.cfg["negative_rate"]
        if rate < 1.0:
            keep = numpy.where(positive | (numpy.random.random_sample(truths.shape[0]) < rate), 1.0, 0.0).astype("float32")
        n_kept = max(float(keep.sum()), 1.0)
        d_scores = (scores_np - truths) * keep[:, None] / n_kept
        eps = 1e-7
        clipped = numpy.clip(scores_np, eps, 1 - eps)
        bce = -(truths * numpy.log(clipped) + (1 - truths) * numpy.log(1 - clipped)).sum(axis=1)
        loss = float((bce * keep).sum() / n_kept)
        return loss, ops.asarray2f(d_scores.astype("float32"))

    def update(
        self,
        examples: Iterable[Example],
        *,
        drop: float = 0.0,
        sgd: Optional[Optimizer] = None,
        losses: Optional[Dict[str, float]] = None,
    ) -> Dict[str, float]:
        if losses is None:
            losses = {}
        losses.setdefault(self.name, 0.0)
        examples = list(examples)
        validate_examples_have_docs(examples)
        self._check_initialized()
        if not self._warned_no_ents and examples:
            if not any(self.candidates.entities(eg.predicted) for eg in examples) and any(
                getattr(eg.reference._, RELATIONS_ATTR) for eg in examples
            ):
                warnings.warn(RelationWarnings.W501.format(name=self.name), stacklevel=2)
                self._warned_no_ents = True
        docs = [eg.predicted for eg in examples]
        scores, backprop = self.model.begin_update(docs)
        loss, d_scores = self.get_loss(examples, scores)
        backprop(d_scores)
        if sgd is not None:
            self.finish_update(sgd)
        losses[self.name] += loss
        return losses

    # -- prediction --------------------------------------------------------------------
    def predict(self, docs: Iterable[Doc]) -> Floats2d:
        self._check_initialized()
        # Only docs with candidate pairs have rows: the others need no token vectors (a long
        # note with one entity, e.g. "no no ... fever", would cost its whole tok2vec pass)
        docs = [doc for doc in docs if len(doc) and len(self.candidates.pairs(doc, self.name)[1])]
        if not docs:
            return self.model.ops.alloc2f(0, len(self.labels))
        return predict_in_blocks(self.model, docs)

    def set_annotations(self, docs: Iterable[Doc], scores: Floats2d) -> None:
        scores_np = self.model.ops.to_numpy(scores)
        threshold = self.threshold
        labels = self.labels
        functional = {labels.index(label) for label in self.functional_labels if label in labels}
        row = 0
        for doc in docs:
            ents, heads, tails = self.candidates.pairs(doc, self.name)
            n = len(heads)
            block = scores_np[row : row + n]
            row += n
            records = []
            rows, cols = numpy.nonzero(block >= threshold)
            best: Dict[Tuple[int, int], int] = {}  # (head entity, functional label column) -> best pair row
            for k, c in zip(rows.tolist(), cols.tolist(), strict=True):
                if c in functional:
                    key = (heads[k], c)
                    if key not in best or block[k, c] > block[best[key], c]:
                        best[key] = k
                    continue
                records.append(make_record(ents[heads[k]], ents[tails[k]], labels[c], float(block[k, c])))
            for (h, c), k in best.items():
                records.append(make_record(ents[h], ents[tails[k]], labels[c], float(block[k, c])))
            records.sort(key=lambda r: (pair_key(r), r["label"]))
            setattr(doc._, RELATIONS_ATTR, records)

    # -- serialization: labels and the type-pair whitelist travel in cfg; the settings come from
    # the config (spacy.load(path, config={"components.<name>.threshold": 0.7}) works) ----------
    def from_bytes(self, bytes_data: bytes, *, exclude: Iterable[str] = tuple()) -> "RelationExtractor":
        super().from_bytes(bytes_data, exclude=exclude)
        self.cfg.update(self._settings)
        self._sync_candidates()
        return self

    def from_disk(self, path, *, exclude: Iterable[str] = tuple()) -> "RelationExtractor":
        super().from_disk(path, exclude=exclude)
        self.cfg.update(self._settings)
        self._sync_candidates()
        return self


def _check_labels(labels: Optional[Sequence[str]]) -> Optional[List[str]]:
    if labels is None:
        return None
    if isinstance(labels, str) or not all(isinstance(label, str) and label for label in labels):
        raise RelationError(
            RelationErrors.E508.format(name="functional_labels", value=labels, reason="must be a list of label names or null")
        )
    return list(dict.fromkeys(labels))


def validate_examples_have_docs(examples: List[Example]) -> None:
    from spacy.training import validate_examples

    validate_examples(examples, "RelationExtractor.update")
