"""A compact, memory-mapped concept knowledge base.

Concepts (id, canonical name, aliases, semantic types, definition, cross-references) are
collected with :class:`KBBuilder` (which merges records of the same id from several sources)
and compiled into a :class:`KnowledgeBase`: flat numpy arrays and UTF-8 blobs that are
written as ``.npy`` files and opened with ``mmap_mode="r"``. Opening a KB of millions of
aliases therefore takes milliseconds and costs only the pages that are actually touched.

The index the linker searches is built over the *normalised* alias strings
(:func:`normalize_alias`); each unique string maps to one or more concepts.
"""

from __future__ import annotations

import json
import re
import unicodedata
from dataclasses import dataclass, field
from difflib import SequenceMatcher
from functools import lru_cache
from pathlib import Path
from typing import Callable, Dict, Iterable, Iterator, List, Sequence, Set, Union

import numpy as np
import srsly

from .errors import KnowledgeBaseError, LinkingErrors
from .storage import HAS_PREAD, RunArray, load_npy, read_info, save_npy

KB_FORMAT_VERSION = 1

_NON_ALNUM = re.compile(r"[\W_]+", re.UNICODE)


def normalize_alias(text: str) -> str:
    """Lower-case, strip accents, and turn punctuation runs into single spaces.

    ``"Crohn's disease"`` -> ``"crohn s disease"``, ``"Sjögren-syndrome"`` -> ``"sjogren syndrome"``.
    The same function normalises KB aliases and mentions, so both sides agree. Accents are
    stripped from Latin and Greek letters only: in other scripts a combining mark makes a
    different letter (Cyrillic "й" is not "и", Devanagari vowel signs, Japanese dakuten), so
    those are kept and the text is recomposed (NFC).
    """
    if not text.isascii():
        text = _strip_latin_accents(text)
    return _NON_ALNUM.sub(" ", text.lower()).strip()


def _strip_latin_accents(text: str) -> str:
    kept = []
    strip = False
    for ch in unicodedata.normalize("NFKD", text):
        if unicodedata.combining(ch):
            if strip:
                continue
        else:
            strip = _accent_strippable(ch)
        kept.append(ch)
    return unicodedata.normalize("NFC", "".join(kept))


@lru_cache(maxsize=4096)
def _accent_strippable(ch: str) -> bool:
    """Whether accents on this base character are decoration (Latin, Greek) rather than a letter of their own."""
    if ch < "\u0250":  # Basic Latin to Latin Extended-B
        return True
    return unicodedata.name(ch, "").startswith(("LATIN ", "GREEK "))


#: Alias words a mention may leave out (function words, generic heads: "disease", "syndrome" ...).
OPTIONAL_ALIAS_WORDS = frozenset(
    "of the and or in with to a an due by on for nos disease disorder syndrome finding unspecified condition abnormality abnormal".split()
)


#: Longest ending a word may add to a shared stem and still be the same word ("-s", "-ive", "-ation").
MAX_STEM_ENDING = 5


def _same_word(alias_word: str, mention_word: str) -> bool:
    """Equal, the same stem, or a misspelling of it.

    Same stem: both at least 4 characters long, sharing their first 4 (5 when both have 6 or
    more), and neither going on for more than :data:`MAX_STEM_ENDING` characters after the
    shared part: "tumor"/"tumors", "hypertension"/"hypertensive", but not
    "exhibits"/"exhibitionism" or "cardiac"/"cardiomyopathy". A misspelling: same first letter,
    lengths within 2, difflib ratio >= 0.8 ("melitus"/"mellitus", "atack"/"attack")."""
    if alias_word == mention_word:
        return True
    shorter = min(len(alias_word), len(mention_word))
    if shorter < 4:
        return False
    n = 5 if shorter >= 6 else 4
    if alias_word[:n] == mention_word[:n]:
        shared = n
        while shared < shorter and alias_word[shared] == mention_word[shared]:
            shared += 1
        if max(len(alias_word), len(mention_word)) - shared <= MAX_STEM_ENDING:
            return True
    if alias_word[0] != mention_word[0] or abs(len(alias_word) - len(mention_word)) > 2:
        return False  # not a misspelling of it (and difflib is slow)
    m = SequenceMatcher(None, alias_word, mention_word, autojunk=False)
    return m.real_quick_ratio() >= 0.8 and m.quick_ratio() >= 0.8 and m.ratio() >= 0.8


