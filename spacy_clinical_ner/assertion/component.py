"""``clinical_assertion``: a trainable assertion classifier that uses ConText as features.

ConText's rules are precise but brittle on text they were not written on (cues, scopes and
entity types differ between discharge summaries, case reports and visit notes). This
component learns the assertion attributes from gold annotation, with ConText's output for
the span – which rule fired, its category, side and distance – among its features, plus the
words around and inside the span, the section and, optionally, a tok2vec/transformer path
(see :mod:`.model`).

Two architectures:

* ``AssertionClassifier.v2`` (the default): one sigmoid per attribute – ``is_negated``,
  ``is_uncertain``, ``is_hypothetical``, ``conditional`` (the i2b2 class; it sets
  ``span._.assertion = "conditional"`` through a ``CONDITIONAL_EXISTENCE`` record),
  ``is_historical`` and ``is_family`` – trained on MACCROBAT ``POLARITY`` and on the visit
  notes' attributes (``configs/context_assertion.cfg``). An attribute a document's corpus does
  not annotate (MACCROBAT: hypothetical, conditional, historical, family) is masked out of its
  loss (the reference docs say which BRAT attribute types they annotate, see
  :func:`spacy_clinical_ner.context.scorer.brat_attribute_types`);
* ``AssertionClassifier.v1``: the earlier softmax over ``present``/``negated``/``uncertain``
  (pipelines saved with it load and run unchanged).

It decides the attributes listed in ``decide``; the others keep ConText's rule decisions
(without the component, the rules alone are the pipeline's assertions). Where a rule asserted
the attribute, the classifier overrules it only below ``veto_threshold``; where no rule did, it
asserts from ``threshold`` up. Both are set per attribute (a number for all, or a dict with
``"*"`` for the rest); the defaults come from out-of-fold predictions of a 4-fold
cross-validation over the train documents (``benchmarks/assertion_eval.py --tune-cv 4``;
for v1 negation 0.6 / 0.2 came from benchmarks/results/context_assertion_cv.md).
The cue record stays explained:

* the classifier agrees with a rule → the rule's cue record, with ``"score"`` added;
* it negates without a rule → a record with ``"source": "classifier"``, the word whose
  learned weight pushed most towards the decision as ``text``/``start``/``end`` and
  the feature in ``rule`` (e.g. ``"classifier:L1=no"``);
* it overrules a rule → the rule's record stays, marked ``"overruled": true``.

The ConText component is looked up by name (``context``); it must be in the same
pipeline, before this one. Training reads instances from the *reference* entities
(aligned onto the predicted tokens), so it works in a standalone pipeline and next to
an NER model alike; at run time it classifies the predicted entities.
"""

from bisect import bisect_right
from itertools import islice
from typing import Any, Callable, Dict, Iterable, List, Sequence, Tuple

import numpy
from spacy.language import Language
from spacy.pipeline import TrainablePipe
from spacy.strings import hash_string
from spacy.tokens import Doc, Span
from spacy.training import Example, validate_examples, validate_get_examples
from spacy.vocab import Vocab
from thinc.api import Config, Model, Optimizer
from thinc.types import Floats2d

from ..context.attributes import (
    ATTR_CATEGORY,
    BOOL_ATTRS,
    CONDITIONAL,
    assertion_class,
    category_rank,
    install_context_extensions,
    write_span_values,
)
from ..context.component import MACCROBAT_NON_EVENT_LABELS, ClinicalContext, strip_cue
from ..context.errors import ContextErrors, ContextRuleError
from ..context.scorer import POLARITY_GOLD, gold_values, score_context
from ..errors import Errors
from .model import AssertionBatch, Instance

