"""``clinical_entity_confidence``: a calibrated confidence on every entity of ``doc.ents``.

Runs after the ``ner`` it scores and reads the contextual token vectors its ``tok2vec`` left in
``doc.tensor`` (no second tok2vec pass). Two raw scores are available (``method``):

- ``"greedy"`` (default): the NER's transition system is replayed along the entities it output, and at
  each step the model's scores over the *valid* actions are turned into a softmax. An entity's raw score
  is the product of the probabilities of its own actions (``B- I- ... L-`` or ``U-``): how sure the
  model was, token by token, of the very decision it made.
- ``"beam"``: the beam marginal (``Parser.beam_parse`` over each sentence, ``EntityRecognizer.scored_ents``),
  the summed probability of the beam parses that contain exactly that entity. The stock NER is trained
  greedily, so its unnormalised path scores favour other, often longer spans: on the notes dev set
  the beam marginal separates right from wrong entities far less well (ROC AUC 0.64 against 0.8 for the
  greedy product; benchmarks/results/confidence.md).

The raw score is mapped to a probability of being right by a monotone (isotonic) calibration fitted
on held-out predictions (``fit_calibration``; ``spacy-clinical-ner calibrate-confidence``) and saved
with the component. The result is ``span._.confidence`` in [0, 1], stored in ``doc.user_data`` by
offsets like every span extension, so it survives ``DocBin`` and ``nlp.pipe(n_process=...)``.

Entities the NER did not find but a rule component added (a stock ``entity_ruler``: their ``ent_id_`` is
set) have no model score: they get the measured precision of such entities (``calibration["dictionary"]``).

``threshold`` drops entities below that confidence from ``doc.ents``: one setting that trades
recall for precision (0, the default, keeps every entity).
"""

from pathlib import Path
from typing import Dict, Iterable, List, Optional, Sequence, Tuple

import numpy as np
import srsly
from spacy.language import Language
from spacy.pipeline import Pipe
from spacy.tokens import Doc, Span
from spacy.util import ensure_path, minibatch

CONFIDENCE_ATTR = "confidence"
BLOCKED = "U-"  # the transition system's name for "this token is no entity, fixed beforehand"


def install_extensions() -> None:
    if not Span.has_extension(CONFIDENCE_ATTR):
        Span.set_extension(CONFIDENCE_ATTR, default=None)


def isotonic_fit(scores: Sequence[float], correct: Sequence[int]) -> Tuple[List[float], List[float]]:
    """Pool-adjacent-violators: a non-decreasing step map from raw score to the fraction correct.

    Returns breakpoints ``(x, y)`` for ``np.interp``; ``x`` are the block means of the raw scores. Each
    block's rate is Laplace-smoothed (``(right + 1) / (n + 2)``, then made non-decreasing again), so that a
    top block with no error seen says "0.99", not "certain".
    """
    order = np.argsort(np.asarray(scores, dtype=float), kind="mergesort")
    xs = np.asarray(scores, dtype=float)[order]
    ys = np.asarray(correct, dtype=float)[order]
    blocks: List[List[float]] = []  # [sum_y, sum_x, n]
    for x, y in zip(xs, ys):
        blocks.append([y, x, 1.0])
        while len(blocks) > 1 and blocks[-2][0] / blocks[-2][2] >= blocks[-1][0] / blocks[-1][2]:
            y2, x2, n2 = blocks.pop()
            blocks[-1][0] += y2
            blocks[-1][1] += x2
            blocks[-1][2] += n2
    bx = [b[1] / b[2] for b in blocks]
    by = np.maximum.accumulate([(b[0] + 1.0) / (b[2] + 2.0) for b in blocks]).tolist()
    return bx, by


def roc_auc(scores: Sequence[float], correct: Sequence[int]) -> float:
    """Probability that a right entity scores above a wrong one (ties count half): how well a score ranks."""
    s = np.asarray(scores, dtype="f8")
    y = np.asarray(correct, dtype=bool)
    n_pos, n_neg = int(y.sum()), int((~y).sum())
    if not n_pos or not n_neg:
        return float("nan")
    order = np.argsort(s, kind="mergesort")
    ranks = np.empty(len(s))
    sorted_s = s[order]
    # average ranks over ties
    _, first, counts = np.unique(sorted_s, return_index=True, return_counts=True)
    avg = first + (counts + 1) / 2.0
    ranks[order] = np.repeat(avg, counts)
    return float((ranks[y].sum() - n_pos * (n_pos + 1) / 2.0) / (n_pos * n_neg))