def alias_covered(alias: str, mention_words: Sequence[str]) -> bool:
    """Whether every word of the normalised ``alias`` is in the mention (up to stem), except
    :data:`OPTIONAL_ALIAS_WORDS`; two adjacent mention words may stand for one compound alias word.
    "swelling" does not cover "lip swelling": the alias says more."""
    words = list(mention_words)
    # a compound written apart in the mention: "phosphoribosyl transferase" covers "phosphoribosyltransferase"
    words += [a + b for a, b in zip(words, words[1:])]
    return all(w in OPTIONAL_ALIAS_WORDS or any(_same_word(w, m) for m in words) for w in alias.split())


@dataclass
class Concept:
    """One concept of the knowledge base (scispaCy's ``Entity`` plus cross-references)."""

    concept_id: str
    canonical_name: str
    aliases: List[str] = field(default_factory=list)
    types: List[str] = field(default_factory=list)
    definition: str | None = None
    xrefs: List[str] = field(default_factory=list)
    #: Where each alias comes from, parallel to ``aliases`` (``"DOID"``, ``"HPO|MONDO"``,
    #: ``"train:NCBItrainset_corpus.txt"``; several sources joined by ``|``); empty when unknown
    #: (KBs built before sources were recorded).
    alias_sources: List[str] = field(default_factory=list)

    def to_dict(self) -> dict:
        out = {
            "concept_id": self.concept_id,
            "canonical_name": self.canonical_name,
            "aliases": list(self.aliases),
            "types": list(self.types),
            "definition": self.definition,
            "xrefs": list(self.xrefs),
        }
        if self.alias_sources:
            out["alias_sources"] = list(self.alias_sources)
        return out

    def sources_of(self, alias: str) -> List[str]:
        """The sources that gave ``alias`` (exact string), ``[]`` if unknown or not an alias."""
        if not self.alias_sources:
            return []
        for a, src in zip(self.aliases, self.alias_sources, strict=False):
            if a == alias:
                return src.split("|") if src else []
        return []

    def ids(self, prefix: str) -> Set[str]:
        """The concept's ids in one namespace (``"MESH"`` -> ``{"MESH:D003920", ...}``),
        its own id included when it is one."""
        prefix = prefix.upper() + ":"
        out = {x for x in self.xrefs if x.upper().startswith(prefix)}
        if self.concept_id.upper().startswith(prefix):
            out.add(self.concept_id)
        return out


#: A UMLS concept id.
CUI_PATTERN = re.compile(r"^C\d{7}$")

#: Cross-reference namespaces that name one concept (not a class of them): a concept without a
#: CUI is merged into the CUI-bearing concept that shares one of these ids (``merge_by_xrefs``).
MERGE_NAMESPACES = ("MESH", "OMIM", "ORDO", "GARD", "NCIT", "SNOMEDCT")


def _add_source(names: Dict[str, List[str]], alias: str, source: str | None) -> None:
    sources = names.setdefault(alias, [])
    if source and source not in sources:
        sources.append(source)


