"""Offline concept linking: knowledge bases, a char-3-gram TF-IDF index, the ``umls_linker``
component and its scorer. Importing this package is cheap; spaCy imports the component
through the ``spacy_factories`` entry point when a pipeline asks for ``umls_linker``."""

from .kb import Concept, KBBuilder, KnowledgeBase, normalize_alias

__all__ = ["Concept", "KBBuilder", "KnowledgeBase", "normalize_alias"]
