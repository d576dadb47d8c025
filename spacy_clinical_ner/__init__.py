"""spacy-clinical-ner: clinical NLP components for spaCy.

Importing this package is cheap: components register themselves through
``entry_points`` and are imported by spaCy only when a pipeline asks for them.
"""

from .about import __version__

__all__ = ["__version__"]