class KBBuilder:
    """Collects concepts from one or more sources and merges records with the same id.

    The first source to name a concept gives its canonical name and definition; aliases,
    types and cross-references are united (first-seen order, duplicates dropped). Each alias
    remembers the sources that gave it (``source=`` of :meth:`add`).
    """

    def __init__(self) -> None:
        self._records: Dict[str, dict] = {}

    def __len__(self) -> int:
        return len(self._records)

    def __contains__(self, concept_id: str) -> bool:
        return concept_id in self._records

    def add(
        self,
        concept_id: str,
        name: str | None = None,
        aliases: Iterable[str] = (),
        types: Iterable[str] = (),
        definition: str | None = None,
        xrefs: Iterable[str] = (),
        source: str | None = None,
    ) -> None:
        concept_id = concept_id.strip()
        if not concept_id:
            return
        rec = self._records.get(concept_id)
        if rec is None:
            rec = self._records[concept_id] = {"name": None, "aliases": {}, "types": {}, "definition": None, "xrefs": {}}
        names = rec["aliases"]
        if name and name.strip():
            name = name.strip()
            if rec["name"] is None:
                rec["name"] = name
            _add_source(names, name, source)
        for alias in aliases:
            if alias and alias.strip():
                _add_source(names, alias.strip(), source)
        for t in types:
            if t:
                rec["types"].setdefault(t, None)
        for x in xrefs:
            if x and x != concept_id:
                rec["xrefs"].setdefault(x, None)
        if definition and rec["definition"] is None:
            rec["definition"] = definition

    def add_concept(self, concept: Concept, source: str | None = None) -> None:
        if concept.alias_sources:  # keep each alias's own sources
            self.add(concept.concept_id, concept.canonical_name, (), concept.types, concept.definition, concept.xrefs, source)
            rec = self._records[concept.concept_id]
            for alias, src in zip(concept.aliases, concept.alias_sources, strict=False):
                for one in src.split("|") if src else [None]:
                    _add_source(rec["aliases"], alias, one)
        else:
            self.add(concept.concept_id, concept.canonical_name, concept.aliases, concept.types, concept.definition, concept.xrefs, source)

    def types_of(self, concept_id: str) -> List[str]:
        rec = self._records.get(concept_id)
        return list(rec["types"]) if rec else []

    def canonical_name(self, concept_id: str) -> str | None:
        rec = self._records.get(concept_id)
        return rec["name"] if rec else None

    def alias_index(self, wanted: Iterable[str] | None = None) -> Dict[str, List[str]]:
        """Normalised alias -> ids of the concepts that have it (one pass, for dictionary
        expansion). With ``wanted`` (normalised strings), only those keys: aliases whose first
        characters cannot start one of them are skipped without normalising them."""
        wanted_set = set(wanted) if wanted is not None else None
        prefixes = {w[:3] for w in wanted_set} if wanted_set is not None else None
        out: Dict[str, List[str]] = {}
        for cid, rec in self._records.items():
            for alias in rec["aliases"]:
                if prefixes is not None and alias[:3].lower() not in prefixes:
                    if alias[:3].isascii() and alias[:3].isalnum():
                        continue  # plain start that no wanted string has
                norm = normalize_alias(alias)
                if wanted_set is not None and norm not in wanted_set:
                    continue
                owners = out.setdefault(norm, [])
                if not owners or owners[-1] != cid:
                    owners.append(cid)
        return out

    def owners_of(self, keys: Iterable[str]) -> Dict[str, List[str]]:
        """Key -> ids of the concepts whose id or a cross-reference it is."""
        keys = set(keys)
        out: Dict[str, List[str]] = {}
        for cid, rec in self._records.items():
            if cid in keys:
                out.setdefault(cid, []).append(cid)
            for x in rec["xrefs"]:
                if x in keys:
                    out.setdefault(x, []).append(cid)
        return out

    def merge_into(self, source_id: str, target_id: str) -> None:
        """Fold concept ``source_id`` into ``target_id``: its id becomes a cross-reference of the
        target; names (with their sources), types, cross-references and definition are united;
        the target keeps its canonical name."""
        if source_id == target_id or source_id not in self._records or target_id not in self._records:
            return
        src = self._records.pop(source_id)
        dst = self._records[target_id]
        for alias, sources in src["aliases"].items():
            for one in sources or [None]:
                _add_source(dst["aliases"], alias, one)
        for t in src["types"]:
            dst["types"].setdefault(t, None)
        for x in [source_id, *src["xrefs"]]:
            if x != target_id:
                dst["xrefs"].setdefault(x, None)
        if dst["definition"] is None:
            dst["definition"] = src["definition"]

    def merge_by_xrefs(
        self,
        namespaces: Sequence[str] = MERGE_NAMESPACES,
        is_primary: Callable[[str], bool] = lambda cid: bool(CUI_PATTERN.match(cid)),
    ) -> Dict[str, str]:
        """Merge each concept without a primary id (a CUI) into the one CUI-bearing concept that
        shares an exact cross-reference with it, in identity namespaces only (``namespaces``:
        MeSH, OMIM, Orphanet, GARD, NCIt, SNOMED CT; never ICD, a classification, nor OMIM
        phenotypic series ``OMIM:PS...``). A key shared by several CUI concepts or by several
        concepts without one is a broader mapping and is not used; a concept whose keys point to
        different CUI concepts, or whose semantic groups differ from the target's (a drug and a
        disease sharing a MeSH id), stays apart. Returns ``{merged id: target id}``."""
        prefixes = tuple(ns.upper() + ":" for ns in namespaces)

        def keys(cid: str, rec: dict) -> List[str]:
            out = [x for x in rec["xrefs"] if x.upper().startswith(prefixes) and not x.upper().startswith("OMIM:PS")]
            if cid.upper().startswith(prefixes):
                out.append(cid)
            return out

        primary: Dict[str, List[str]] = {}
        secondary: Dict[str, List[str]] = {}
        for cid, rec in self._records.items():
            table = primary if is_primary(cid) else secondary
            for k in keys(cid, rec):
                table.setdefault(k, []).append(cid)
        merged: Dict[str, str] = {}
        for cid in [c for c in self._records if not is_primary(c)]:
            rec = self._records[cid]
            targets = set()
            for k in keys(cid, rec):
                owners = primary.get(k, [])
                if len(owners) == 1 and len(secondary.get(k, [])) == 1:
                    targets.add(owners[0])
            if len(targets) != 1:
                continue
            target = targets.pop()
            mine, theirs = set(rec["types"]), set(self._records[target]["types"])
            if mine and theirs and not (mine & theirs):
                continue
            self.merge_into(cid, target)
            merged[cid] = target
        return merged

    def concepts(self) -> Iterator[Concept]:
        for cid, rec in self._records.items():
            aliases = list(rec["aliases"])
            name = rec["name"] or (aliases[0] if aliases else cid)
            sources = ["|".join(s) if s else "" for s in rec["aliases"].values()]
            yield Concept(cid, name, aliases, list(rec["types"]), rec["definition"], list(rec["xrefs"]), sources if any(sources) else [])

    def build(self) -> KnowledgeBase:
        return KnowledgeBase.from_concepts(self.concepts())


