"""``clinical_sentencizer`` (:mod:`.component`): rule-based clinical sentence boundaries, saved
with the pipeline. :func:`clinical_sentence_starts` is the same rules as a function (ConText
splits docs without sentence boundaries with it, writing nothing to the Doc)."""

from .component import ClinicalSentencizer, clinical_sentence_starts

__all__ = ["ClinicalSentencizer", "clinical_sentence_starts"]
