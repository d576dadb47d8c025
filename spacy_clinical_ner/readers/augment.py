"""Case augmentation for training on clinical text.

Case reports are written in sentence case; clinical notes are often not: dictated notes come in
lower case, older systems and section headers in upper case. ``spacy-clinical-ner.case_variants.v1``
turns a share of the training examples into a lower-case or an upper-case copy, entities and all
other annotation kept (with ``upper = 0`` it is spaCy's ``spacy.lower_case.v1``).

    [corpora.train.augmenter]
    @augmenters = "spacy-clinical-ner.case_variants.v1"
    lower = 0.1
    upper = 0.0

``configs/ner_cpu.cfg`` uses lower-case copies only: on MACCROBAT, 5% upper-case copies raised F1 on
upper-case text by about 5 points but cost Dosage about 9 (``benchmarks/results/ner_cpu_sweep.md``).
"""

import random
from functools import partial
from typing import Callable, Iterator

from spacy.language import Language
from spacy.training import Example
from spacy.training.augment import _doc_to_biluo_tags_with_partial, make_lowercase_variant
from spacy.util import registry

from ..errors import ClinicalNERError, Errors


def make_uppercase_variant(nlp: Language, example: Example) -> Example:
    """The example in upper case, or the example itself when upper-casing would change the length
    of a token ("ß" -> "SS"), which would move the annotation's character offsets."""
    words = [t.text.upper() for t in example.reference]
    if any(len(w) != len(t.text) for w, t in zip(words, example.reference, strict=True)):
        return example
    example_dict = example.to_dict()
    example_dict["doc_annotation"]["entities"] = _doc_to_biluo_tags_with_partial(example.reference)
    example_dict["token_annotation"]["ORTH"] = words
    return example.from_dict(nlp.make_doc(example.text.upper()), example_dict)


def case_variants_augmenter(nlp: Language, example: Example, *, lower: float, upper: float) -> Iterator[Example]:
    draw = random.random()
    if draw < lower:
        yield make_lowercase_variant(nlp, example)
    elif draw < lower + upper:
        yield make_uppercase_variant(nlp, example)
    else:
        yield example


@registry.augmenters("spacy-clinical-ner.case_variants.v1")
def create_case_variants_augmenter(lower: float = 0.1, upper: float = 0.0) -> Callable[[Language, Example], Iterator[Example]]:
    """Replace a share ``lower`` of the examples with a lower-case copy and a share ``upper``
    with an upper-case copy (each example is drawn once; the rest pass unchanged)."""
    if not (0 <= lower <= 1 and 0 <= upper <= 1 and lower + upper <= 1):
        reason = f"lower ({lower}) and upper ({upper}) are shares of the examples: each in [0, 1], together at most 1"
        raise ClinicalNERError(Errors.E102.format(name="spacy-clinical-ner.case_variants.v1", reason=reason))
    return partial(case_variants_augmenter, lower=lower, upper=upper)