#: AssertionClassifier.v1: softmax classes.
LABELS = ("present", "negated", "uncertain")
LABEL_ATTR = {"negated": "is_negated", "uncertain": "is_uncertain"}
ATTR_LABEL = {v: k for k, v in LABEL_ATTR.items()}
#: AssertionClassifier.v2: one sigmoid output per attribute.
MULTI_LABELS = ("is_negated", "is_uncertain", "is_hypothetical", CONDITIONAL, "is_historical", "is_family")
CATEGORY_OF = {**ATTR_CATEGORY, CONDITIONAL: "CONDITIONAL_EXISTENCE"}
#: What ``decide`` holds by default: the attributes where rules + classifier scored better than the
#: rules alone on the dev sets that annotate them, pooled (visit notes dev, MACCROBAT dev, the NegEx
#: kit's dev half; benchmarks/results/assertion_classifier.md). Historical and family lose on the
#: NegEx sentences, conditional gains nothing: they keep the rules unless ``decide`` names them.
DEFAULT_DECIDE = ["is_negated", "is_uncertain", "is_hypothetical"]
#: Decision thresholds per attribute, from out-of-fold predictions of a 4-fold cross-validation on
#: the train documents of both corpora (benchmarks/assertion_eval.py --tune-cv 4): without a rule
#: the classifier asserts from ``threshold`` up; a rule's decision stands unless the classifier's
#: probability falls below ``veto_threshold``.
DEFAULT_THRESHOLD = {
    "is_negated": 0.3,
    "is_uncertain": 0.6,
    "is_hypothetical": 0.3,
    CONDITIONAL: 0.5,
    "is_historical": 0.3,
    "is_family": 0.3,
}
DEFAULT_VETO = {
    "is_negated": 0.2,
    "is_uncertain": 0.05,
    "is_hypothetical": 0.05,
    CONDITIONAL: 0.15,
    "is_historical": 0.2,
    "is_family": 0.15,
}
WINDOW_WORDS = 6

DEFAULT_MODEL_CONFIG = """
[model]
@architectures = "spacy-clinical-ner.AssertionClassifier.v2"
tok2vec = null
length = 262144
window = 6
hidden_width = 64
dropout = 0.1
"""
DEFAULT_MODEL = Config().from_str(DEFAULT_MODEL_CONFIG)["model"]


def _bucket(distance: int) -> str:
    if distance <= 2:
        return str(distance)
    return "3-4" if distance <= 4 else "5-8" if distance <= 8 else "9+"


