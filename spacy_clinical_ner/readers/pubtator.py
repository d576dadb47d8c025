"""PubTator reader (BC5CDR, NCBI-disease): documents, mentions with concept ids, relations.

Format: ``PMID|t|title``, ``PMID|a|abstract``, mention lines
``PMID<TAB>start<TAB>end<TAB>mention<TAB>type<TAB>id[<TAB>components]`` and relation lines
``PMID<TAB>CID<TAB>id1<TAB>id2``; documents are separated by blank lines. Offsets index
``title + " " + abstract``. Concept ids joined by ``|`` or ``+`` (composite mentions)
are split into a list; ``-1`` means no concept.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterator, List, Optional, Union

from spacy.tokens import Doc

from ..errors import Errors, PubTatorFormatError
from .brat import read_text

_ID_SPLIT = re.compile(r"[|+]")


@dataclass
class PubTatorMention:
    start: int
    end: int
    text: str
    label: str
    ids: List[str]


@dataclass
class PubTatorDocument:
    pmid: str
    title: str = ""
    abstract: str = ""
    mentions: List[PubTatorMention] = field(default_factory=list)
    relations: List[tuple] = field(default_factory=list)

    @property
    def text(self) -> str:
        return f"{self.title} {self.abstract}" if self.abstract else self.title


def normalize_concept_id(raw: str) -> Optional[str]:
    """``D012345`` -> ``MESH:D012345``, ``OMIM:1234`` unchanged, ``-1``/empty -> None."""
    raw = raw.strip()
    if not raw or raw == "-1":
        return None
    if ":" in raw:
        prefix, _, rest = raw.partition(":")
        return f"{prefix.upper()}:{rest}"
    if re.match(r"^[CD]\d+$", raw):
        return f"MESH:{raw}"
    return raw


def read_pubtator(path: Union[str, Path]) -> Iterator[PubTatorDocument]:
    """Yield documents of a PubTator file; malformed lines raise, naming file and line.

    A mention whose text is not the text at its offsets (whitespace collapsed) is malformed.
    Lines end at ``\n`` only: a form feed or U+2028 inside an abstract is text.
    """
    path = Path(path)
    text = read_text(path)
    current: Optional[PubTatorDocument] = None

    def fail(line_no: int, line: str, reason: str) -> PubTatorFormatError:
        return PubTatorFormatError(Errors.E005.format(path=path, line=line_no, reason=reason, text=line))

    for line_no, raw in enumerate(text.split("\n"), start=1):
        line = raw[:-1] if raw.endswith("\r") else raw
        if not line.strip():
            if current is not None:
                yield current
                current = None
            continue
        head = re.match(r"^([^|\t]+)\|([ta])\|(.*)$", line)
        if head:
            pmid, kind, content = head.groups()
            if current is None or current.pmid != pmid or (kind == "t" and current.title):
                if current is not None:
                    yield current
                current = PubTatorDocument(pmid=pmid)
            if kind == "t":
                current.title = content
            else:
                current.abstract = content
            continue
        cols = line.split("\t")
        if current is None or cols[0] != current.pmid:
            raise fail(line_no, line, "annotation line outside its document (PMID does not match the title line)")
        if len(cols) >= 4 and cols[1] in ("CID",) or (len(cols) == 4 and not cols[1].isdigit()):
            current.relations.append(tuple(cols[1:]))
            continue
        if len(cols) < 5 or not cols[1].isdigit() or not cols[2].isdigit():
            raise fail(line_no, line, "expected PMID, start, end, mention, type[, ids]")
        start, end = int(cols[1]), int(cols[2])
        doc_text = current.text
        if not 0 <= start < end <= len(doc_text):
            raise fail(line_no, line, f"offsets {start}-{end} outside the text (length {len(doc_text)})")
        if cols[3].split() != doc_text[start:end].split():
            raise fail(line_no, line, f"the mention is not the text at offsets {start}-{end}, {doc_text[start:end][:80]!r}")
        ids = [i for i in (normalize_concept_id(x) for x in _ID_SPLIT.split(cols[5])) if i] if len(cols) > 5 else []
        current.mentions.append(PubTatorMention(start, end, cols[3], cols[4], ids))
    if current is not None:
        yield current


def pubtator_to_doc(pdoc: PubTatorDocument, make_doc: Callable[[str], Doc], *, spans_key: str = "entities") -> Doc:
    """A Doc with mentions in ``doc.spans[spans_key]`` (kb_id_ = first concept id) and
    ``doc.ents`` (non-overlapping, longest first). Mentions that do not fall on token
    boundaries are snapped outwards and counted in ``doc.user_data["pubtator_expanded"]``."""
    from spacy.util import filter_spans

    doc = make_doc(pdoc.text)
    spans, expanded = [], 0
    for m in pdoc.mentions:
        span = doc.char_span(m.start, m.end, label=m.label, kb_id=m.ids[0] if m.ids else "", alignment_mode="strict")
        if span is None:
            span = doc.char_span(m.start, m.end, label=m.label, kb_id=m.ids[0] if m.ids else "", alignment_mode="expand")
            expanded += 1
        if span is not None:
            spans.append(span)
    doc.spans[spans_key] = spans
    doc.ents = filter_spans(spans)
    doc.user_data["pubtator_expanded"] = expanded
    doc.user_data["pmid"] = pdoc.pmid
    return doc
