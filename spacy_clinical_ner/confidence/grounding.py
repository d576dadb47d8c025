"""``clinical_grounding_filter``: drop findings that are neither grounded in the KB nor confidently recognised.

Runs after ``umls_linker`` (which sets ``span._.kb_ents``) and ``clinical_entity_confidence`` (which sets
``span._.confidence``). An entity of one of ``labels`` (by default the problem labels, Sign_symptom and
Disease_disorder) that the linker left without any concept *and* whose confidence is below ``min_confidence``
is removed from ``doc.ents``: the two signals together catch everyday words the NER took for findings
("some construction on his home") at almost no cost in recall, where either one alone would cost recall (a
rare finding missing from the open KB, or a real finding the NER was unsure of). Measured on the held-out
notes and case-report dev splits in benchmarks/results/confidence.md.

Nothing is lost silently: the removed entities stay in ``doc.spans[spans_key]`` ("ungrounded" by default),
with their confidence, for a user who wants to look at them. Entities without a confidence (no confidence
component in the pipeline) are kept.
"""

from typing import Iterable, List, Sequence

from spacy.language import Language
from spacy.tokens import Doc, Span

from ..linking.component import KB_ENTS_ATTR, UMLSLinker, install_span_extensions
from .component import CONFIDENCE_ATTR, install_extensions

DEFAULT_LABELS = ("Sign_symptom", "Disease_disorder")
DEFAULT_SPANS_KEY = "ungrounded"


class GroundingFilter:
    """Removes ungrounded, low-confidence entities of the given labels from ``doc.ents`` (see the module docstring)."""

    def __init__(self, nlp: Language, name: str = "clinical_grounding_filter", *, labels: Sequence[str] = DEFAULT_LABELS, min_confidence: float = 0.5, spans_key: str = DEFAULT_SPANS_KEY):
        if not 0.0 <= min_confidence <= 1.0:
            raise ValueError(f"[E907] clinical_grounding_filter: min_confidence must lie in [0, 1], got {min_confidence}")
        self.nlp = nlp
        self.name = name
        self._checked = False
        self.labels = frozenset(labels)
        self.min_confidence = min_confidence
        self.spans_key = spans_key
        install_extensions()
        install_span_extensions()

    def _check_order(self) -> None:
        """A linker must run before this component: without one every entity would look ungrounded."""
        names = [n for n, _ in self.nlp.pipeline]
        before = self.nlp.pipeline[: names.index(self.name)] if self.name in names else self.nlp.pipeline
        if not any(isinstance(proc, UMLSLinker) for _, proc in before):
            raise ValueError(f"[E908] clinical_grounding_filter: no umls_linker runs before {self.name!r} (it reads span._.{KB_ENTS_ATTR}): add it after the linker")
        self._checked = True

    def _drops(self, ent: Span) -> bool:
        if ent.label_ not in self.labels:
            return False
        confidence = ent._.get(CONFIDENCE_ATTR)
        if confidence is None or confidence >= self.min_confidence:
            return False
        return not ent._.get(KB_ENTS_ATTR)

    def __call__(self, doc: Doc) -> Doc:
        if not self._checked:
            self._check_order()
        kept: List[Span] = []
        dropped: List[Span] = []
        for ent in doc.ents:
            (dropped if self._drops(ent) else kept).append(ent)
        if dropped:
            doc.set_ents(kept, default="outside")
        doc.spans[self.spans_key] = dropped
        return doc

    def pipe(self, stream: Iterable[Doc], batch_size: int = 128) -> Iterable[Doc]:
        for doc in stream:
            yield self(doc)


@Language.factory(
    "clinical_grounding_filter",
    default_config={"labels": list(DEFAULT_LABELS), "min_confidence": 0.5, "spans_key": DEFAULT_SPANS_KEY},
    assigns=["doc.ents", "doc.spans"],
    requires=["doc.ents"],
)
def make_clinical_grounding_filter(nlp: Language, name: str, labels: List[str], min_confidence: float, spans_key: str) -> GroundingFilter:
    return GroundingFilter(nlp, name, labels=labels, min_confidence=min_confidence, spans_key=spans_key)
