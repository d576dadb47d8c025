"""Sections of clinical notes, and the layout tokens the entity recognizer must leave alone.

* ``clinical_sectionizer`` (:mod:`.component`) – section headers -> ``doc._.clinical_sections``
  (rules are data: ``resources/section_rules.json``, medspaCy's in ``medspacy_section_rules.json``);
* :mod:`.blocking` – NER blocking by layout: section titles, line-opening bullets, label colons
  and reporting verbs set outside any entity before ``ner`` (the sectionizer's ``block_*``
  settings);
* :mod:`.layout` – where lines start and end in a tokenized note.
"""

from .blocking import block_tokens
from .component import ClinicalSectionizer, load_section_rules

__all__ = ["ClinicalSectionizer", "block_tokens", "load_section_rules"]
