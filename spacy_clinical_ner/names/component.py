"""``clinical_name_guard``: find people's names and keep the entity recognizer off them.

Visit notes name their patients, clinicians and relatives ("Andrew Perez is a 62-year-old male",
"Ms. Thompson", "I saw Dr. Gutierrez"). A clinical NER trained on case reports, which have no names,
labels some of them as findings or structures. This component runs before ``ner`` and

* finds names with three rules: a title followed by capitalised words (``Mr./Mrs./Ms./Miss/Dr./Doctor``);
  a known first name followed by a capitalised word (``Brian White``); and, once a name is found, every
  other occurrence of its words in the note (``Perez`` later on);
* writes them to ``doc.spans[spans_key]`` (label ``PERSON``);
* marks their tokens as *blocked* (``Doc.set_ents(blocked=...)``), so that the following ``ner`` never puts
  an entity on them, and drops any entity already set on them.

The first names are the US Census 1990 lists (public domain), without the ones that are also clinical or
everyday words (``Gene``, ``Hope``, ``May``, ``Mark`` ...). Eponyms stay clinical: ``Graves disease`` or
``Parkinson's`` have no first name or title before them. The word list is saved with the component.
"""

import re
from pathlib import Path
from typing import Iterable, List, Optional, Sequence, Set

import srsly
from spacy.language import Language
from spacy.pipeline import Pipe
from spacy.tokens import Doc, Span
from spacy.util import ensure_path

RESOURCES = Path(__file__).parent / "resources"
DEFAULT_SPANS_KEY = "person_names"
TITLES = ("mr", "mrs", "ms", "miss", "mx", "dr", "doctor", "mister", "madam")
#: capitalised words after a title that are not names ("Dr. Office", "Mr. and Mrs.")
NOT_NAMES = {"and", "or", "the", "office", "visit", "note", "i", "a", "his", "her"}
_CAP = re.compile(r"^[A-Z][a-z]+(?:[-'][A-Z]?[a-z]+)*$")


def load_first_names(path: Path = RESOURCES / "first_names.txt") -> List[str]:
    return [line.strip() for line in path.read_text(encoding="utf8").splitlines() if line.strip() and not line.startswith("#")]


def _is_cap(text: str) -> bool:
    return bool(_CAP.match(text))


class ClinicalNameGuard(Pipe):
    """Finds people's names and blocks them for the NER (see the module docstring)."""

    def __init__(
        self,
        nlp: Language,
        name: str = "clinical_name_guard",
        *,
        spans_key: str = DEFAULT_SPANS_KEY,
        first_names: Optional[Sequence[str]] = None,
    ):
        self.name = name
        self.spans_key = spans_key
        self.first_names: Set[str] = set(first_names if first_names is not None else load_first_names())

    def find_names(self, doc: Doc) -> List[Span]:
        found: List[Span] = []
        i, n = 0, len(doc)
        while i < n:
            tok = doc[i]
            lower = tok.lower_.rstrip(".")
            start = end = None
            if lower in TITLES and (tok.text[0].isupper()) and i + 1 < n:
                j = i + 1
                if doc[j].text == ".":
                    j += 1
                k = j
                while k < n and k < j + 3 and _is_cap(doc[k].text) and doc[k].lower_ not in NOT_NAMES:
                    k += 1
                if k > j:
                    start, end = i, k
            elif tok.text in self.first_names and i + 1 < n and _is_cap(doc[i + 1].text) and doc[i + 1].lower_ not in NOT_NAMES:
                k = i + 1
                while k < n and k < i + 3 and _is_cap(doc[k].text) and doc[k].lower_ not in NOT_NAMES:
                    k += 1
                start, end = i, k
            if start is not None:
                found.append(Span(doc, start, end, label="PERSON"))
                i = end
            else:
                i += 1
        # every other occurrence of a found name's words (capitalised as a name)
        words = {t.text for s in found for t in s if _is_cap(t.text) and t.lower_.rstrip(".") not in TITLES}
        covered = {t.i for s in found for t in s}
        for tok in doc:
            if tok.i not in covered and tok.text in words:
                found.append(Span(doc, tok.i, tok.i + 1, label="PERSON"))
                covered.add(tok.i)
        return sorted(found, key=lambda s: s.start)

    def __call__(self, doc: Doc) -> Doc:
        names = self.find_names(doc)
        doc.spans[self.spans_key] = names
        if names:
            blocked_ids = {t.i for s in names for t in s}
            kept = [e for e in doc.ents if not any(t.i in blocked_ids for t in e)]
            blocked = [doc[i : i + 1] for i in sorted(blocked_ids)]
            doc.set_ents(kept, blocked=blocked, default="unmodified")
        return doc

    def pipe(self, stream: Iterable[Doc], batch_size: int = 128) -> Iterable[Doc]:
        for doc in stream:
            yield self(doc)

    def initialize(self, get_examples=None, *, nlp=None) -> None:
        pass

    def to_disk(self, path, exclude=tuple()) -> None:
        path = ensure_path(path)
        path.mkdir(parents=True, exist_ok=True)
        srsly.write_json(path / "cfg", {"spans_key": self.spans_key})
        (path / "first_names.txt").write_text("\n".join(sorted(self.first_names)) + "\n", encoding="utf8")

    def from_disk(self, path, exclude=tuple()) -> "ClinicalNameGuard":
        path = ensure_path(path)
        if (path / "first_names.txt").exists():
            self.first_names = set(load_first_names(path / "first_names.txt"))
        return self

    def to_bytes(self, exclude=tuple()) -> bytes:
        return srsly.msgpack_dumps({"spans_key": self.spans_key, "first_names": sorted(self.first_names)})

    def from_bytes(self, data: bytes, exclude=tuple()) -> "ClinicalNameGuard":
        msg = srsly.msgpack_loads(data)
        self.first_names = set(msg["first_names"])
        return self


@Language.factory("clinical_name_guard", default_config={"spans_key": DEFAULT_SPANS_KEY})
def make_clinical_name_guard(nlp: Language, name: str, spans_key: str) -> ClinicalNameGuard:
    return ClinicalNameGuard(nlp, name, spans_key=spans_key)
