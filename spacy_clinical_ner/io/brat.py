"""BRAT standoff output: the note text and its ``.ann`` (``readers.brat.doc_to_ann``).

The ``.ann`` holds ``T`` lines for ``doc.ents``, ``N`` lines for linked entities naming the
concept's own database (``UMLS:<CUI>``, ``DrugBank:DB01050``, ``HP:0001250``), ``A`` lines for
the ConText flags (``NEGATED``, ``UNCERTAIN``, ``HISTORICAL``, ``HYPOTHETICAL``, ``FAMILY``)
and ``R`` lines for ``doc._.relations``; it re-reads with ``readers.brat.parse_ann`` against the
``.txt``.
"""

from typing import Tuple

from spacy.tokens import Doc

from ..readers.brat import doc_to_ann


def doc_to_brat(doc: Doc) -> Tuple[str, str]:
    """``(text, ann)``: write the text byte for byte (offsets are code points into it)."""
    return doc.text, doc_to_ann(doc)