def _blob(strings: Sequence[str]) -> tuple:
    """UTF-8 blob (uint8) + int64 offsets for a list of strings."""
    encoded = [s.encode("utf8") for s in strings]
    offsets = np.zeros(len(encoded) + 1, dtype=np.int64)
    if encoded:
        np.cumsum([len(b) for b in encoded], out=offsets[1:])
    return np.frombuffer(b"".join(encoded), dtype=np.uint8), offsets


class KnowledgeBase:
    """Concepts in flat arrays, sorted by concept id (binary search for :meth:`get`).

    Arrays (all written as ``.npy``; memory-mapped on load, except :attr:`RUN_ARRAYS`):

    - ``ids``: fixed-width bytes, sorted; ``name_blob``/``name_off``: canonical names;
    - ``meta_blob``/``meta_off``: msgpack per concept (aliases, types, definition, xrefs);
    - ``str_blob``/``str_off``: unique normalised alias strings (what the index searches);
    - ``str_cptr``/``str_cidx``: for each string, the concepts it names;
    - ``type_ptr``/``type_idx`` (+ ``type_names``): semantic types per concept, for filtering;
    - ``has_def``: whether a concept has a definition;
    - ``n_xrefs`` (optional, KBs built since it exists): how many identifiers in other
      vocabularies a concept carries, the linker's tie-break between concepts sharing an alias.
    """

    ARRAYS = (
        "ids",
        "name_blob",
        "name_off",
        "meta_blob",
        "meta_off",
        "str_blob",
        "str_off",
        "str_cptr",
        "str_cidx",
        "type_ptr",
        "type_idx",
        "has_def",
    )
    OPTIONAL_ARRAYS = ("n_xrefs",)
    #: Read one concept's record at a time (a contiguous run), so opened for ``pread``
    #: (:class:`~.storage.RunArray`) rather than mapped: the linker reads the names and records of
    #: scattered candidate concepts, and on a mapped file the kernel's fault-around brings 64 KB
    #: around every record read into the resident set (3M-alias KB: 139 of 145 MB of ``meta_blob``
    #: and 39 of 41 MB of ``name_blob`` resident after linking the BC5CDR mentions).
    RUN_ARRAYS = ("name_blob", "meta_blob")

    def __init__(self, arrays: Dict[str, np.ndarray], info: dict) -> None:
        missing = [a for a in self.ARRAYS if a not in arrays]
        if missing:
            raise KnowledgeBaseError(LinkingErrors.E401.format(path="(in memory)", what=", ".join(missing)))
        self.arrays = arrays
        self.info = dict(info)
        self.type_names: List[str] = list(self.info.get("type_names", []))
        self._type_lookup = {t: i for i, t in enumerate(self.type_names)}

    # ------------------------------------------------------------------ building
    @classmethod
    def from_concepts(cls, concepts: Iterable[Concept], info: dict | None = None) -> KnowledgeBase:
        """Compile concepts (ids must be unique; use :class:`KBBuilder` to merge sources)."""
        concepts = sorted(concepts, key=lambda c: c.concept_id.encode("utf8"))
        seen: Set[str] = set()
        for c in concepts:
            if c.concept_id in seen:
                raise KnowledgeBaseError(
                    LinkingErrors.E407.format(name="concept_id", value=c.concept_id, reason="duplicate id; merge sources with KBBuilder")
                )
            seen.add(c.concept_id)
        n = len(concepts)
        width = max([len(c.concept_id.encode("utf8")) for c in concepts] + [1])
        ids = np.array([c.concept_id.encode("utf8") for c in concepts], dtype=f"S{width}") if n else np.zeros(0, dtype="S1")
        name_blob, name_off = _blob([c.canonical_name for c in concepts])
        # JSON, not msgpack: srsly's msgpack looks up its registry on every call (slow per record)
        metas = [
            json.dumps(
                {
                    "a": list(c.aliases),
                    "t": list(c.types),
                    "d": c.definition,
                    "x": list(c.xrefs),
                    **({"s": list(c.alias_sources)} if c.alias_sources else {}),
                },
                ensure_ascii=False,
                separators=(",", ":"),
            ).encode("utf8")
            for c in concepts
        ]
        meta_off = np.zeros(n + 1, dtype=np.int64)
        if metas:
            np.cumsum([len(m) for m in metas], out=meta_off[1:])
        meta_blob = np.frombuffer(b"".join(metas), dtype=np.uint8)
        # unique normalised strings -> concepts
        string_ids: Dict[str, int] = {}
        pairs_s: List[int] = []
        pairs_c: List[int] = []
        for ci, c in enumerate(concepts):
            local: Set[int] = set()
            for alias in [c.canonical_name, *c.aliases]:
                norm = normalize_alias(alias)
                if not norm:
                    continue
                si = string_ids.setdefault(norm, len(string_ids))
                if si not in local:
                    local.add(si)
                    pairs_s.append(si)
                    pairs_c.append(ci)
        strings = list(string_ids)
        str_blob, str_off = _blob(strings)
        ps = np.asarray(pairs_s, dtype=np.int64)
        pc = np.asarray(pairs_c, dtype=np.int32)
        order = np.argsort(ps, kind="stable")
        str_cidx = pc[order]
        str_cptr = np.zeros(len(strings) + 1, dtype=np.int64)
        if len(ps):
            np.cumsum(np.bincount(ps, minlength=len(strings)), out=str_cptr[1:])
        type_names: Dict[str, int] = {}
        tptr = np.zeros(n + 1, dtype=np.int64)
        tidx: List[int] = []
        for ci, c in enumerate(concepts):
            for t in c.types:
                tidx.append(type_names.setdefault(t, len(type_names)))
            tptr[ci + 1] = len(tidx)
        arrays = {
            "ids": ids,
            "name_blob": name_blob,
            "name_off": name_off,
            "meta_blob": meta_blob,
            "meta_off": meta_off,
            "str_blob": str_blob,
            "str_off": str_off,
            "str_cptr": str_cptr,
            "str_cidx": str_cidx,
            "type_ptr": tptr,
            "type_idx": np.asarray(tidx, dtype=np.int32),
            "has_def": np.array([bool(c.definition) for c in concepts], dtype=bool),
            "n_xrefs": np.array([len(c.xrefs) for c in concepts], dtype=np.int32),
        }
        meta = dict(info or {})
        meta.update(
            {
                "format_version": KB_FORMAT_VERSION,
                "n_concepts": n,
                "n_aliases": int(sum(len(dict.fromkeys([c.canonical_name, *c.aliases])) for c in concepts)),
                "n_strings": len(strings),
                "type_names": list(type_names),
            }
        )
        return cls(arrays, meta)

    # ------------------------------------------------------------------ access
    def __len__(self) -> int:
        return int(self.info["n_concepts"])

    @property
    def n_strings(self) -> int:
        return int(self.info["n_strings"])

    def __contains__(self, concept_id: str) -> bool:
        return self.index_of(concept_id) is not None

    def index_of(self, concept_id: str) -> int | None:
        ids = self.arrays["ids"]
        if not len(ids):
            return None
        key = concept_id.encode("utf8")
        if len(key) > ids.dtype.itemsize:
            return None
        i = int(np.searchsorted(ids, np.array(key, dtype=ids.dtype)))
        if i < len(ids) and ids[i] == key:
            return i
        return None

    def concept_id(self, index: int) -> str:
        return self.arrays["ids"][index].decode("utf8")

    def name(self, index: int) -> str:
        off = self.arrays["name_off"]
        return bytes(self.arrays["name_blob"][off[index] : off[index + 1]]).decode("utf8")

    def string(self, index: int) -> str:
        """A normalised alias string of the index."""
        off = self.arrays["str_off"]
        return bytes(self.arrays["str_blob"][off[index] : off[index + 1]]).decode("utf8")

    def iter_strings(self) -> Iterator[str]:
        blob = self.arrays["str_blob"]
        off = self.arrays["str_off"]
        data = bytes(blob)
        for i in range(self.n_strings):
            yield data[off[i] : off[i + 1]].decode("utf8")

    def strings_fingerprint(self) -> str:
        """SHA-1 of the normalised alias strings (what a search index is built over): an index
        written beside a KB carries it, so that an index left over from another KB is not used."""
        import hashlib

        digest = hashlib.sha1(np.asarray(self.arrays["str_off"], dtype=np.int64).tobytes())
        digest.update(bytes(self.arrays["str_blob"]))
        return digest.hexdigest()

    def string_concepts(self, string_index: int) -> np.ndarray:
        ptr = self.arrays["str_cptr"]
        return self.arrays["str_cidx"][ptr[string_index] : ptr[string_index + 1]]

    def concept_at(self, index: int) -> Concept:
        off = self.arrays["meta_off"]
        meta = json.loads(bytes(self.arrays["meta_blob"][off[index] : off[index + 1]]))
        return Concept(self.concept_id(index), self.name(index), meta["a"], meta["t"], meta["d"], meta["x"], meta.get("s", []))

    def get(self, concept_id: str, default: Concept | None = None) -> Concept | None:
        """The concept with this id, or ``default``."""
        i = self.index_of(concept_id)
        return default if i is None else self.concept_at(i)

    def get_name(self, concept_id: str) -> str | None:
        i = self.index_of(concept_id)
        return None if i is None else self.name(i)

    def __iter__(self) -> Iterator[Concept]:
        """Every concept in id order (records read in blocks, not one read per concept)."""
        ids, name_off, meta_off = self.arrays["ids"], self.arrays["name_off"], self.arrays["meta_off"]
        block = 8192
        for b0 in range(0, len(self), block):
            b1 = min(b0 + block, len(self))
            n0, m0 = int(name_off[b0]), int(meta_off[b0])
            names = bytes(self.arrays["name_blob"][n0 : int(name_off[b1])])
            metas = bytes(self.arrays["meta_blob"][m0 : int(meta_off[b1])])
            n_off = (np.asarray(name_off[b0 : b1 + 1]) - n0).tolist()
            m_off = (np.asarray(meta_off[b0 : b1 + 1]) - m0).tolist()
            for j in range(b1 - b0):
                meta = json.loads(metas[m_off[j] : m_off[j + 1]])
                name = names[n_off[j] : n_off[j + 1]].decode("utf8")
                yield Concept(ids[b0 + j].decode("utf8"), name, meta["a"], meta["t"], meta["d"], meta["x"], meta.get("s", []))

    def type_ids(self, types: Iterable[str]) -> List[int]:
        return [self._type_lookup[t] for t in types if t in self._type_lookup]

    def concept_type_ids(self, index: int) -> np.ndarray:
        ptr = self.arrays["type_ptr"]
        return self.arrays["type_idx"][ptr[index] : ptr[index + 1]]

    def xref_index(self, prefix: str) -> Dict[str, List[int]]:
        """``{"MESH:D003920": [concept indices]}`` for one namespace (one pass over the KB)."""
        out: Dict[str, List[int]] = {}
        for i, concept in enumerate(self):
            for x in concept.ids(prefix):
                out.setdefault(x, []).append(i)
        return out

    # ------------------------------------------------------------------ serialisation
    def to_disk(self, path: Union[str, Path]) -> None:
        path = Path(path)
        path.mkdir(parents=True, exist_ok=True)
        for name in self.ARRAYS + tuple(a for a in self.OPTIONAL_ARRAYS if a in self.arrays):
            save_npy(path / f"{name}.npy", self.arrays[name])
        srsly.write_json(path / "kb.json", self.info)

    @classmethod
    def from_disk(cls, path: Union[str, Path], mmap: bool = True) -> KnowledgeBase:
        path = Path(path)
        if not (path / "kb.json").exists():
            raise KnowledgeBaseError(LinkingErrors.E401.format(path=path, what="kb.json"))
        info = read_info(path, "kb.json", KB_FORMAT_VERSION)
        arrays = {}
        for name in cls.ARRAYS:
            f = path / f"{name}.npy"
            if not f.exists():
                raise KnowledgeBaseError(LinkingErrors.E401.format(path=path, what=f.name))
            arrays[name] = RunArray(f) if mmap and HAS_PREAD and name in cls.RUN_ARRAYS else load_npy(f, mmap)
        for name in cls.OPTIONAL_ARRAYS:
            if (path / f"{name}.npy").exists():
                arrays[name] = load_npy(path / f"{name}.npy", mmap)
        return cls(arrays, info)

    def to_bytes(self) -> bytes:
        return srsly.msgpack_dumps({"info": self.info, "arrays": {k: _array_to_msg(v) for k, v in self.arrays.items()}})

    @classmethod
    def from_bytes(cls, data: bytes) -> KnowledgeBase:
        msg = srsly.msgpack_loads(data)
        return cls({k: _array_from_msg(v) for k, v in msg["arrays"].items()}, msg["info"])

    # ------------------------------------------------------------------ scispaCy interop
    def to_jsonl(self, path: Union[str, Path], *, xrefs: bool = True) -> None:
        """Write scispaCy's KB JSONL (``concept_id, canonical_name, aliases, types, definition``).
        ``xrefs=True`` adds our cross-references as an extra key (read back by
        :func:`read_scispacy_jsonl`); scispaCy's own ``KnowledgeBase`` loader rejects unknown keys,
        so write files for scispaCy with ``xrefs=False``. Semantic-group codes (``DISO`` ...) that
        the readers add are written as types too."""
        with Path(path).open("w", encoding="utf8") as f:
            for c in self:
                record = c.to_dict()
                if not xrefs:  # scispaCy's own loader rejects keys it does not know
                    record.pop("xrefs", None)
                    record.pop("alias_sources", None)
                f.write(json.dumps(record, ensure_ascii=False) + "\n")

    def summary(self) -> dict:
        return {k: self.info[k] for k in ("n_concepts", "n_aliases", "n_strings") if k in self.info} | {
            k: v for k, v in self.info.items() if k in ("sources", "name")
        }


def _array_to_msg(a: np.ndarray) -> dict:
    a = np.ascontiguousarray(a)
    return {"dtype": a.dtype.str, "shape": list(a.shape), "data": a.tobytes()}


def _array_from_msg(m: dict) -> np.ndarray:
    return np.frombuffer(m["data"], dtype=np.dtype(m["dtype"])).reshape(m["shape"])


_SHORT_FORM = re.compile(r"^(?=(?:[^A-Z]*[A-Z]){2})[A-Za-z0-9][A-Za-z0-9\-/]{1,7}$")


def is_short_form(text: str) -> bool:
    """An abbreviation as written: one token of 2-8 letters, digits, hyphens or slashes with at
    least two capitals and more capitals than lower-case letters ("APC", "A-T", "MEN1", "HPT-JT";
    not "Lasix", "pH")."""
    text = text.strip()
    if not _SHORT_FORM.match(text):
        return False
    upper = sum(c.isupper() for c in text)
    return upper > sum(c.islower() for c in text)