def expected_calibration_error(confidences: Sequence[float], correct: Sequence[int], n_bins: int = 10) -> float:
    conf = np.asarray(confidences, dtype=float)
    corr = np.asarray(correct, dtype=float)
    if not len(conf):
        return 0.0
    bins = np.minimum((conf * n_bins).astype(int), n_bins - 1)
    ece = 0.0
    for b in range(n_bins):
        mask = bins == b
        if mask.any():
            ece += mask.mean() * abs(conf[mask].mean() - corr[mask].mean())
    return float(ece)


class EntityConfidence(Pipe):
    """Beam-marginal entity confidence, calibrated (see the module docstring)."""

    def __init__(
        self,
        nlp: Language,
        name: str = "clinical_entity_confidence",
        *,
        ner: str = "ner",
        method: str = "greedy",
        beam_width: int = 8,
        beam_density: float = 0.0001,
        threshold: float = 0.0,
        batch_size: int = 64,
    ):
        if method not in ("greedy", "beam"):
            raise ValueError(f"[E906] clinical_entity_confidence: method must be 'greedy' or 'beam', got {method!r}")
        if beam_width < 2:
            raise ValueError(f"[E901] clinical_entity_confidence: beam_width must be >= 2, got {beam_width}")
        if not 0.0 <= threshold <= 1.0:
            raise ValueError(f"[E902] clinical_entity_confidence: threshold must lie in [0, 1], got {threshold}")
        self.nlp = nlp
        self.name = name
        self.ner_name = ner
        self.method = method
        self.beam_width = beam_width
        self.beam_density = beam_density
        self.threshold = threshold
        self.batch_size = batch_size
        self.calibration: Optional[Dict[str, List[float]]] = None
        install_extensions()

    @property
    def ner(self):
        try:
            return self.nlp.get_pipe(self.ner_name)
        except KeyError as err:
            raise ValueError(
                f"[E903] clinical_entity_confidence: the pipeline has no component {self.ner_name!r} to score (set ner = ...)"
            ) from err

    def raw_scores(self, docs: Sequence[Doc]) -> List[Dict[Tuple[int, int, str], float]]:
        """Raw scores ``{(start_char, end_char, label): p}`` of the NER's entities of each doc (see ``method``)."""
        return self.greedy_scores(docs) if self.method == "greedy" else self.beam_scores(docs)

    def _reads_doc_tensor(self) -> bool:
        """Whether the NER embeds tokens through a ``Tok2VecListener`` (``doc.tensor``, context already in it)."""
        from spacy.pipeline.tok2vec import Tok2VecListener

        return any(isinstance(node, Tok2VecListener) for node in self.ner.model.walk())

    def greedy_scores(self, docs: Sequence[Doc]) -> List[Dict[Tuple[int, int, str], float]]:
        """Product of the softmax probabilities (over valid actions) of each NER entity's own actions.

        The NER's state features (``ner``'s three context tokens: the next token, and while an entity is open
        its first token and the token before the next one) never reach outside the entity being built. So
        where the NER reads the shared ``doc.tensor`` (a ``Tok2VecListener``: the context is already in each
        token's row) a doc is replayed on its entities' tokens alone, laid end to end with their rows: the
        model sees exactly what it saw in the full doc at each entity step, and the tokens between entities
        cost nothing. An NER with its own embedding layer needs the whole text: there the tokens between
        entities are replayed with the actions the NER took (``O``, or ``U-`` on a blocked name), without
        asking the model.
        """
        ner = self.ner
        moves = ner.moves
        names = [moves.get_class_name(c) for c in range(moves.n_moves)]
        index = {n: c for c, n in enumerate(names)}
        masks: Dict[Tuple[str, bool], np.ndarray] = {}  # (action, on the doc's last token) -> valid actions

        def valid(act: str, at_end: bool) -> np.ndarray:
            key = (act, at_end)
            if key not in masks:
                if act[:2] in ("B-", "U-"):  # any entity may start here, or none ("B-" not on a doc's last token)
                    ok = [n == "O" or n[:2] == "U-" or (n[:2] == "B-" and not at_end) for n in names]
                else:  # the open entity goes on ("I-", not on the last token) or ends
                    ok = [n == "L-" + act[2:] or (n == "I-" + act[2:] and not at_end) for n in names]
                masks[key] = np.asarray(ok, dtype=bool)
            return masks[key]

        entities_only = self._reads_doc_tensor()
        out: List[Dict[Tuple[int, int, str], float]] = [dict() for _ in docs]
        replays: List[Doc] = []
        actions: List[List[str]] = []
        at_ends: List[List[bool]] = []
        owners: List[Tuple[int, List[Tuple[Span, int]]]] = []  # doc index, (entity, its first step)
        for d, doc in enumerate(docs):
            ents = []
            for e in doc.ents:
                if e.ent_id_:  # a rule entity: no model score
                    continue
                if "U-" + e.label_ not in index:  # a label the NER lacks
                    out[d][(e.start_char, e.end_char, e.label_)] = 0.0
                else:
                    ents.append(e)
            if not ents:
                continue
            if entities_only:
                toks = [i for e in ents for i in range(e.start, e.end)]
                acts: List[str] = []
                for e in ents:
                    acts += ["U-" + e.label_] if len(e) == 1 else ["B-" + e.label_] + ["I-" + e.label_] * (len(e) - 2) + ["L-" + e.label_]
                firsts = list(np.cumsum([0] + [len(e) for e in ents[:-1]]))
            else:
                toks = list(range(len(doc)))
                acts = ["O"] * len(doc)
                for span in doc.spans.get("person_names", []):  # the NER's only valid action on a blocked token
                    acts[span.start : span.end] = [BLOCKED] * len(span)
                for e in ents:
                    acts[e.start : e.end] = ["U-" + e.label_] if len(e) == 1 else ["B-" + e.label_] + ["I-" + e.label_] * (len(e) - 2) + ["L-" + e.label_]
                firsts = [e.start for e in ents]
            replay = Doc(doc.vocab, words=[doc[i].text for i in toks], spaces=[bool(doc[i].whitespace_) for i in toks])
            if doc.tensor is not None and doc.tensor.size:
                replay.tensor = doc.tensor[toks]
            if not entities_only and Doc.has_extension("trf_data"):
                replay._.trf_data = doc._.trf_data
            # the NER's own view: no entities, no sentence starts, the name guard's tokens blocked
            blocked = [] if entities_only else [replay[s.start : s.end] for s in doc.spans.get("person_names", [])]
            replay.set_ents([], blocked=blocked, default="missing")
            replays.append(replay)
            actions.append(acts)
            at_ends.append([i + 1 == len(doc) for i in toks])
            owners.append((d, list(zip(ents, firsts))))
        for batch in minibatch(range(len(replays)), size=self.batch_size):
            step = ner.model.predict([replays[i] for i in batch])
            states = moves.init_batch([replays[i] for i in batch])
            probs = {i: np.ones(len(replays[i]), dtype="f") for i in batch}
            stopped = {i: len(replays[i]) for i in batch}  # entities from here on were not replayed: no score
            for t in range(max(len(replays[i]) for i in batch)):
                active = [k for k, i in enumerate(batch) if t < stopped[i]]
                if not active:
                    break
                # the model is asked only where an entity action is taken; other steps just advance the state
                need = [k for k in active if actions[batch[k]][t] not in ("O", BLOCKED)]
                if need:
                    scores = step.predict([states[k] for k in need])
                    acts = [actions[batch[k]][t] for k in need]
                    mask = np.stack([valid(a, at_ends[batch[k]][t]) for a, k in zip(acts, need)])
                    z = np.where(mask, scores, -np.inf)
                    z = np.exp(z - z.max(axis=1, keepdims=True))
                    chosen = z[np.arange(len(need)), [index[a] for a in acts]] / z.sum(axis=1)
                    for k, p in zip(need, chosen):
                        probs[batch[k]][t] = p
                for k in active:
                    try:
                        moves.apply_transition(states[k], actions[batch[k]][t])
                    except ValueError:  # a constraint the NER did not see: stop replaying this doc
                        stopped[batch[k]] = t
            step.clear_memory()
            for i in batch:
                d, ents = owners[i]
                for e, first in ents:
                    if first + len(e) <= stopped[i]:
                        out[d][(e.start_char, e.end_char, e.label_)] = float(np.prod(probs[i][first : first + len(e)]))
        return out

    def beam_scores(self, docs: Sequence[Doc]) -> List[Dict[Tuple[int, int, str], float]]:
        """Beam marginals ``{(start_char, end_char, label): p}`` of each doc, sentence by sentence."""
        ner = self.ner
        out: List[Dict[Tuple[int, int, str], float]] = [dict() for _ in docs]
        pieces: List[Tuple[int, int, Doc]] = []
        for d, doc in enumerate(docs):
            if not doc.ents:
                continue
            for start, end in self._segments(doc):
                piece = doc[start:end].as_doc()
                if doc.tensor is not None and doc.tensor.size:
                    piece.tensor = doc.tensor[start:end]
                # the greedy entities would constrain the beam: unset them, keep blocked tokens blocked
                blocked = [piece[t.i : t.i + 1] for t in piece if t.ent_iob == 3 and t.ent_type == 0]
                piece.set_ents([], blocked=blocked, default="missing")
                pieces.append((d, doc[start].idx, piece))
        for batch in minibatch(pieces, size=self.batch_size):
            beams = ner.beam_parse([p for _, _, p in batch], beam_width=self.beam_width, beam_density=self.beam_density)
            for (d, offset, piece), scores in zip(batch, ner.scored_ents(beams)):
                for (s, e, label), p in scores.items():
                    key = (piece[s].idx + offset, piece[e - 1].idx + len(piece[e - 1].text) + offset, label)
                    out[d][key] = out[d].get(key, 0.0) + float(p)
        return out

    @staticmethod
    def _segments(doc: Doc, max_len: int = 128) -> List[Tuple[int, int]]:
        """Sentence spans (or 128-token windows where no sentences are set) that no entity crosses."""
        if doc.has_annotation("SENT_START"):
            bounds = [(s.start, s.end) for s in doc.sents]
        else:
            bounds = [(i, min(i + max_len, len(doc))) for i in range(0, len(doc), max_len)]
        # merge segments so that no entity is cut
        merged: List[List[int]] = []
        ent_of = {}
        for e in doc.ents:
            for i in range(e.start, e.end):
                ent_of[i] = e
        for s, e in bounds:
            if merged and s in ent_of and ent_of[s].start < s:
                merged[-1][1] = e
            else:
                merged.append([s, e])
        return [(s, e) for s, e in merged if e > s]

    def calibrate(self, raw: float) -> float:
        if not self.calibration:
            return float(min(max(raw, 0.0), 1.0))
        return float(np.interp(raw, self.calibration["x"], self.calibration["y"]))

    def confidence_of(self, ent: Span, scores: Dict[Tuple[int, int, str], float]) -> float:
        raw = scores.get((ent.start_char, ent.end_char, ent.label_))
        # no model score and an ent_id_: added by a rule component, not by the NER
        return self.row_confidence(raw or 0.0, raw is None and bool(ent.ent_id_))

    def row_confidence(self, raw: float, rule: bool) -> float:
        """The calibrated confidence of a raw score, or the dictionary's measured precision for a rule entity."""
        if rule:
            dictionary = (self.calibration or {}).get("dictionary")
            return float(dictionary) if dictionary is not None else 1.0
        return self.calibrate(raw)

    def set_annotations(self, docs: Sequence[Doc], scores: Sequence[Dict[Tuple[int, int, str], float]]) -> None:
        for doc, sc in zip(docs, scores):
            kept = []
            for ent in doc.ents:
                conf = round(self.confidence_of(ent, sc), 4)
                ent._.set(CONFIDENCE_ATTR, conf)
                if conf >= self.threshold:
                    kept.append(ent)
            if len(kept) != len(doc.ents):
                doc.set_ents(kept, default="outside")

    def __call__(self, doc: Doc) -> Doc:
        self.set_annotations([doc], self.raw_scores([doc]))
        return doc

    def pipe(self, stream: Iterable[Doc], batch_size: int = 32) -> Iterable[Doc]:
        for batch in minibatch(stream, size=batch_size):
            self.set_annotations(batch, self.raw_scores(batch))
            yield from batch

    def initialize(self, get_examples=None, *, nlp=None, calibration: Optional[Path] = None) -> None:
        """Read a calibration fitted by ``calibrate-confidence`` (``[initialize.components.<name>] calibration``)."""
        if calibration is not None and str(calibration):
            path = Path(calibration)
            if not path.exists():
                raise FileNotFoundError(
                    f"[E905] clinical_entity_confidence: no calibration file at {path} (spacy project run calibrate-confidence)"
                )
            self.calibration = srsly.read_json(path).get("calibration")

    def fit_calibration(self, predicted: Sequence[Doc], gold: Sequence[Doc]) -> dict:
        """Fit the isotonic map on predicted docs (raw scores recomputed) against gold ``doc.ents`` (exact match)."""
        rows = self.scored_rows(predicted, gold)
        breakpoints = self.fit_rows(rows)
        return {"entities": len(rows), "accuracy": round(float(np.mean([y for _, y, _ in rows])), 4), "breakpoints": breakpoints}

    def fit_rows(self, rows: Sequence[Tuple[float, int, bool]]) -> int:
        """Set the calibration from ``(raw score, right or not, added by a rule)`` rows; returns the number of breakpoints."""
        model_rows = [(x, y) for x, y, rule in rows if not rule]
        rule_rows = [y for _, y, rule in rows if rule]
        if not model_rows:
            raise ValueError("[E904] clinical_entity_confidence: no predicted entities to calibrate on")
        bx, by = isotonic_fit([x for x, _ in model_rows], [y for _, y in model_rows])
        self.calibration = {"method": self.method, "x": [round(v, 6) for v in bx], "y": [round(v, 6) for v in by]}
        if rule_rows:
            self.calibration["dictionary"] = round(float(np.mean(rule_rows)), 4)
        return len(bx)

    def scored_rows(self, predicted: Sequence[Doc], gold: Sequence[Doc]) -> List[Tuple[float, int, bool]]:
        """``(raw score, right or not, added by a rule)`` for every predicted entity against the gold ``doc.ents`` (exact match)."""
        rows = []
        for doc, g, sc in zip(predicted, gold, self.raw_scores(predicted)):
            gold_set = {(e.start_char, e.end_char, e.label_) for e in g.ents}
            for ent in doc.ents:
                key = (ent.start_char, ent.end_char, ent.label_)
                rule = key not in sc and bool(ent.ent_id_)
                rows.append((sc.get(key, 0.0), int(key in gold_set), rule))
        return rows

    # serialization ---------------------------------------------------------------------------
    def _cfg(self) -> dict:
        return {"calibration": self.calibration}

    def to_disk(self, path, exclude=tuple()) -> None:
        path = ensure_path(path)
        path.mkdir(parents=True, exist_ok=True)
        srsly.write_json(path / "calibration.json", self._cfg())

    def from_disk(self, path, exclude=tuple()) -> "EntityConfidence":
        path = ensure_path(path)
        if (path / "calibration.json").exists():
            self.calibration = srsly.read_json(path / "calibration.json").get("calibration")
        return self

    def to_bytes(self, exclude=tuple()) -> bytes:
        return srsly.msgpack_dumps(self._cfg())

    def from_bytes(self, data: bytes, exclude=tuple()) -> "EntityConfidence":
        self.calibration = srsly.msgpack_loads(data).get("calibration")
        return self


@Language.factory(
    "clinical_entity_confidence",
    default_config={"ner": "ner", "method": "greedy", "beam_width": 8, "beam_density": 0.0001, "threshold": 0.0, "batch_size": 64},
)
def make_clinical_entity_confidence(
    nlp: Language, name: str, ner: str, method: str, beam_width: int, beam_density: float, threshold: float, batch_size: int
) -> EntityConfidence:
    return EntityConfidence(
        nlp, name, ner=ner, method=method, beam_width=beam_width, beam_density=beam_density, threshold=threshold, batch_size=batch_size
    )
