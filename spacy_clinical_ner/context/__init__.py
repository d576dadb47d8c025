"""ConText assertions (negated, uncertain, historical, hypothetical, family), saved with the pipeline.

* ``clinical_context`` (:mod:`.component`) – ConText rules over ``doc.ents`` and/or a span
  group: medspaCy's five booleans, an i2b2 ``assertion`` class and the deciding ``context_cues``;
  the matching and scoping itself is :mod:`.engine`, the rules are data (:mod:`.rules`,
  ``resources/``);
* ``spacy-clinical-ner.context_scorer.v1`` (:mod:`.scorer`) – ``context_<attr>_p/r/f``, shared
  with ``clinical_assertion``;
* ``spacy-clinical-ner.GoldEntityCorpus.v1`` / ``ConcatCorpus.v1`` (:mod:`.corpus`) – examples
  whose docs carry the gold entities, to train and evaluate the assertion step alone;
* :mod:`.attributes` – the span and doc extensions, the assertion classes and their precedence.

The other components of a note pipeline have their own subpackages:
:mod:`spacy_clinical_ner.sentences` (``clinical_sentencizer``), :mod:`spacy_clinical_ner.sections`
(``clinical_sectionizer``) and :mod:`spacy_clinical_ner.assertion` (``clinical_assertion``).
Typical order (the assembled pipelines): ``clinical_sectionizer`` -> ``ner`` ->
``clinical_sentencizer`` -> ``clinical_context`` [-> ``clinical_assertion``].

The component modules register themselves through ``entry_points``; importing this package
imports none of them.
"""

from .attributes import ASSERTION_CLASSES, BOOL_ATTRS, install_context_extensions
from .rules import ContextRule, default_rules, load_rules, medspacy_rules

__all__ = [
    "ASSERTION_CLASSES",
    "BOOL_ATTRS",
    "ContextRule",
    "default_rules",
    "install_context_extensions",
    "load_rules",
    "medspacy_rules",
]
