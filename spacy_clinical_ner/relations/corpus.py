"""Corpus reader for relation training and evaluation.

``spacy-clinical-ner.RelationCorpus.v1`` reads a ``.spacy`` DocBin written by
``convert-brat`` and yields ``Example`` objects whose reference docs carry the gold
relations of :func:`spacy_clinical_ner.relations.gold.gold_relations` (OVERLAP groups as
pairs, offsets of the placed entities). With ``gold_entities = true`` the *predicted*
doc also receives the gold entities (``doc.ents`` and the ``entities`` span group), so
a relation pipeline trains and is evaluated on gold entities without an NER; with
``false`` the predicted doc is bare text, for end-to-end evaluation behind an NER.
"""

from pathlib import Path
from typing import Callable, Iterator, Sequence, Union

from spacy.language import Language
from spacy.tokens import Doc, Span
from spacy.training import Corpus, Example
from spacy.util import registry

from ..extensions import ALL_ENTITIES_KEY, RELATIONS_ATTR, install_doc_extensions
from .gold import DEFAULT_DROP_LABELS, gold_relations


def _copy_span(target: Doc, span: Span) -> Union[Span, None]:
    copied = target.char_span(span.start_char, span.end_char, label=span.label_, alignment_mode="strict")
    if copied is None:
        copied = target.char_span(span.start_char, span.end_char, label=span.label_, alignment_mode="expand")
    if copied is not None and span.id_:
        copied.id_ = span.id_
    return copied


def copy_entities(source: Doc, target: Doc) -> None:
    """Put ``source``'s entities (``doc.ents`` and the ``entities`` span group) on ``target`` (same text)."""
    ents = [s for s in (_copy_span(target, e) for e in source.ents) if s is not None]
    target.ents = ents
    if ALL_ENTITIES_KEY in source.spans:
        target.spans[ALL_ENTITIES_KEY] = [s for s in (_copy_span(target, e) for e in source.spans[ALL_ENTITIES_KEY]) if s is not None]


def relation_examples(
    nlp: Language,
    path: Union[str, Path],
    gold_entities: bool = True,
    overlap: str = "sentence",
    drop_labels: Sequence[str] = DEFAULT_DROP_LABELS,
    limit: int = 0,
) -> Iterator[Example]:
    install_doc_extensions()
    corpus = Corpus(path, limit=limit, shuffle=False)
    for eg in corpus(nlp):
        reference = eg.reference
        setattr(reference._, RELATIONS_ATTR, gold_relations(reference, overlap=overlap, drop_labels=drop_labels))
        predicted = eg.predicted
        if gold_entities:
            copy_entities(reference, predicted)
        yield Example(predicted, reference)


@registry.readers("spacy-clinical-ner.RelationCorpus.v1")
def create_relation_corpus(
    path: Path,
    gold_entities: bool = True,
    overlap: str = "sentence",
    drop_labels: Sequence[str] = DEFAULT_DROP_LABELS,
    limit: int = 0,
) -> Callable[[Language], Iterator[Example]]:
    """Examples with gold relations (and, with ``gold_entities``, gold entities on the predicted doc).

    overlap: how n-ary OVERLAP groups become pairs: "sentence" (default), "chain", "all" or "none".
    drop_labels: relation labels left out of the task (default CO-OCCURRENCE: 5 in train, 0 in dev).
    """

    def read(nlp: Language) -> Iterator[Example]:
        return relation_examples(nlp, path, gold_entities=gold_entities, overlap=overlap, drop_labels=drop_labels, limit=limit)

    return read
