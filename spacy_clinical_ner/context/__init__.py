"""ConText assertions (negated, uncertain, historical, hypothetical, family), clinical
sentence boundaries and sections – all saved with the pipeline.

Factories (registered through entry points; importing this package registers them too):

* ``clinical_sentencizer`` – rule-based clinical sentence boundaries (saveable);
* ``clinical_sectionizer`` – section headers -> ``doc._.clinical_sections``;
* ``clinical_context`` – ConText rules over ``doc.ents`` and/or a span group: medspaCy's
  five booleans, an i2b2 ``assertion`` class and the deciding ``context_cues``;
* ``clinical_assertion`` – optional trainable classifier that re-decides negation with
  ConText's cues as features (``configs/context_assertion.cfg``).

Typical order: ``ner`` -> ``clinical_sentencizer`` -> ``clinical_sectionizer`` ->
``clinical_context`` [-> ``clinical_assertion``].
"""

from .assertion import ClinicalAssertion, make_clinical_assertion
from .attributes import ASSERTION_CLASSES, BOOL_ATTRS, install_context_extensions
from .component import ClinicalContext, make_clinical_context
from .corpus import copy_entities, create_gold_entity_corpus
from .model import build_assertion_classifier
from .rules import ContextRule, default_rules, load_rules, medspacy_rules
from .scorer import make_context_scorer, score_context
from .sections import ClinicalSectionizer, make_clinical_sectionizer
from .sentencizer import ClinicalSentencizer, clinical_sentence_starts, make_clinical_sentencizer

__all__ = [
    "ASSERTION_CLASSES",
    "BOOL_ATTRS",
    "ClinicalAssertion",
    "ClinicalContext",
    "ClinicalSectionizer",
    "ClinicalSentencizer",
    "ContextRule",
    "build_assertion_classifier",
    "clinical_sentence_starts",
    "copy_entities",
    "create_gold_entity_corpus",
    "default_rules",
    "install_context_extensions",
    "load_rules",
    "make_clinical_assertion",
    "make_clinical_context",
    "make_clinical_sectionizer",
    "make_clinical_sentencizer",
    "make_context_scorer",
    "medspacy_rules",
    "score_context",
]
