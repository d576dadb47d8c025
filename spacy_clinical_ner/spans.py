"""The offsets an output gives an entity: the span without whitespace at its edges.

spaCy's NER may end an entity on a whitespace token (``"20\n"`` when the note breaks the
line after the dose): the token is part of ``doc.ents``, but no reader of a record, a FHIR
code text or a BRAT ``T`` line wants the newline. Every writer (``io.records``, hence JSONL,
REST, Spark, FHIR, HTML and the graph; and ``readers.brat.doc_to_ann``) cuts entities here,
so that their offsets agree. A span of whitespace only is left as it is.
"""

from typing import Tuple


def trimmed_offsets(text: str, start: int, end: int) -> Tuple[int, int]:
    """``(start, end)`` moved inwards past whitespace in ``text``; unchanged if nothing else is left."""
    s, e = start, end
    while s < e and text[s].isspace():
        s += 1
    while e > s and text[e - 1].isspace():
        e -= 1
    return (s, e) if s < e else (start, end)