class ClinicalAssertion(TrainablePipe):
    """Learned negation/uncertainty over entities, with ConText's cues as features."""

    def __init__(
        self,
        vocab: Vocab,
        model: Model,
        name: str = "clinical_assertion",
        *,
        nlp: Language | None = None,
        context: str | None = "clinical_context",
        spans_key: str | None = None,
        include_ents: bool = True,
        ignored_labels: Iterable[str] | None = MACCROBAT_NON_EVENT_LABELS,
        threshold: float | Dict[str, float] = 0.6,
        veto_threshold: float | Dict[str, float] = 0.2,
        decide: Sequence[str] = tuple(DEFAULT_DECIDE),
        scorer: Callable | None = None,
    ):
        install_context_extensions()
        multilabel = bool(model.attrs.get("multilabel"))
        allowed = MULTI_LABELS if multilabel else tuple(LABEL_ATTR.values())
        bad = [a for a in decide if a not in allowed]
        if bad:
            raise ContextRuleError(
                ContextErrors.E304.format(name=name, reason=f"decide may hold {list(allowed)} with this model, not {bad}")
            )
        for key, setting in (("threshold", threshold), ("veto_threshold", veto_threshold)):
            per_attr = setting if isinstance(setting, dict) else {"*": setting}
            unknown = sorted(set(per_attr) - {"*", *MULTI_LABELS})
            if unknown:
                raise ContextRuleError(ContextErrors.E304.format(name=name, reason=f"{key} names no attribute of this model: {unknown}"))
            for value in per_attr.values():
                if not 0.0 <= value <= 1.0:
                    raise ContextRuleError(ContextErrors.E304.format(name=name, reason=f"{key} must lie in [0, 1], not {value}"))
        if spans_key is None and not include_ents:
            raise ContextRuleError(ContextErrors.E304.format(name=name, reason="no targets: set spans_key or include_ents = true"))
        self.vocab = vocab
        self.model = model
        self.name = name
        self._nlp = nlp
        self.scorer = scorer
        self.cfg: Dict[str, Any] = {
            "labels": list(MULTI_LABELS if multilabel else LABELS),
            "context": context,
            "spans_key": spans_key,
            "include_ents": include_ents,
            "ignored_labels": sorted(ignored_labels or ()),
            "threshold": threshold,
            "veto_threshold": veto_threshold,
            "decide": list(decide),
        }
        # What the config sets: a saved cfg does not override it (spacy.load(..., config=...) works).
        self._settings = {k: v for k, v in self.cfg.items() if k != "labels"}

    def from_bytes(self, bytes_data: bytes, *, exclude: Iterable[str] = tuple()) -> "ClinicalAssertion":
        super().from_bytes(bytes_data, exclude=exclude)
        self.cfg.update(self._settings)
        return self

    def from_disk(self, path, *, exclude: Iterable[str] = tuple()) -> "ClinicalAssertion":
        super().from_disk(path, exclude=exclude)
        self.cfg.update(self._settings)
        return self

    # ------------------------------------------------------------------ helpers
    @property
    def labels(self) -> Tuple[str, ...]:
        return tuple(self.cfg["labels"])

    @property
    def multilabel(self) -> bool:
        """Whether the model gives one sigmoid per attribute (v2) or a softmax over classes (v1)."""
        return bool(self.model.attrs.get("multilabel"))

    @property
    def context(self) -> ClinicalContext | None:
        name = self.cfg["context"]
        if not name:
            return None
        if self._nlp is None or name not in self._nlp.component_names:
            raise ContextRuleError(
                ContextErrors.E308.format(name=self.name, context=name, available=list(self._nlp.component_names) if self._nlp else [])
            )
        return self._nlp.get_pipe(name)

    def _targets(self, doc: Doc) -> List[Span]:
        spans: List[Span] = []
        key = self.cfg["spans_key"]
        if key is not None and key in doc.spans:
            spans.extend(doc.spans[key])
        if self.cfg["include_ents"]:
            spans.extend(doc.ents)
        ignored = set(self.cfg["ignored_labels"])
        seen = set()
        out = []
        for span in spans:
            sig = (span.start, span.end, span.label)
            if sig in seen or span.label_ in ignored or not len(span):
                continue
            seen.add(sig)
            out.append(span)
        return out

    def features(self, span: Span, cues: List[dict], sent: Tuple[int, int], others: Sequence[Span] = ()) -> List[Tuple[str, int | None]]:
        """Feature strings for one span, each with the token it stems from (or None).

        ``others``: the doc's other entities (all labels, e.g. a ``Date`` next to a past event);
        v2 models read the labels of those in the span's sentence."""
        doc = span.doc
        label = span.label_
        feats: List[Tuple[str, int | None]] = [("bias", None), (f"lab={label}", None)]
        for cue in cues:
            cue_tok = doc.char_span(cue["start"], cue["end"], alignment_mode="expand") if cue["end"] > cue["start"] else None
            anchor = cue_tok.start if cue_tok is not None else None
            cat, rule = cue["category"], cue["rule"]
            feats += [
                (f"cue={rule}", anchor),
                (f"cat={cat}", anchor),
                (f"cat_lab={cat}|{label}", anchor),
                (f"rule_lab={rule}|{label}", anchor),
                (f"cat_side={cat}|{cue.get('side', '?')}|{_bucket(int(cue.get('distance', 0)))}", anchor),
            ]
        if not cues:
            feats.append(("nocue", None))
        s_start, s_end = sent
        if self.multilabel:
            # v2 only (v1 models were trained without these): section, sentence shape
            section = span._.clinical_section if Span.has_extension("clinical_section") else None
            n = s_end - s_start
            feats += [
                (f"sec={section}", None),
                (f"sec_lab={section}|{label}", None),
                (f"sentlen={_bucket(n) if n < 9 else '9-16' if n <= 16 else '17+'}", None),
            ]
            for i in range(max(s_start, span.start - 24), max(s_start, span.start - WINDOW_WORDS)):
                feats.append((f"Lfar={doc[i].lower_}", i))
            seen = set()
            for other in others:
                if s_start <= other.start < s_end and (other.start, other.end) != (span.start, span.end):
                    side = "L" if other.end <= span.start else "R" if other.start >= span.end else "O"
                    if (other.label_, side) not in seen:
                        seen.add((other.label_, side))
                        feats.append((f"sent_ent={other.label_}|{side}", other.start))
        for k in range(1, WINDOW_WORDS + 1):
            i = span.start - k
            if i >= s_start:
                word = doc[i].lower_
                feats += [(f"L{min(k, 4)}={word}", i), (f"Lbag={word}", i)]
            j = span.end - 1 + k
            if j < s_end:
                word = doc[j].lower_
                feats += [(f"R{min(k, 4)}={word}", j), (f"Rbag={word}", j)]
        for t in span[:8]:
            feats.append((f"in={t.lower_}", t.i))
        return feats

    def _instances(
        self, doc: Doc, spans: List[Span]
    ) -> Tuple[List[Instance], List[Tuple[Dict[str, bool], List[dict]]], List[List[Tuple[str, int | None]]]]:
        context = self.context
        # what ConText found when it annotated this Doc (run again only for other spans)
        analysed = context.analysis(doc, spans) if context is not None else [({}, []) for _ in spans]
        if context is not None:
            starts = context.sentence_starts(doc)
        else:
            starts = [s.start for s in doc.sents] if doc.has_annotation("SENT_START") else [0]
        instances, feats_all = [], []
        others: List[Span] = []
        if self.multilabel:
            key = self.cfg["spans_key"]
            others = sorted(
                {(s.start, s.end, s.label_): s for s in [*(doc.spans[key] if key in doc.spans else ()), *doc.ents]}.values(),
                key=lambda s: s.start,
            )
        for span, (_, cues) in zip(spans, analysed, strict=True):
            k = max(bisect_right(starts, span.start) - 1, 0)
            sent = (starts[k], starts[k + 1] if k + 1 < len(starts) else len(doc))
            feats = self.features(span, cues, sent, others)
            keys = numpy.asarray([hash_string(f) for f, _ in feats], dtype="uint64")
            instances.append(Instance(span.start, span.end, keys))
            feats_all.append(feats)
        return instances, analysed, feats_all

    # ------------------------------------------------------------------ prediction
    def _require_initialized(self) -> None:
        linear = self.model.get_ref("sparse").layers[-1]
        if not linear.has_param("W"):
            raise ContextRuleError(
                Errors.E101.format(
                    name=self.name, hint="train it (spacy train configs/context_assertion.cfg) or call nlp.initialize() with examples"
                )
            )

    def predict(self, docs: Iterable[Doc]):
        self._require_initialized()
        docs = list(docs)
        per_doc = []
        for doc in docs:
            spans = self._targets(doc)
            per_doc.append((spans, *self._instances(doc, spans)))
        batch = AssertionBatch(docs, [p[1] for p in per_doc])
        if not any(batch.instances):
            return per_doc, self.model.ops.alloc2f(0, len(self.labels))
        return per_doc, self.model.predict(batch)

    def set_annotations(self, docs: Iterable[Doc], scores) -> None:
        per_doc, probs = scores
        probs = self.model.ops.to_numpy(probs)
        row = 0
        for doc, (spans, _, analysed, feats_all) in zip(docs, per_doc, strict=True):
            for span, (values, cues), feats in zip(spans, analysed, feats_all, strict=True):
                p = probs[row]
                row += 1
                values = dict(values)
                cues = [dict(c) for c in cues]
                decided_true = set()
                for attr in self.decided:
                    score = float(p[self.labels.index(self._label_of(attr))])
                    own = [c for c in cues if self._supports(c, attr)]
                    by_rule = bool(own) if attr == CONDITIONAL else bool(values.get(attr))
                    # A rule's decision stands unless the classifier is confident it is
                    # wrong; without a rule the classifier must be confident to assert.
                    limit = self._limit("veto_threshold" if by_rule else "threshold", attr)
                    decided = score >= limit
                    if attr != CONDITIONAL:
                        values[attr] = decided
                    for c in own:
                        c["score"] = round(score, 4)
                        if not decided:
                            c["overruled"] = True
                    if decided:
                        decided_true.add(attr)
                        if not own:
                            cues.insert(0, self._explain(doc, feats, attr, score))
                active = [c for c in cues if not c.get("overruled")]
                # the cue that decides the assertion class first: those supporting a decision
                # that holds, by ConText's category priority (family > hypothetical > ...)
                active.sort(key=lambda c: (0 if self._holds(c, values, decided_true) else 1, category_rank(c["category"])))
                cues = active + [c for c in cues if c.get("overruled")]
                assertion = assertion_class(values, [c["category"] for c in active])
                write_span_values(doc, span.start_char, span.end_char, values, assertion, [strip_cue(c) for c in cues])

    @property
    def decided(self) -> List[str]:
        """``decide`` less the attributes no training document annotated (v2): an output that never
        saw a gold value says nothing, so those attributes keep the rules."""
        trained = self.cfg.get("trained")
        if not self.multilabel or trained is None:
            return list(self.cfg["decide"])
        return [a for a in self.cfg["decide"] if a in trained]

    def _limit(self, key: str, attr: str) -> float:
        """``threshold`` / ``veto_threshold`` for ``attr``: one number for all, or per attribute
        (``{"is_historical": 0.4, "*": 0.6}``; ``"*"`` or the factory default for the rest)."""
        setting = self.cfg[key]
        if not isinstance(setting, dict):
            return float(setting)
        return float(setting.get(attr, setting.get("*", 0.6 if key == "threshold" else 0.2)))

    def _label_of(self, attr: str) -> str:
        return attr if self.multilabel else ATTR_LABEL[attr]

    @staticmethod
    def _supports(cue: dict, attr: str) -> bool:
        """Whether a cue record asserts ``attr`` (a conditional cue has no boolean attribute)."""
        if attr == CONDITIONAL:
            return cue.get("category") == "CONDITIONAL_EXISTENCE"
        return cue.get("attribute") == attr

    @staticmethod
    def _holds(cue: dict, values: Dict[str, bool], decided: set) -> bool:
        if cue.get("category") == "CONDITIONAL_EXISTENCE":
            return True
        attr = cue.get("attribute")
        return bool(attr in values and values.get(attr)) or attr in decided

    def _explain(self, doc: Doc, feats: List[Tuple[str, int | None]], attr: str, score: float) -> dict:
        """The feature (and its word) whose weight pushed most towards ``attr``."""
        sparse = self.model.get_ref("sparse")
        linear = sparse.layers[-1]
        best: Tuple[float, str, int | None] = (-1e9, "", None)
        if linear.has_param("W"):
            W = self.model.ops.to_numpy(linear.get_param("W"))
            length = linear.get_dim("length")
            W = W.reshape((len(self.labels), length)) if W.ndim == 1 else W
            c_label = self.labels.index(self._label_of(attr))
            for feat, tok in feats:
                if tok is None and not feat.startswith(("cue=", "cat", "sec")):
                    continue
                idx = hash_string(feat) % length
                # v2: the feature's logit for the attribute; v1: against "present"
                push = float(W[c_label, idx]) if self.multilabel else float(W[c_label, idx] - W[self.labels.index("present"), idx])
                if push > best[0]:
                    best = (push, feat, tok)
        _, feat, tok = best
        token = doc[tok] if tok is not None else None
        return {
            "text": token.text if token is not None else "",
            "start": token.idx if token is not None else 0,
            "end": token.idx + len(token) if token is not None else 0,
            "category": CATEGORY_OF[attr],
            "rule": f"classifier:{feat}" if feat else f"classifier:{self.name}",
            "direction": "CLASSIFIER",
            "attribute": None if attr == CONDITIONAL else attr,
            "source": "classifier",
            "score": round(score, 4),
        }

    # ------------------------------------------------------------------ training
    def _gold_batch(self, examples: Iterable[Example]) -> Tuple[AssertionBatch, numpy.ndarray, numpy.ndarray]:
        """The instances, their gold rows and (v2) a mask: 1 where the corpus annotates the attribute."""
        docs, instances, truths, masks = [], [], [], []
        n_labels = len(self.labels)
        for eg in examples:
            ref, pred = eg.reference, eg.predicted
            ref_spans = self._targets(ref)
            gold, can = gold_values(ref, ref_spans, POLARITY_GOLD)
            mask = numpy.asarray([1.0 if (label in can or not self.multilabel) else 0.0 for label in self.labels], dtype="float32")
            spans = []
            for span in ref_spans:
                mapped = pred.char_span(span.start_char, span.end_char, label=span.label_, alignment_mode="expand")
                if mapped is None or not len(mapped):
                    continue
                values = gold.get((span.start_char, span.end_char), {})
                row = numpy.zeros(n_labels, dtype="float32")
                if self.multilabel:
                    for j, label in enumerate(self.labels):
                        row[j] = 1.0 if values.get(label) else 0.0
                else:
                    label = "negated" if values.get("is_negated") else "uncertain" if values.get("is_uncertain") else "present"
                    row[self.labels.index(label)] = 1.0
                truths.append(row)
                masks.append(mask)
                spans.append(mapped)
            inst, _, _ = self._instances(pred, spans)
            docs.append(pred)
            instances.append(inst)
        truth = numpy.vstack(truths) if truths else numpy.zeros((0, n_labels), dtype="float32")
        masked = numpy.vstack(masks) if masks else numpy.zeros((0, n_labels), dtype="float32")
        return AssertionBatch(docs, instances), truth, masked

    def update(
        self,
        examples: Iterable[Example],
        *,
        drop: float = 0.0,
        sgd: Optimizer | None = None,
        losses: Dict[str, float] | None = None,
    ) -> Dict[str, float]:
        losses = {} if losses is None else losses
        losses.setdefault(self.name, 0.0)
        examples = list(examples)
        validate_examples(examples, "ClinicalAssertion.update")
        batch, truth, mask = self._gold_batch(examples)
        if not len(truth):
            return losses
        self._note_trained(mask)
        probs, backprop = self.model.begin_update(batch)
        loss, d_probs = self.get_loss(examples, (probs, truth, mask))
        backprop(d_probs)
        if sgd is not None:
            self.finish_update(sgd)
        losses[self.name] += loss
        return losses

    def _note_trained(self, mask: numpy.ndarray) -> None:
        if self.multilabel and len(mask):
            seen = {label for j, label in enumerate(self.labels) if mask[:, j].any()}
            self.cfg["trained"] = [a for a in self.labels if a in seen or a in self.cfg.get("trained", ())]

    def get_loss(self, examples: Iterable[Example], scores) -> Tuple[float, Floats2d]:
        """Cross-entropy: softmax over the classes (v1), or per attribute with a sigmoid and the
        corpus mask (v2: an attribute the document's corpus does not annotate adds no loss)."""
        probs, truth, *rest = scores
        xp = self.model.ops.xp
        truth = self.model.ops.asarray2f(truth)
        n = max(len(truth), 1)
        if not self.multilabel:
            d_probs = probs - truth  # softmax + cross-entropy
            loss = float(-(truth * xp.log(probs + 1e-9)).sum())
            return loss / n, d_probs / n
        mask = self.model.ops.asarray2f(rest[0]) if rest else self.model.ops.alloc2f(*truth.shape) + 1.0
        d_probs = (probs - truth) * mask  # sigmoid + binary cross-entropy, w.r.t. the logits
        loss = float(-(mask * (truth * xp.log(probs + 1e-9) + (1 - truth) * xp.log(1 - probs + 1e-9))).sum())
        return loss / n, d_probs / n

    def initialize(self, get_examples: Callable[[], Iterable[Example]], *, nlp: Language | None = None) -> None:
        validate_get_examples(get_examples, "ClinicalAssertion.initialize")
        if nlp is not None:
            self._nlp = nlp
        self.context  # noqa: B018 - fail early (E308) if the ConText component is missing
        for node in self.model.walk():
            if node.name in ("sparse_linear", "linear") and node.has_dim("nO") is None:
                node.set_dim("nO", len(self.labels))
        sample = list(islice(get_examples(), 10))
        batch, truth, mask = self._gold_batch(sample)
        self.cfg.pop("trained", None)  # a fresh model
        self._note_trained(mask)
        if not len(truth):
            raise ContextRuleError(
                ContextErrors.E309.format(name=self.name, key=self.cfg["spans_key"], ignored=len(self.cfg["ignored_labels"]))
            )
        self.model.initialize(X=batch, Y=self.model.ops.asarray2f(truth))
        if self.multilabel:
            # Start each output between its veto and assert thresholds: an untrained (or barely
            # trained) output neither asserts nor overrules anything, the rules decide.
            linear = self.model.get_ref("sparse").layers[-1]
            start = numpy.asarray([(self._limit("threshold", a) + self._limit("veto_threshold", a)) / 2 for a in self.labels])
            start = numpy.clip(start, 0.01, 0.99)
            linear.set_param("b", self.model.ops.asarray1f(numpy.log(start / (1 - start)).astype("float32")))

    def score(self, examples: Iterable[Example], **kwargs) -> Dict[str, Any]:
        scorer = self.scorer or score_context
        kwargs.setdefault("spans_key", self.cfg["spans_key"])
        kwargs.setdefault("include_ents", self.cfg["include_ents"])
        return scorer(examples, **kwargs)

    def add_label(self, label: str) -> int:
        raise ContextRuleError(
            ContextErrors.E304.format(name=self.name, reason=f"the labels are fixed ({', '.join(self.labels)}); cannot add {label!r}")
        )


