"""``umls_linker``: links entity spans to concepts of an offline knowledge base.

For every span of ``doc.ents`` (or of ``doc.spans[spans_key]``) the linker

- resolves abbreviations defined in the document (scispaCy's Schwartz & Hearst detector:
  ``"... diabetes mellitus (DM) ..."`` -> ``DM`` is looked up as ``diabetes mellitus``);
- drops the dose, form, route and frequency of a medication (``dose_labels``: "Motrin 800 mg PO"
  is looked up as "Motrin", a brand name of ibuprofen in the drug dictionary);
- finds the most similar KB aliases by character 3-gram TF-IDF cosine (:mod:`.candidates`);
- keeps, per concept, its best alias score; applies the label's semantic-group compatibility
  (``type_filter``: label -> groups, ``null`` = :data:`DEFAULT_TYPE_COMPATIBILITY`, so a
  Disease_disorder never links to a drug; ``type_mode`` filter | rerank | off); keeps only exact
  alias matches for a short form the document does not define (``short_forms_exact``); drops
  those under ``threshold`` and (``require_coverage``) those none of whose aliases the mention
  covers word for word: "swelling" is not "lip swelling", however close their character
  3-grams are (the next candidate that passes is linked instead);
- writes ``span.kb_id_`` = best concept id (``"NIL"`` when nothing passes),
  ``span._.kb_ents`` = ``[[concept_id, score], ...]`` best first (scispaCy's attribute, as
  msgpack-safe lists) and ``span._.kb_name`` = the canonical name of the best concept.

The KB and its index are written by ``to_disk``/``to_bytes`` and memory-mapped back by
``from_disk``: a saved pipeline links offline with nothing to download or register.
"""

import gc
import logging
import re
import warnings
from pathlib import Path
from typing import Any, Callable, Dict, Iterable, Iterator, List, Sequence, Tuple, Union

import numpy as np
import srsly
from spacy.attrs import ORTH
from spacy.language import Language
from spacy.pipeline import Pipe
from spacy.tokens import Doc, Span, SpanGroup
from spacy.training import Example
from spacy.util import ensure_path, minibatch

from ..concepts import NIL
from . import builders as _builders  # noqa: F401  (registers the KB builders in @misc)
from . import scorer as _scorer  # noqa: F401  (registers the scorer)
from .abbreviations import filter_matches, find_abbreviation
from .candidates import TfidfIndex
from .errors import KnowledgeBaseError, LinkingErrors
from .generator import CandidateGenerator, make_candidate_generator
from .kb import KnowledgeBase, alias_covered, is_short_form, normalize_alias

logger = logging.getLogger(__name__)

#: Cosine similarities are float32: an exact alias match may score 0.9999998, which still passes
#: threshold = 1.0.
SCORE_EPS = 1e-5
KB_ENTS_ATTR = "kb_ents"
KB_NAME_ATTR = "kb_name"


def _kb_ents_getter(span: Span) -> List[list]:
    """``[[concept_id, score], ...]`` (``[]`` when not linked, as in scispaCy), always lists: DocBin
    and ``Doc.from_bytes`` give msgpack arrays back as tuples."""
    key = ("._.", KB_ENTS_ATTR, span.start_char, span.end_char)
    value = span.doc.user_data.get(key)
    if value is None:
        return []
    if not isinstance(value, list) or any(not isinstance(pair, list) for pair in value):
        value = span.doc.user_data[key] = [list(pair) for pair in value]
    return value


def _kb_ents_setter(span: Span, value: Iterable[Sequence[Any]] | None) -> None:
    key = ("._.", KB_ENTS_ATTR, span.start_char, span.end_char)
    if value is None:
        span.doc.user_data.pop(key, None)
    else:
        span.doc.user_data[key] = [list(pair) for pair in value]


