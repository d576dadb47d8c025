"""``spacy-clinical-ner.GoldEntityCorpus.v1``: examples whose predicted docs carry the gold entities.

To evaluate (or train) the assertion step alone, the entities must already be on the
docs the pipeline processes; spaCy's ``Corpus`` gives bare texts. This reader copies
``doc.ents`` and the span group ``spans_key`` from each reference onto its predicted doc
(same tokenizer, so the tokens align), leaving all other annotation to the pipeline.

``holdout_every``/``holdout`` carve a deterministic validation set out of a training
file (every n-th document, in file order), so that checkpoint selection never looks at
the dev documents that are reported: ``holdout = "exclude"`` for the training reader,
``"only"`` for the validation reader, ``"none"`` to read everything.

``brat_attributes`` declares the BRAT attribute types the corpus annotates (the visit notes:
``["POLARITY", "HYPOTHETICAL", "CONDITIONAL", "HISTORICAL", "FAMILY"]``); the reference docs
carry the declaration, so the scorer and ``clinical_assertion`` know that a note without a
``HISTORICAL`` flag is gold "not historical", while a MACCROBAT case report (``POLARITY`` only)
says nothing about it.

``spacy-clinical-ner.ConcatCorpus.v1`` chains several readers (MACCROBAT + visit notes) into
one training or validation corpus.
"""

from pathlib import Path
from typing import Any, Callable, Dict, Iterable, List, Union

from spacy.language import Language
from spacy.tokens import Doc
from spacy.training import Corpus, Example
from spacy.util import filter_spans, registry

from ..extensions import install_doc_extensions
from .errors import ContextErrors, ContextRuleError
from .scorer import BRAT_TYPE_ATTRS, GOLD_TYPES_KEY


def copy_entities(source: Doc, target: Doc, spans_key: str | None) -> Doc:
    """Put ``source``'s entities (and span group) onto ``target`` by character offsets."""
    ents = []
    for ent in source.ents:
        span = target.char_span(ent.start_char, ent.end_char, label=ent.label_, alignment_mode="expand")
        if span is not None and len(span):
            ents.append(span)
    target.ents = filter_spans(ents)
    if spans_key is not None and spans_key in source.spans:
        group = []
        for span in source.spans[spans_key]:
            mapped = target.char_span(span.start_char, span.end_char, label=span.label_, alignment_mode="expand")
            if mapped is not None and len(mapped):
                mapped.id_ = span.id_
                group.append(mapped)
        target.spans[spans_key] = group
    return target


@registry.readers("spacy-clinical-ner.GoldEntityCorpus.v1")
def create_gold_entity_corpus(
    path: Union[str, Path],
    spans_key: str | None = "entities",
    gold_preproc: bool = False,
    max_length: int = 0,
    limit: int = 0,
    holdout_every: int = 0,
    holdout_offset: int = 0,
    holdout: str = "none",
    brat_attributes: List[str] | None = None,
) -> Callable[[Language], Iterable[Example]]:
    """A ``.spacy`` corpus whose predicted docs already hold the gold entities."""
    unknown = sorted(set(brat_attributes or ()) - set(BRAT_TYPE_ATTRS))
    if unknown:
        raise ContextRuleError(
            ContextErrors.E304.format(name="GoldEntityCorpus", reason=f"brat_attributes may hold {sorted(BRAT_TYPE_ATTRS)}, not {unknown}")
        )
    if holdout not in ("none", "exclude", "only"):
        raise ContextRuleError(
            ContextErrors.E304.format(name="GoldEntityCorpus", reason=f"holdout must be 'none', 'exclude' or 'only', not {holdout!r}")
        )
    if holdout != "none" and holdout_every < 2:
        raise ContextRuleError(ContextErrors.E304.format(name="GoldEntityCorpus", reason="holdout needs holdout_every >= 2"))
    corpus = Corpus(path, gold_preproc=gold_preproc, max_length=max_length, limit=0)

    def read(nlp: Language) -> Iterable[Example]:
        install_doc_extensions()
        n = 0
        for i, eg in enumerate(corpus(nlp)):
            if holdout != "none":
                held = i % holdout_every == holdout_offset
                if held != (holdout == "only"):
                    continue
            if brat_attributes:
                eg.reference.user_data[GOLD_TYPES_KEY] = list(brat_attributes)
            yield Example(copy_entities(eg.reference, eg.predicted, spans_key), eg.reference)
            n += 1
            if limit and n >= limit:
                break

    return read


@registry.readers("spacy-clinical-ner.ConcatCorpus.v1")
def create_concat_corpus(parts: Dict[str, Any]) -> Callable[[Language], Iterable[Example]]:
    """The examples of several readers, one reader after the other (in the order of their names)."""
    if not parts:
        raise ContextRuleError(ContextErrors.E304.format(name="ConcatCorpus", reason="no parts"))

    def read(nlp: Language) -> Iterable[Example]:
        for name in sorted(parts):
            yield from parts[name](nlp)

    return read