@Language.factory(
    "clinical_assertion",
    assigns=[f"span._.{a}" for a in BOOL_ATTRS] + ["span._.assertion", "span._.context_cues"],
    requires=["doc.ents"],
    default_config={
        "model": DEFAULT_MODEL,
        "context": "clinical_context",
        "spans_key": None,
        "include_ents": True,
        "ignored_labels": list(MACCROBAT_NON_EVENT_LABELS),
        "threshold": DEFAULT_THRESHOLD,
        "veto_threshold": DEFAULT_VETO,
        "decide": DEFAULT_DECIDE,
        "scorer": {"@scorers": "spacy-clinical-ner.context_scorer.v1"},
    },
    default_score_weights={
        "context_negated_f": 1.0,
        "context_negated_p": 0.0,
        "context_negated_r": 0.0,
        "context_uncertain_f": 0.0,
    },
)
def make_clinical_assertion(
    nlp: Language,
    name: str,
    model: Model,
    context: str | None,
    spans_key: str | None,
    include_ents: bool,
    ignored_labels: List[str] | None,
    threshold: float | Dict[str, float],
    veto_threshold: float | Dict[str, float],
    decide: List[str],
    scorer: Callable | None,
) -> ClinicalAssertion:
    """Trainable negation/uncertainty classifier using ConText's cues as features."""
    return ClinicalAssertion(
        nlp.vocab,
        model,
        name,
        nlp=nlp,
        context=context,
        spans_key=spans_key,
        include_ents=include_ents,
        ignored_labels=ignored_labels,
        threshold=threshold,
        veto_threshold=veto_threshold,
        decide=decide,
        scorer=scorer,
    )