def install_span_extensions() -> None:
    """``span._.kb_ents`` and ``span._.kb_name``. Values live in ``doc.user_data`` keyed by the
    span's character offsets, so they survive ``DocBin`` and re-created spans."""
    if not Span.has_extension(KB_ENTS_ATTR):
        Span.set_extension(KB_ENTS_ATTR, getter=_kb_ents_getter, setter=_kb_ents_setter)
    if not Span.has_extension(KB_NAME_ATTR):
        Span.set_extension(KB_NAME_ATTR, default=None)


#: Which semantic groups an entity label may link to (used when ``type_filter`` is ``null``):
#: MACCROBAT's clinical labels and the PubTator corpora's mention types. ``DISO`` (UMLS
#: *Disorders*) holds diseases, signs, symptoms and findings; ``CHEM`` drugs and chemicals;
#: ``PROC`` procedures (a UMLS KB has them, the open KB does not).
DEFAULT_TYPE_COMPATIBILITY: Dict[str, List[str]] = {
    "Disease_disorder": ["DISO"],
    "Sign_symptom": ["DISO"],
    "Medication": ["CHEM"],
    "Diagnostic_procedure": ["PROC"],
    "Therapeutic_procedure": ["PROC"],
    "Disease": ["DISO"],
    "Chemical": ["CHEM"],
}

TYPE_MODES = ("filter", "rerank", "off")

#: How concepts that share a matched alias are ordered: ``xrefs`` = the one that more other
#: vocabularies name (more cross-references: the concept the sources agree on, not a one-source
#: twin), then the smaller id; ``id`` = the smaller id only (scispaCy's order; KBs built before
#: the ``n_xrefs`` array existed always use it).
TIE_BREAKS = ("xrefs", "id")

#: Words that end a drug name in a medication mention: "Motrin 800 mg PO BID" is looked up as
#: "Motrin" (see ``dose_labels``). Strength units, dose forms, routes and frequencies; a word that
#: starts with a digit ends the name too.
DOSE_WORDS = frozenset(
    """mg mcg ug g gm gram grams kg ml cc unit units iu meq mmol mol percent tab tabs tablet tablets cap caps capsule
    capsules pill pills puff puffs drop drops patch spray solution suspension syrup injection inj po sl pr im sc sq
    subq subcut intravenous intravenously oral orally topical inhaled bid tid qid qd qod qhs qam qpm hs daily nightly
    weekly prn once twice every""".split()
)

DEFAULT_CONFIG = {
    "spans_key": None,
    "labels": [],
    "threshold": 0.7,
    "max_candidates": 10,
    "resolve_abbreviations": True,
    "type_filter": None,
    "type_mode": "filter",
    "type_penalty": 0.5,
    "dose_labels": ["Medication"],
    "short_forms_exact": True,
    "tie_break": "xrefs",
    "keep_untyped": True,
    "require_coverage": True,
    "exact_max_strings": 500_000,
    "search_budget": 4096,
    "n_rescore": 128,
    "cache_size": 100_000,
    "scorer": {"@scorers": "spacy-clinical-ner.linker_scorer.v1"},
}


@Language.factory(
    "umls_linker",
    default_config=DEFAULT_CONFIG,
    assigns=["token.ent_kb_id", f"span._.{KB_ENTS_ATTR}", f"span._.{KB_NAME_ATTR}"],
    default_score_weights={"nel_micro_f": 1.0, "nel_micro_p": 0.0, "nel_micro_r": 0.0},
)
def make_umls_linker(
    nlp: Language,
    name: str,
    spans_key: str | None,
    labels: List[str],
    threshold: float,
    max_candidates: int,
    resolve_abbreviations: bool,
    type_filter: Dict[str, List[str]] | None,
    type_mode: str,
    type_penalty: float,
    dose_labels: List[str],
    short_forms_exact: bool,
    tie_break: str,
    keep_untyped: bool,
    require_coverage: bool,
    exact_max_strings: int,
    search_budget: int,
    n_rescore: int,
    cache_size: int,
    scorer: Callable | None,
) -> "UMLSLinker":
    return UMLSLinker(
        nlp,
        name,
        spans_key=spans_key,
        labels=labels,
        threshold=threshold,
        max_candidates=max_candidates,
        resolve_abbreviations=resolve_abbreviations,
        type_filter=type_filter,
        type_mode=type_mode,
        type_penalty=type_penalty,
        dose_labels=dose_labels,
        short_forms_exact=short_forms_exact,
        tie_break=tie_break,
        keep_untyped=keep_untyped,
        require_coverage=require_coverage,
        exact_max_strings=exact_max_strings,
        search_budget=search_budget,
        n_rescore=n_rescore,
        cache_size=cache_size,
        scorer=scorer,
    )


