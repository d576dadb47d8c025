"""Gold plus machine-annotated ("silver") training documents, and the command that makes the silver ones.

A teacher pipeline (the transformer NER) annotates unlabelled text; the CPU NER then trains on the gold
documents and the teacher's annotations together (knowledge distillation through the data). The silver
documents carry full NER annotation: every token the teacher left outside an entity is an "O", not missing.
"""

import logging
import random
from pathlib import Path
from typing import Callable, Iterable, Iterator, List, Optional, Sequence, Union

from spacy.language import Language
from spacy.tokens import DocBin
from spacy.training import Corpus, Example
from spacy.util import registry

from ..errors import ClinicalNERError, Errors
from .pubtator import read_pubtator

logger = logging.getLogger(__name__)

PathLike = Union[str, Path]


def _checked(path: PathLike, hint: str) -> Path:
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(Errors.E002.format(path=path, hint=hint))
    return path


@registry.readers("spacy-clinical-ner.GoldSilverCorpus.v1")
def create_gold_silver_corpus(
    path: Optional[Path],
    silver: Optional[Path] = None,
    silver_limit: int = 0,
    gold_preproc: bool = False,
    max_length: int = 0,
    limit: int = 0,
    augmenter: Optional[Callable] = None,
) -> Callable[[Language], Iterable[Example]]:
    """Read the gold DocBins at ``path`` and, if given, the silver DocBins at ``silver``.

    Both are read as ``spacy.Corpus.v1`` reads them (a .spacy file or a folder of them) with the same
    augmenter; ``silver_limit`` caps the silver documents (0: all). spaCy's training loop shuffles the
    examples of both together every epoch.
    """
    if path is None:
        raise ValueError("The gold training corpus has no path: set [paths] train (e.g. --paths.train corpus/spacy/maccrobat/train.spacy)")

    def corpus(where: Path, hint: str, cap: int) -> Corpus:
        return Corpus(_checked(where, hint), gold_preproc=gold_preproc, max_length=max_length, limit=cap, augmenter=augmenter)

    corpora = [corpus(path, "Expected the gold training DocBin (.spacy) or a folder of them.", limit)]
    if silver is not None and str(silver):
        hint = "Expected the silver DocBin (.spacy) or a folder of them; set silver = null to train on gold only."
        corpora.append(corpus(silver, hint, silver_limit))

    def read(nlp: Language) -> Iterator[Example]:
        for reader in corpora:
            yield from reader(nlp)

    return read


@registry.readers("spacy-clinical-ner.GoldSilverCorpus.v2")
def create_gold_silver_corpus_v2(
    path: Optional[Path],
    notes: Optional[Path] = None,
    notes_repeat: int = 1,
    silver: Optional[Path] = None,
    silver_limit: int = 0,
    gold_preproc: bool = False,
    max_length: int = 0,
    limit: int = 0,
    augmenter: Optional[Callable] = None,
) -> Callable[[Language], Iterable[Example]]:
    """``GoldSilverCorpus.v1`` plus a second gold domain: the annotated visit notes at ``notes``.

    ``notes_repeat`` reads the notes that many times per epoch, so that the smaller domain weighs as much as
    the case reports (each copy goes through the augmenter on its own, so lower-case variants differ).
    """
    if notes_repeat < 1:
        raise ValueError(f"notes_repeat must be >= 1, got {notes_repeat}")
    base = create_gold_silver_corpus(path, silver, silver_limit, gold_preproc, max_length, limit, augmenter)
    if notes is None or not str(notes):
        return base
    hint = "Expected the visit-note DocBin (.spacy) or a folder of them (spacy project run convert-notes); set notes = null to go without."
    notes_corpus = Corpus(_checked(notes, hint), gold_preproc=gold_preproc, max_length=max_length, limit=limit, augmenter=augmenter)

    def read(nlp: Language) -> Iterator[Example]:
        yield from base(nlp)
        for _ in range(notes_repeat):
            yield from notes_corpus(nlp)

    return read


@registry.readers("spacy-clinical-ner.DomainsCorpus.v1")
def create_domains_corpus(
    path: Optional[Path], notes: Optional[Path] = None, gold_preproc: bool = False, max_length: int = 0, limit: int = 0
) -> Callable[[Language], Iterable[Example]]:
    """The case-report DocBin at ``path``, then the visit-note DocBin at ``notes`` (skipped when null): one dev set over both domains."""
    kept = [p for p in (path, notes) if p is not None and str(p)]
    corpora = [
        Corpus(
            _checked(p, "Expected a DocBin (.spacy) or a folder of them."), gold_preproc=gold_preproc, max_length=max_length, limit=limit
        )
        for p in kept
    ]

    def read(nlp: Language) -> Iterator[Example]:
        for reader in corpora:
            yield from reader(nlp)

    return read


def pubtator_texts(paths: Sequence[PathLike], n: int = 0, seed: int = 0) -> List[str]:
    """Title + abstract of every PubTator document in ``paths``, shuffled with ``seed``; the first ``n`` (0: all)."""
    texts = [doc.text for path in paths for doc in read_pubtator(_checked(path, "Expected a PubTator file.")) if doc.text.strip()]
    random.Random(seed).shuffle(texts)
    return texts[:n] if n else texts


def annotate_silver(teacher: Language, texts: Iterable[str], output: PathLike, batch_size: int = 16) -> dict:
    """Annotate ``texts`` with ``teacher`` and save the documents' tokens and entities as a DocBin."""
    db = DocBin(attrs=["ORTH", "ENT_IOB", "ENT_TYPE"], store_user_data=False)
    stats = {"documents": 0, "tokens": 0, "entities": 0}
    for doc in teacher.pipe(texts, batch_size=batch_size):
        db.add(doc)
        stats["documents"] += 1
        stats["tokens"] += len(doc)
        stats["entities"] += len(doc.ents)
    if not stats["documents"]:
        raise ClinicalNERError(Errors.E009.format(what="silver corpus", hint="no text to annotate"))
    output = Path(output)
    output.parent.mkdir(parents=True, exist_ok=True)
    db.to_disk(output)
    logger.info("silver corpus %s: %s", output, stats)
    return stats
