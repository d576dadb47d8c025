"""Where lines start and end in a tokenized note: shared by section finding and NER blocking."""

from spacy.tokens import Doc


def line_starts_before(doc: Doc, i: int) -> bool:
    """Token ``i`` is the first token of a line (or of the text)."""
    if i == 0:
        return True
    prev = doc[i - 1]
    if prev.is_space:
        return "\n" in prev.text or line_starts_before(doc, i - 1)
    return "\n" in prev.whitespace_


def line_end(doc: Doc, i: int) -> int:
    """The first token after the line that token ``i`` is on (``len(doc)`` at the end)."""
    while i < len(doc):
        if doc[i].is_space and "\n" in doc[i].text:
            return i
        if "\n" in doc[i].whitespace_:
            return i + 1
        i += 1
    return len(doc)