class UMLSLinker(Pipe):
    """Offline concept linker (see the module docstring)."""

    def __init__(
        self,
        nlp: Language,
        name: str = "umls_linker",
        *,
        spans_key: str | None = None,
        labels: Sequence[str] = (),
        threshold: float = 0.7,
        max_candidates: int = 10,
        resolve_abbreviations: bool = True,
        type_filter: Dict[str, List[str]] | None = None,
        type_mode: str = "filter",
        type_penalty: float = 0.5,
        dose_labels: Sequence[str] = ("Medication",),
        short_forms_exact: bool = True,
        tie_break: str = "xrefs",
        keep_untyped: bool = True,
        require_coverage: bool = True,
        exact_max_strings: int = 500_000,
        search_budget: int = 4096,
        n_rescore: int = 128,
        cache_size: int = 100_000,
        scorer: Callable | None = None,
    ) -> None:
        if not 0.0 <= threshold <= 1.0:
            raise KnowledgeBaseError(
                LinkingErrors.E407.format(name="threshold", value=threshold, reason="a cosine similarity between 0 and 1")
            )
        if max_candidates < 1:
            raise KnowledgeBaseError(
                LinkingErrors.E407.format(name="max_candidates", value=max_candidates, reason="keep at least one candidate")
            )
        if type_mode not in TYPE_MODES:
            raise KnowledgeBaseError(LinkingErrors.E407.format(name="type_mode", value=type_mode, reason=f"one of {list(TYPE_MODES)}"))
        if tie_break not in TIE_BREAKS:
            raise KnowledgeBaseError(LinkingErrors.E407.format(name="tie_break", value=tie_break, reason=f"one of {list(TIE_BREAKS)}"))
        if not 0.0 <= type_penalty <= 1.0:
            raise KnowledgeBaseError(
                LinkingErrors.E407.format(name="type_penalty", value=type_penalty, reason="a factor between 0 and 1 (rerank mode)")
            )
        install_span_extensions()
        #: ``type_filter = null`` in the config: the default table, frozen into the saved cfg
        #: (``from_disk`` reads it back, so a later default does not change a saved pipeline).
        self._default_types = type_filter is None
        if type_filter is None:
            type_filter = DEFAULT_TYPE_COMPATIBILITY
        self.vocab = nlp.vocab
        self.name = name
        self.cfg: Dict[str, Any] = {
            "spans_key": spans_key,
            "labels": list(labels),
            "threshold": float(threshold),
            "max_candidates": int(max_candidates),
            "resolve_abbreviations": bool(resolve_abbreviations),
            "type_filter": {k: list(v) for k, v in (type_filter or {}).items()},
            "type_mode": type_mode,
            "type_penalty": float(type_penalty),
            "dose_labels": list(dose_labels),
            "short_forms_exact": bool(short_forms_exact),
            "tie_break": tie_break,
            "keep_untyped": bool(keep_untyped),
            "require_coverage": bool(require_coverage),
            "exact_max_strings": int(exact_max_strings),
            "search_budget": int(search_budget),
            "n_rescore": int(n_rescore),
            "cache_size": int(cache_size),
        }
        self.scorer = scorer
        self.kb: KnowledgeBase | None = None
        self.index: TfidfIndex | None = None
        self.generator: CandidateGenerator | None = None
        self._concept_ids: Dict[int, str] = {}
        self._alias_words: Dict[int, List[str]] = {}
        self._coverage: Dict[Tuple[int, str], bool] = {}
        self._open_orth = nlp.vocab.strings.add("(")
        self._close_orth = nlp.vocab.strings.add(")")
        self._type_ids: Dict[str, set] = {}
        self._concept_types: Dict[int, frozenset] = {}

    # ------------------------------------------------------------------ setup
    @property
    def is_initialized(self) -> bool:
        return self.kb is not None and self.index is not None

    def initialize(
        self,
        get_examples: Callable[[], Iterable[Example]] | None = None,
        *,
        nlp: Language | None = None,
        kb: Union[KnowledgeBase, str, Path] | None = None,
    ) -> None:
        """Take a knowledge base (a :class:`KnowledgeBase` or a KB folder) and build its index
        (or use the one ``build-kb`` wrote next to it)."""
        if kb is None:
            raise KnowledgeBaseError(LinkingErrors.E403.format(name=self.name))
        if not isinstance(kb, KnowledgeBase):
            kb = _builders.load_kb_folder(kb)
        index = getattr(kb, "prebuilt_index", None)
        if index is None or index.n_strings != kb.n_strings:
            index = TfidfIndex.build(kb.iter_strings())
        self.set_kb(kb, index)

    def set_kb(self, kb: KnowledgeBase, index: TfidfIndex) -> None:
        self.kb, self.index = kb, index
        cfg = self.cfg
        self.generator = make_candidate_generator(
            k=max(3 * cfg["max_candidates"], 30),
            tie_break=cfg["tie_break"],
            exact_max_strings=cfg["exact_max_strings"],
            search_budget=cfg["search_budget"],
            n_rescore=cfg["n_rescore"],
            cache_size=cfg["cache_size"],
        )(kb, index)
        self._concept_ids.clear()
        self._alias_words.clear()
        self._coverage.clear()
        self._concept_types.clear()
        self._type_ids = {label: set(kb.type_ids(types)) for label, types in self.cfg["type_filter"].items()}
        known = set(kb.type_names)
        linked = set(self.cfg["labels"])
        for label, types in self.cfg["type_filter"].items():
            unknown = [t for t in types if t not in known]
            if self._default_types and (all(t not in known for t in types) or (linked and label not in linked)):
                continue  # the default table names groups (PROC) a small KB may not have
            if unknown:  # a typo (T0047) or a group the KB does not carry would make every typed concept NIL
                warnings.warn(LinkingErrors.W401.format(label=label, types=unknown, known=sorted(known)[:20]), stacklevel=2)

    def _require(self) -> None:
        if not self.is_initialized:
            raise KnowledgeBaseError(LinkingErrors.E403.format(name=self.name))

    # ------------------------------------------------------------------ linking
    def __call__(self, doc: Doc) -> Doc:
        self._require()
        return self._link_docs([doc])[0]

    def pipe(self, stream: Iterable[Doc], batch_size: int = 128) -> Iterator[Doc]:
        """Link a stream of documents, searching the mentions of a whole batch at once."""
        self._require()
        error_handler = self.get_error_handler()  # nlp.set_error_handler(...) applies, as in spaCy's pipes
        for batch in minibatch(stream, size=batch_size):
            try:
                yield from self._link_docs(batch)
            except Exception as err:
                error_handler(self.name, self, batch, err)

    def _link_docs(self, docs: List[Doc]) -> List[Doc]:
        """Collect the target spans of all ``docs`` (abbreviations resolved once per doc), link all
        their texts in one search, then write the results.

        Python's cyclic garbage collector is paused for the batch (and resumed, if it was on, even
        on errors): the spans, keys and candidate lists written here are many small containers
        that trigger collections, and those walk every live object of the process (measured:
        half of this method's time on BC5CDR documents). Nothing here creates reference cycles."""
        was_enabled = gc.isenabled()
        gc.disable()
        try:
            return self._link_docs_inner(docs)
        finally:
            if was_enabled:
                gc.enable()

    def _link_docs_inner(self, docs: List[Doc]) -> List[Doc]:
        labels, resolve = self.cfg["labels"], self.cfg["resolve_abbreviations"]
        plans = []
        texts: List[str] = []
        span_labels: List[str] = []
        for doc in docs:
            spans = self._target_spans(doc)
            todo = [i for i, s in enumerate(spans) if not labels or s.label_ in labels]
            if todo:
                abbrs = self.find_abbreviations(doc) if resolve else {}
                marked = _abbreviation_tokens(doc, abbrs)
                for i in todo:
                    texts.append(self._query_text(spans[i], abbrs, marked))
                    span_labels.append(spans[i].label_)
            plans.append((spans, todo))
        linked = self._link(texts, span_labels)
        kb = self.kb
        assert kb is not None
        at = 0
        for doc, (spans, todo) in zip(docs, plans, strict=True):
            if not todo:
                continue
            new_spans = list(spans)
            user_data = doc.user_data
            best: Dict[Tuple[int, int], float] = {}
            for i in todo:
                span, cands = spans[i], linked[at]
                at += 1
                ids = [self._concept_id(ci) for ci, _ in cands]
                new_spans[i] = Span(doc, span.start, span.end, label=span.label, kb_id=ids[0] if ids else NIL, span_id=span.id)
                # what ``span._.set`` writes (Underscore's key), without building Underscore objects.
                # spaCy keys span extensions by character offsets, so spans of a group with the same
                # offsets (and other labels) share them: the best-linked one's candidates are kept.
                key_start, key_end = span.start_char, span.end_char
                top = cands[0][1] if cands else -1.0
                if best.get((key_start, key_end), -2.0) >= top:
                    continue
                best[(key_start, key_end)] = top
                user_data[("._.", KB_ENTS_ATTR, key_start, key_end)] = [[cid, round(score, 4)] for cid, (_, score) in zip(ids, cands)]
                user_data[("._.", KB_NAME_ATTR, key_start, key_end)] = kb.name(cands[0][0]) if cands else None
            self._write_spans(doc, new_spans)
        return docs

    def _target_spans(self, doc: Doc) -> List[Span]:
        key = self.cfg["spans_key"]
        if key is None:
            return list(doc.ents)
        if key not in doc.spans:
            raise KnowledgeBaseError(LinkingErrors.E404.format(key=key))
        return list(doc.spans[key])

    def _write_spans(self, doc: Doc, spans: List[Span]) -> None:
        key = self.cfg["spans_key"]
        if key is None:
            doc.ents = spans
        else:
            old = doc.spans[key]
            doc.spans[key] = SpanGroup(doc, name=key, attrs=dict(old.attrs), spans=spans)

    def find_abbreviations(self, doc: Doc) -> Dict[str, str]:
        """Short form -> long form for abbreviations defined in ``doc`` (scispaCy's
        Schwartz & Hearst implementation, vendored in ``abbreviations.py``, without its ``Span``
        objects in ``doc._``).

        The parenthesis matches are those of scispaCy's ``Matcher`` pattern (``"(" any+ ")"``),
        found by scanning the token array: every ``(`` with every later ``)`` up to 8 tokens
        inside (``filter_matches`` drops longer ones), in the Matcher's order."""
        if len(doc) < 3:
            return {}
        orth = doc.to_array(ORTH)
        opens = np.flatnonzero(orth == self._open_orth)
        if not len(opens):
            return {}
        closes = np.flatnonzero(orth == self._close_orth)
        matches = []
        # at most 8 closing parentheses lie within 8 tokens of an opening one: look at those only
        # (converting every later one to a list made 10k "(ABC)" pairs quadratic)
        firsts = np.searchsorted(closes, opens + 2).tolist()
        for i, k in zip(opens.tolist(), firsts):
            for j in closes[k : k + 8].tolist():
                if j - i - 1 > 8:
                    break
                matches.append((0, i + 1, j))
        out: Dict[str, str] = {}
        for long_candidate, short_candidate in filter_matches(matches, doc):
            short, long = find_abbreviation(long_candidate, short_candidate)
            if long is not None and short.text not in out:
                out[short.text] = long.text
        # short forms the tokenizer splits ("A-T", "HPT-JT"): scispaCy's filter wants every token
        # of a short form to have 2-9 characters, so "( A - T )" is never considered
        for _, i, j in matches:
            if j - i < 2 or j - i > 5 or any(doc[k].whitespace_ for k in range(i, j - 1)):
                continue
            short = doc[i:j]
            text = short.text
            if text in out or not (2 <= len(text) < 10 and text[0].isalpha() and sum(c.isalpha() for c in text) * 2 >= len(text)):
                continue
            n = min(len(text) + 5, len(text) * 2)
            _, long = find_abbreviation(doc[max(i - n - 1, 0) : i - 1], short)
            if long is not None:
                out[text] = long.text
        return out

    @staticmethod
    def _query_text(span: Span, abbrs: Dict[str, str], marked: set | None = None) -> str:
        """The span's text, with abbreviations defined in the document replaced by their long
        forms (``marked``: indices of the doc's tokens that are short forms, if known)."""
        if not abbrs:
            return span.text
        text = span.text
        if text in abbrs:
            return abbrs[text]
        out = text
        if marked is not None:
            if any(i in marked for i in range(span.start, span.end)):
                out = "".join(abbrs.get(t.text, t.text) + t.whitespace_ for t in span).strip()
        elif any(t.text in abbrs for t in span):
            out = "".join(abbrs.get(t.text, t.text) + t.whitespace_ for t in span).strip()
        for short, long in abbrs.items():  # short forms of several tokens ("A-T patients")
            if short in out and not short.isalnum():
                out = re.sub(rf"(?<![\w-]){re.escape(short)}(?![\w-])", lambda _m, long=long: long, out)
        return out

    def link_texts(self, texts: Sequence[str], labels: Sequence[str] | None = None) -> List[List[Tuple[str, float]]]:
        """Ranked ``(concept_id, score)`` per mention text, after the type filter and threshold."""
        self._require()
        kb = self.kb
        assert kb is not None
        cid = self._concept_id
        return [[(cid(ci), score) for ci, score in cands] for cands in self._link(texts, labels)]

    def _concept_id(self, index: int) -> str:
        """``kb.concept_id``, memoised (the same concepts come back for repeated mentions)."""
        cid = self._concept_ids.get(index)
        if cid is None:
            assert self.kb is not None
            cid = self._concept_ids[index] = self.kb.concept_id(index)
        return cid

    def _link(self, texts: Sequence[str], labels: Sequence[str] | None = None) -> List[List[Tuple[int, float]]]:
        """Ranked ``(concept index, score)`` per mention text, after the type filter and threshold."""
        kb = self.kb
        assert kb is not None
        labels = labels or [""] * len(texts)
        norms = self._norms(texts, labels)
        ranked = self.generator(norms)
        out = []
        threshold, n = self.cfg["threshold"], self.cfg["max_candidates"]
        require_coverage = self.cfg["require_coverage"]
        for cands, label, norm, text in zip(ranked, labels, norms, texts, strict=False):
            picked = []
            for ci, score in self._exact_if_short(self._typed(cands, label), text):
                if score < threshold - SCORE_EPS:
                    break
                if require_coverage and score < 1.0 - SCORE_EPS and not self._covered(ci, norm):
                    continue
                picked.append((ci, score))
                if len(picked) >= n:
                    break
            out.append(picked)
        return out

    def _norms(self, texts: Sequence[str], labels: Sequence[str]) -> List[str]:
        """Normalised query texts; a mention whose label is in ``dose_labels`` loses its dose,
        form, route and frequency ("Motrin 800 mg PO" -> "motrin")."""
        dose = set(self.cfg["dose_labels"])
        norms = [normalize_alias(t) for t in texts]
        if dose:
            norms = [strip_dose(t) if label in dose else t for t, label in zip(norms, labels, strict=False)]
        return norms

    def _exact_if_short(self, cands: List[Tuple[int, float]], text: str) -> List[Tuple[int, float]]:
        """An undefined short form ("OAB", "A-T", "HPT-JT": no long form in the document) only
        names concepts that have it as an alias (``short_forms_exact``): its character 3-grams
        would otherwise pick any long name that happens to contain them ("OAB" -> *Anti-thyroid
        peroxidase antibody positivity*)."""
        if not self.cfg["short_forms_exact"] or not is_short_form(text):
            return cands
        return [(ci, s) for ci, s in cands if s >= 1.0 - SCORE_EPS]

    def _compatible(self, index: int, allowed: set) -> bool:
        types = self._concept_types.get(index)
        if types is None:
            assert self.kb is not None
            types = self._concept_types[index] = frozenset(self.kb.concept_type_ids(index).tolist())
        if not types:
            return self.cfg["keep_untyped"]
        return not allowed.isdisjoint(types)

    def _typed(self, cands: List[Tuple[int, float]], label: str) -> List[Tuple[int, float]]:
        """Candidates after the label's semantic-group compatibility (``type_filter``):
        ``filter`` drops the incompatible ones, ``rerank`` multiplies their scores by
        ``type_penalty`` and sorts again, ``off`` keeps the ranking."""
        allowed = self._type_ids.get(label)
        mode = self.cfg["type_mode"]
        if allowed is None or mode == "off":
            return cands
        if mode == "filter":
            return [(ci, s) for ci, s in cands if self._compatible(ci, allowed)]
        penalty = self.cfg["type_penalty"]
        rescored = [(ci, s if self._compatible(ci, allowed) else s * penalty) for ci, s in cands]
        return sorted(rescored, key=lambda x: -x[1])  # stable: ties keep the concept-id order

    def _covered(self, index: int, mention: str) -> bool:
        """Whether the normalised ``mention`` covers one of the concept's aliases word for word
        (:func:`alias_covered`); remembered per (concept, mention) up to ``cache_size`` answers."""
        key = (index, mention)
        known = self._coverage.get(key)
        if known is None:
            known = self._coverage[key] = self._check_coverage(index, mention.split())
            if len(self._coverage) > self.cfg["cache_size"]:
                self._coverage.clear()
        return known

    def _check_coverage(self, index: int, mention_words: Sequence[str]) -> bool:
        aliases = self._alias_words.get(index)
        if aliases is None:
            assert self.kb is not None
            concept = self.kb.concept_at(index)
            aliases = self._alias_words[index] = list(dict.fromkeys(normalize_alias(a) for a in [concept.canonical_name, *concept.aliases]))
        return any(alias_covered(alias, mention_words) for alias in aliases)

    def candidates(self, texts: Sequence[str], k: int = 10, labels: Sequence[str] | None = None) -> List[List[Tuple[str, float]]]:
        """The ``k`` best concepts per text with no threshold (for evaluation). With ``labels``,
        the label's type compatibility and dose stripping apply as when linking; without, the
        raw ranking."""
        self._require()
        assert self.kb is not None
        cid = self._concept_id
        if labels is None:
            return [[(cid(ci), s) for ci, s in c[:k]] for c in self.generator([normalize_alias(t) for t in texts])]
        ranked = self.generator(self._norms(texts, labels))
        return [
            [(cid(ci), s) for ci, s in self._exact_if_short(self._typed(c, label), text)[:k]]
            for c, label, text in zip(ranked, labels, texts, strict=False)
        ]

    # ------------------------------------------------------------------ scoring
    def score(self, examples: Iterable[Example], **kwargs: Any) -> Dict[str, Any]:
        if self.scorer is None:
            return {}
        return self.scorer(examples, spans_key=self.cfg["spans_key"], **kwargs)

    # ------------------------------------------------------------------ serialisation
    # A linker without a knowledge base saves its settings only (as spaCy's entity_linker saves an
    # empty KB), so a pipeline can be saved before it is initialised; loading it gives the same
    # uninitialised linker (E403 when called). The saved cfg is a record only: the settings come
    # from the pipeline's config, so spacy.load(path, config={"components.umls_linker.threshold": 0.8}) works.
    def to_disk(self, path: Union[str, Path], *, exclude: Iterable[str] = tuple()) -> None:
        path = ensure_path(path)
        path.mkdir(parents=True, exist_ok=True)
        srsly.write_json(path / "cfg", self.cfg)
        srsly.write_json(path / "state.json", {"initialized": self.is_initialized})
        if self.is_initialized:
            assert self.kb is not None and self.index is not None
            self.kb.to_disk(path / "kb")
            self.index.to_disk(path / "index")

    def from_disk(self, path: Union[str, Path], *, exclude: Iterable[str] = tuple()) -> "UMLSLinker":
        path = ensure_path(path)
        state = srsly.read_json(path / "state.json") if (path / "state.json").exists() else {"initialized": True}
        saved_cfg = srsly.read_json(path / "cfg") if (path / "cfg").exists() else {}
        if self._default_types and "type_filter" in saved_cfg:  # the table this pipeline was saved with
            self.cfg["type_filter"] = {k: list(v) for k, v in saved_cfg["type_filter"].items()}
        if not state.get("initialized", True):
            return self
        if not (path / "kb").exists():
            raise KnowledgeBaseError(LinkingErrors.E401.format(path=path, what="kb/"))
        self.set_kb(KnowledgeBase.from_disk(path / "kb"), TfidfIndex.from_disk(path / "index"))
        return self

    def to_bytes(self, *, exclude: Iterable[str] = tuple()) -> bytes:
        if not self.is_initialized:
            return srsly.msgpack_dumps({"cfg": self.cfg, "kb": None, "index": None})
        assert self.kb is not None and self.index is not None
        return srsly.msgpack_dumps({"cfg": self.cfg, "kb": self.kb.to_bytes(), "index": self.index.to_bytes()})

    def from_bytes(self, data: bytes, *, exclude: Iterable[str] = tuple()) -> "UMLSLinker":
        msg = srsly.msgpack_loads(data)
        if self._default_types and "type_filter" in msg.get("cfg", {}):
            self.cfg["type_filter"] = {k: list(v) for k, v in msg["cfg"]["type_filter"].items()}
        if msg.get("kb") is not None:
            self.set_kb(KnowledgeBase.from_bytes(msg["kb"]), TfidfIndex.from_bytes(msg["index"]))
        return self


def _abbreviation_tokens(doc: Doc, abbrs: Dict[str, str]) -> set | None:
    """Indices of the tokens of ``doc`` whose text is a short form in ``abbrs`` (None if none)."""
    if not abbrs:
        return None
    keys = np.array([doc.vocab.strings[k] for k in abbrs], dtype=np.uint64)
    return set(np.flatnonzero(np.isin(doc.to_array(ORTH), keys)).tolist())


def strip_dose(norm: str) -> str:
    """A normalised medication mention up to its first dose word (:data:`DOSE_WORDS`, or a word
    starting with a digit), never emptied: ``"motrin 800 mg"`` -> ``"motrin"``,
    ``"lasix 40 mg po daily"`` -> ``"lasix"``, ``"vitamin b12"`` unchanged."""
    words = norm.split()
    for i, w in enumerate(words):
        if i and (w[0].isdigit() or w in DOSE_WORDS):
            return " ".join(words[:i])
    return norm
