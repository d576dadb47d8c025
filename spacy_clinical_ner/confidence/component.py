"""``clinical_entity_confidence``: a calibrated confidence on every entity of ``doc.ents``.

Runs right after the ``ner`` it scores. For each sentence it re-decodes the NER's transition system
with a beam (``Parser.beam_parse``) over the sentence, reading the contextual token vectors the NER's
``tok2vec`` already left in ``doc.tensor`` (no second tok2vec pass), and takes an entity's raw score
as the beam marginal: the summed probability of the beam parses that contain exactly that entity
(``EntityRecognizer.scored_ents``). Sentence-sized beams keep the marginals informative: over a whole
note, a small beam only keeps alternatives for its last few decisions.

The raw score is mapped to a probability of being right by a monotone (isotonic) calibration fitted
on held-out predictions (``fit_calibration``; ``spacy-clinical-ner calibrate-confidence``) and saved
with the component. The result is ``span._.confidence`` in [0, 1], stored in ``doc.user_data`` by
offsets like every span extension, so it survives ``DocBin`` and ``nlp.pipe(n_process=...)``.

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


def install_extensions() -> None:
    if not Span.has_extension(CONFIDENCE_ATTR):
        Span.set_extension(CONFIDENCE_ATTR, default=None)


def isotonic_fit(scores: Sequence[float], correct: Sequence[int]) -> Tuple[List[float], List[float]]:
    """Pool-adjacent-violators: a non-decreasing step map from raw score to the fraction correct.

    Returns breakpoints ``(x, y)`` for ``np.interp``; ``x`` are the block means of the raw scores.
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
    by = [b[0] / b[2] for b in blocks]
    return bx, by


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
        beam_width: int = 8,
        beam_density: float = 0.0001,
        threshold: float = 0.0,
        batch_size: int = 64,
    ):
        if beam_width < 2:
            raise ValueError(f"[E901] clinical_entity_confidence: beam_width must be >= 2, got {beam_width}")
        if not 0.0 <= threshold <= 1.0:
            raise ValueError(f"[E902] clinical_entity_confidence: threshold must lie in [0, 1], got {threshold}")
        self.nlp = nlp
        self.name = name
        self.ner_name = ner
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
            raise ValueError(f"[E903] clinical_entity_confidence: the pipeline has no component {self.ner_name!r} to score (set ner = ...)") from err

    def raw_scores(self, docs: Sequence[Doc]) -> List[Dict[Tuple[int, int, str], float]]:
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

    def set_annotations(self, docs: Sequence[Doc], scores: Sequence[Dict[Tuple[int, int, str], float]]) -> None:
        for doc, sc in zip(docs, scores):
            kept = []
            for ent in doc.ents:
                conf = round(self.calibrate(sc.get((ent.start_char, ent.end_char, ent.label_), 0.0)), 4)
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
                raise FileNotFoundError(f"[E905] clinical_entity_confidence: no calibration file at {path} (spacy project run calibrate-confidence)")
            self.calibration = srsly.read_json(path).get("calibration")

    def fit_calibration(self, predicted: Sequence[Doc], gold: Sequence[Doc]) -> dict:
        """Fit the isotonic map on predicted docs (raw scores recomputed) against gold ``doc.ents`` (exact match)."""
        raw = self.raw_scores(predicted)
        xs, ys = [], []
        for doc, g, sc in zip(predicted, gold, raw):
            gold_set = {(e.start_char, e.end_char, e.label_) for e in g.ents}
            for ent in doc.ents:
                key = (ent.start_char, ent.end_char, ent.label_)
                xs.append(sc.get(key, 0.0))
                ys.append(int(key in gold_set))
        if not xs:
            raise ValueError("[E904] clinical_entity_confidence: no predicted entities to calibrate on")
        bx, by = isotonic_fit(xs, ys)
        self.calibration = {"x": [round(v, 6) for v in bx], "y": [round(v, 6) for v in by]}
        return {"entities": len(xs), "accuracy": round(float(np.mean(ys)), 4), "breakpoints": len(bx)}

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
    default_config={"ner": "ner", "beam_width": 8, "beam_density": 0.0001, "threshold": 0.0, "batch_size": 64},
)
def make_clinical_entity_confidence(
    nlp: Language, name: str, ner: str, beam_width: int, beam_density: float, threshold: float, batch_size: int
) -> EntityConfidence:
    return EntityConfidence(nlp, name, ner=ner, beam_width=beam_width, beam_density=beam_density, threshold=threshold, batch_size=batch_size)
