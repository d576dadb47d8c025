"""``clinical_context``: ConText assertions over entities, saved with the pipeline.

For every target span (``doc.ents`` and/or a span group) the component sets medspaCy's
five booleans, an i2b2-style ``assertion`` class and ``context_cues`` – the cue text,
offsets, category and rule that decided it (see :mod:`.attributes`). Rules are data:
the shipped clinical rules, medspaCy's rules or a file, plus rules added at run time with
:meth:`ClinicalContext.add`; all of them are written by ``to_disk`` and restored by
``spacy.load``, so a saved pipeline never needs the original rules file.

Scopes stop at sentence ends. Docs without sentence boundaries are split on the fly with
the clinical sentence rules (nothing is written to the Doc). Sections found upstream by
``clinical_sectionizer`` add attributes (``section_attrs``), with the header as the cue.

Beyond medspaCy's ConText (each can be switched off; with all off and medspaCy's rules
the results are medspaCy's, see tests/test_context.py):

* ``boundary_categories`` – rules of these categories (``CLAUSE_BOUNDARY``: finite
  verbs, subordinators, ", the" ...) never compete with cues; they only end the scopes
  of rules that list them in ``terminated_by``, so "no X was found and [Y]" stops at
  "was" – case reports have long, multi-clause sentences;
* ``coordination`` – a cue that reaches one item of a list reaches all its items;
* ``trim_cues`` – a cue whose optional words run into the entity ("no focal" + "focal
  deficits") or that opens the entity ("[no signs of endocarditis]") still counts;
* ``ignored_labels`` – entity types that are never asserted on (MACCROBAT's anatomy,
  descriptors and values by default).
* ``ongoing_labels`` – a problem named in a history list ("history of diabetes", a past
  medical history section) is present, not historical, when the note names it again as a
  current problem (the i2b2 2010 reading of chronic problems);
* ``denied_history`` – a history-list cue that a negation cue before it denies ("denies any history
  of seizures", "does not have a history of stroke") asserts an absent problem, not a historical
  one (i2b2 2010: absent; as "no history of" already reads);
* a rule's ``metadata.also_sets`` asserts further attributes with its own ("pain resolved":
  negated and historical).
"""

import logging
import warnings
import weakref
from bisect import bisect_right
from typing import Any, Callable, Dict, FrozenSet, Iterable, List, Sequence, Tuple, Union

import srsly
from spacy.language import Language
from spacy.pipeline import Pipe
from spacy.tokens import Doc, Span
from spacy.training import Example
from spacy.util import ensure_path

from ..sentences.component import DEFAULT_ABBREVIATIONS, clinical_sentence_starts
from ..words import load_word_lists
from .attributes import (
    ASSERTION_ATTR,
    ATTR_CATEGORY,
    BOOL_ATTRS,
    DEFAULT_SECTION_ATTRS,
    DEFAULT_SPAN_ATTRS,
    SECTIONS_ATTR,
    assertion_class,
    category_rank,
    install_context_extensions,
    write_span_values,
)
from .engine import ContextEngine, Modifier
from .errors import ContextErrors, ContextRuleError
from .rules import ContextRule, RuleLike, check_matcher_attr, coerce_rule, load_rules
from .scorer import score_context

logger = logging.getLogger(__name__)

_INTERNAL_CUE_KEYS = ("distance", "side")


def strip_cue(cue: dict) -> dict:
    """A cue record as stored on the span (without the analysis-only keys)."""
    return {k: v for k, v in cue.items() if k not in _INTERNAL_CUE_KEYS}


FORMAT_VERSION = 1
#: The word lists below, shipped as data in ``resources/word_lists.json``.
WORDS = load_word_lists(__package__)
#: Labels of problems that a current mention elsewhere in the note keeps present when a history
#: list names them (see ``ClinicalContext._ongoing``); symptoms are left out: "pain" is split
#: from its site in these schemes, so two "pain" mentions are often different problems.
#: a chronic symptom ("chronic back pain" in the history, "back pain" in the assessment) goes on like a disease
ONGOING_LABELS = ("Disease_disorder", "PROBLEM", "DISEASE", "DISORDER", "CONDITION", "Sign_symptom")


def _problem_key(span: Span) -> Tuple[str, ...]:
    """The words of a problem mention, lower-cased, a plural "s" dropped ("kidney stones")."""
    words = []
    for tok in span:
        w = "".join(ch for ch in tok.lower_ if ch.isalnum())
        if not w:
            continue
        words.append(w[:-1] if len(w) > 3 and w.endswith("s") and not w.endswith("ss") else w)
    return tuple(words)


def _same_problem(a: Tuple[str, ...], b: Tuple[str, ...]) -> bool:
    """Same words, or the shorter mention is a run of the longer one ("diabetes" in "type 2 diabetes")."""
    if not a or not b:
        return False
    if len(a) > len(b):
        a, b = b, a
    return any(b[i : i + len(a)] == a for i in range(len(b) - len(a) + 1))
#: Words that may stand between the items of a coordinated list (with entities and
#: short parentheticals), see ``coordination``.
LIST_WORDS = frozenset(WORDS["list_words"])

#: MACCROBAT types that describe or measure an event rather than being one (anatomy,
#: descriptors, values, times, demographics). They carry no polarity in the corpus and a
#: negation cue in their sentence is about the finding they modify ("no cutaneous
#: lesions": the lesions are absent, the skin is not), so by default ConText leaves them
#: alone. Labels of other NER schemes are unaffected; set ``ignored_labels = []`` to
#: assert on everything.
MACCROBAT_NON_EVENT_LABELS = tuple(WORDS["maccrobat_non_event_labels"])


#: Sentence openings whose subject is the patient ("He has", "The patient reports", "Pt denies"):
#: a family-history section does not make such a sentence's findings the family's. "He" / "she"
#: count only while the section has named no relative yet: after "Mother had breast cancer."
#: "She also had diabetes" is the mother's.
PATIENT_SUBJECTS = frozenset(WORDS["patient_subjects"])
PRONOUN_SUBJECTS = frozenset(WORDS["pronoun_subjects"])
RELATIVES = frozenset(WORDS["relatives"])
PATIENT_VERBS = frozenset(WORDS["patient_verbs"])


def _patient_subject(doc: Doc, target: Span, sent_starts: Sequence[int], title_end: int) -> bool:
    """The sentence of ``target`` opens with the patient as subject ("He has ...", "The patient
    reports ...", "Pt denies ..."); text of the section header (``title_end``) is skipped. A
    pronoun after a relative named in the section refers to the relative, not the patient."""
    k = bisect_right(sent_starts, target.start) - 1
    i = sent_starts[k] if k >= 0 else 0
    sentence_start = i
    while i < target.start and (doc[i].idx < title_end or doc[i].is_space or doc[i].is_punct):
        i += 1
    if i < target.start and doc[i].lower_ == "the":
        i += 1
    if i + 1 >= target.start or doc[i].lower_ not in PATIENT_SUBJECTS:
        return False
    j = i + 1
    if doc[j].text == "." and doc[i].lower_ == "pt":
        j += 1
    if not (j < target.start and doc[j].lower_ in PATIENT_VERBS):
        return False
    if doc[i].lower_ in PRONOUN_SUBJECTS:
        # look back over this section only (from the sentence to the header), not the whole note
        k = sentence_start - 1
        while k >= 0 and doc[k].idx >= title_end:
            if doc[k].lower_ in RELATIVES:
                return False
            k -= 1
    return True


def _restore_component(cls, state: Dict[str, Any]):
    obj = cls.__new__(cls)
    obj.__setstate__(state)
    return obj


class ClinicalContext(Pipe):
    """ConText over entities, with the cue that decided each attribute."""

    def __init__(
        self,
        nlp: Language,
        name: str = "clinical_context",
        *,
        rules: str | None = "default",
        spans_key: str | None = None,
        include_ents: bool = True,
        ignored_labels: Iterable[str] | None = MACCROBAT_NON_EVENT_LABELS,
        allowed_types: Iterable[str] | None = None,
        excluded_types: Iterable[str] | None = None,
        max_scope: int | None = None,
        max_targets: int | None = None,
        terminating_types: Dict[str, List[str]] | None = None,
        boundary_categories: Iterable[str] = ("CLAUSE_BOUNDARY", "FAMILY_BOUNDARY"),
        trim_cues: bool = True,
        phrase_matcher_attr: str = "LOWER",
        prune_on_modifier_overlap: bool = True,
        prune_on_target_overlap: bool = False,
        coordination: bool = True,
        span_attrs: Union[str, Dict[str, Dict[str, bool]], None] = "default",
        section_attrs: Union[str, Dict[str, Dict[str, bool]], None] = "default",
        ongoing_labels: Iterable[str] | None = ONGOING_LABELS,
        denied_history: bool = True,
        scorer: Callable | None = None,
    ):
        install_context_extensions()
        if spans_key is None and not include_ents:
            raise ContextRuleError(ContextErrors.E304.format(name=name, reason="no targets: set spans_key or include_ents = true"))
        if max_scope is not None and max_scope <= 0:
            raise ContextRuleError(ContextErrors.E304.format(name=name, reason=f"max_scope must be positive or null, not {max_scope}"))
        if max_targets is not None and max_targets <= 0:
            raise ContextRuleError(ContextErrors.E304.format(name=name, reason=f"max_targets must be positive or null, not {max_targets}"))
        if allowed_types is not None and excluded_types is not None:
            raise ContextRuleError(ContextErrors.E304.format(name=name, reason="only one of allowed_types and excluded_types may be set"))
        if span_attrs == "default":
            span_attrs = DEFAULT_SPAN_ATTRS
        if section_attrs == "default":
            section_attrs = DEFAULT_SECTION_ATTRS
        for key, mapping in (("span_attrs", span_attrs), ("section_attrs", section_attrs)):
            if mapping is not None and (
                not isinstance(mapping, dict)
                or not all(isinstance(v, dict) and all(isinstance(a, str) for a in v) for v in mapping.values())
            ):
                raise ContextRuleError(
                    ContextErrors.E304.format(
                        name=name, reason=f"{key} must be 'default', null or {{category: {{attribute: bool}}}}, not {mapping!r}"
                    )
                )
        check_matcher_attr(name, phrase_matcher_attr)
        for mapping in (span_attrs or {}, section_attrs or {}):
            for attrs in mapping.values():
                for attr in attrs:
                    if not Span.has_extension(attr):
                        raise ContextRuleError(
                            ContextErrors.E304.format(
                                name=name, reason=f"attribute {attr!r} is not a Span extension; call Span.set_extension first"
                            )
                        )
        self.name = name
        self.vocab = nlp.vocab
        self._tokenizer = nlp.tokenizer
        self.cfg: Dict[str, Any] = {
            "spans_key": spans_key,
            "include_ents": include_ents,
            "ignored_labels": sorted(ignored_labels or ()),
            "allowed_types": sorted(allowed_types) if allowed_types is not None else None,
            "excluded_types": sorted(excluded_types) if excluded_types is not None else None,
            "max_scope": max_scope,
            "max_targets": max_targets,
            "terminating_types": {k: sorted(v) for k, v in (terminating_types or {}).items()},
            "boundary_categories": sorted(c.upper() for c in boundary_categories),
            "trim_cues": trim_cues,
            "phrase_matcher_attr": phrase_matcher_attr,
            "prune_on_modifier_overlap": prune_on_modifier_overlap,
            "prune_on_target_overlap": prune_on_target_overlap,
            "coordination": coordination,
            "span_attrs": {k.upper(): dict(v) for k, v in (span_attrs or {}).items()},
            "section_attrs": {k: dict(v) for k, v in (section_attrs or {}).items()},
            "ongoing_labels": sorted(ongoing_labels or ()),
            "denied_history": bool(denied_history),
        }
        self._ignored = frozenset(self.cfg["ignored_labels"])
        self._rules_source = rules
        self._rules: List[ContextRule] | None = None
        self._engine: ContextEngine | None = None
        self._abbrevs = frozenset(DEFAULT_ABBREVIATIONS)
        self._warned_missing_group = False
        # The last analysis of each Doc this component annotated, for ``analysis`` (the
        # assertion classifier reads it instead of running ConText a second time); weak, so
        # it lives only as long as the Doc.
        self._analysed: weakref.WeakKeyDictionary[Doc, Tuple[tuple, list]] = weakref.WeakKeyDictionary()
        self.scorer = scorer

    def __getstate__(self) -> Dict[str, Any]:
        state = self.__dict__.copy()
        state["_analysed"] = None  # a cache of live Docs: not picklable, not worth sending
        return state

    def __setstate__(self, state: Dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._analysed = weakref.WeakKeyDictionary()

    def __reduce__(self):
        # spaCy's Pipe is a Cython class whose own __reduce__ pickles __dict__ as is, bypassing __getstate__
        return (_restore_component, (type(self), self.__getstate__()))

    # ------------------------------------------------------------------ rules
    @property
    def rules(self) -> List[ContextRule]:
        """All rules in use: the configured source plus rules added at run time."""
        if self._rules is None:
            # Read lazily: a pipeline loaded from disk gets its rules from from_disk and
            # never needs the file named in its config.
            self._rules = load_rules(self._rules_source)
        return self._rules

    @property
    def categories(self) -> List[str]:
        return sorted({r.category for r in self.rules})

    def add(self, rules: Union[RuleLike, Iterable[RuleLike]]) -> None:
        """Add rules (ContextRule, dicts or medspaCy ConTextRules); ``to_disk`` saves them."""
        if isinstance(rules, (ContextRule, dict)) or hasattr(rules, "direction"):
            rules = [rules]
        new = [coerce_rule(r) for r in rules]
        self.rules.extend(new)
        if self._engine is not None:
            self._engine.add(new)

    def set_rules(self, rules: Iterable[RuleLike]) -> None:
        self._rules = [coerce_rule(r) for r in rules]
        self._engine = None

    @property
    def engine(self) -> ContextEngine:
        if self._engine is None:
            cfg = self.cfg
            self._engine = ContextEngine(
                self.vocab,
                self._tokenizer,
                self.rules,
                phrase_matcher_attr=cfg["phrase_matcher_attr"],
                prune_on_modifier_overlap=cfg["prune_on_modifier_overlap"],
                prune_on_target_overlap=cfg["prune_on_target_overlap"],
                max_scope=cfg["max_scope"],
                max_targets=cfg["max_targets"],
                allowed_types=cfg["allowed_types"],
                excluded_types=cfg["excluded_types"],
                terminating_types=cfg["terminating_types"],
                boundary_categories=cfg["boundary_categories"],
                trim_cues=cfg["trim_cues"],
            )
        return self._engine

    # ------------------------------------------------------------------ processing
    def targets(self, doc: Doc) -> List[Span]:
        """The spans to assert on: ``doc.ents`` and/or ``doc.spans[spans_key]``, deduplicated."""
        spans: List[Span] = []
        key = self.cfg["spans_key"]
        if key is not None:
            if key in doc.spans:
                spans.extend(doc.spans[key])
            elif not self.cfg["include_ents"] and not self._warned_missing_group:
                # e.g. nlp.evaluate on raw texts: nothing to assert on, but say so once
                warnings.warn(ContextErrors.W301.format(key=key, name=self.name), stacklevel=2)
                self._warned_missing_group = True
        if self.cfg["include_ents"]:
            spans.extend(doc.ents)
        seen = set()
        out = []
        for span in spans:
            sig = (span.start, span.end, span.label)
            if sig in seen or span.label_ in self._ignored or not len(span):
                continue
            seen.add(sig)
            out.append(span)
        return out

    @staticmethod
    def _entity_mask(doc: Doc, targets: Sequence[Span]) -> List[bool]:
        """Tokens inside a multi-token target entity: a verb form there modifies a noun
        ("[decreased urine output]"); a one-token entity may be the clause's verb ("[presented]")."""
        mask = [False] * len(doc)
        for span in targets:
            if len(span) < 2:
                continue
            for i in range(span.start, span.end):
                mask[i] = True
        return mask

    def _coordination_mask(self, doc: Doc) -> List[bool]:
        """Tokens that may stand between list items: list words and any entity (ignored labels too)."""
        mask = [t.lower_ in LIST_WORDS for t in doc]
        spans: List[Span] = list(doc.ents)
        key = self.cfg["spans_key"]
        if key is not None and key in doc.spans:
            spans.extend(doc.spans[key])
        for span in spans:
            for i in range(span.start, span.end):
                mask[i] = True
        return mask

    def sentence_starts(self, doc: Doc) -> List[int]:
        if doc.has_annotation("SENT_START"):
            return [s.start for s in doc.sents]
        return clinical_sentence_starts(doc, self._abbrevs)

    def analyze(self, doc: Doc, targets: Sequence[Span]) -> List[Tuple[Dict[str, bool], List[dict]]]:
        """Attribute values and cue records for each target, without writing to the Doc.

        Cue records here carry two extra keys, ``distance`` (tokens between cue and
        target) and ``side`` (``"L"``/``"R"``/``"S"`` for section), which
        ``clinical_assertion`` uses as features; ``__call__`` drops them.
        """
        if not targets:
            return []
        sent_starts = self.sentence_starts(doc)
        engine = self.engine
        mods = engine.modifiers(doc, sent_starts, self._entity_mask(doc, targets))
        coord = self._coordination_mask(doc) if mods and self.cfg["coordination"] else None
        edges = engine.link(mods, targets, sent_starts, coord) if mods else [[] for _ in targets]
        sections = getattr(doc._, SECTIONS_ATTR) if self.cfg["section_attrs"] else []
        section_starts = [s["start"] for s in sections]
        out: List[Tuple[Dict[str, bool], List[dict]]] = []
        cue_chars: Dict[int, Tuple[str, int, int]] = {}
        for target, mods_t in zip(targets, edges, strict=True):
            values: Dict[str, bool] = {}
            cues: List[dict] = []
            for mod in mods_t:
                attrs = self.cfg["span_attrs"].get(mod.rule.category)
                if attrs is None:
                    continue
                for attr, value in attrs.items():
                    values[attr] = values.get(attr, False) or value
                cue = self._cue_record(doc, mod, target, attrs, cue_chars)
                cues.append(cue)
                also = (mod.rule.metadata or {}).get("also_sets")
                if also:
                    # a rule that asserts a second attribute ("pain resolved": absent now and
                    # historical) adds one record per attribute, so each names what it decides
                    for attr, value in also.items():
                        if Span.has_extension(attr):
                            values[attr] = values.get(attr, False) or bool(value)
                            cues.append({**cue, "attribute": attr, "category": ATTR_CATEGORY.get(attr, attr.upper())})
            if sections:
                k = bisect_right(section_starts, target.start_char) - 1
                while k >= 0 and target.start_char >= sections[k]["end"] and sections[k].get("line_scope"):
                    k -= 1  # after a one-line label ("Mother: breast cancer"): the section around it
                if k >= 0 and target.start_char < sections[k]["end"]:
                    section = sections[k]
                    attrs = self.cfg["section_attrs"].get(section["category"])
                    if attrs and attrs.get("is_family") and _patient_subject(doc, target, sent_starts, section["title_end"]):
                        # "FAMILY HISTORY: Father had colon cancer.\nHe has hemorrhoids.": the patient's own
                        attrs = {a: v for a, v in attrs.items() if a != "is_family"}
                    if attrs:
                        for attr, value in attrs.items():
                            values[attr] = values.get(attr, False) or value
                        cues.append(self._section_record(section, attrs))
            cues.sort(key=lambda c: (category_rank(c["category"]), c["distance"]))
            out.append((values, cues))
        if self.cfg["ongoing_labels"]:
            self._ongoing(targets, out)
        if self.cfg["denied_history"]:
            self._denied_history(out)
        return out

    def _denied_history(self, out: List[Tuple[Dict[str, bool], List[dict]]]) -> None:
        """A history that is denied is no history: when every historical cue of a negated target is a
        history-list cue ("history of", "h/o", "known") before it, and a negation cue stands before
        that ("denies any history of", "does not have a history of", "without a history of"), the
        target is absent, not historical. "History of stroke, no residual weakness" keeps both: the
        negation comes after. Edits ``out`` in place."""
        list_rules = self._history_list_rules
        for values, cues in out:
            if not (values.get("is_negated") and values.get("is_historical")):
                continue
            hist = [c for c in cues if c.get("attribute") == "is_historical"]
            if not all(c["source"] == "context" and c["rule"] in list_rules and c["side"] == "L" for c in hist):
                continue
            first = min(c["start"] for c in hist)
            if any(
                c.get("attribute") == "is_negated" and c["source"] == "context" and c["side"] == "L" and c["end"] <= first
                for c in cues
            ):
                values["is_historical"] = False
                cues[:] = [c for c in cues if c.get("attribute") != "is_historical"]

    def _ongoing(self, targets: Sequence[Span], out: List[Tuple[Dict[str, bool], List[dict]]]) -> None:
        """A problem named in a history list is present when the note also names it as a current
        problem (the i2b2 2010 reading, and the visit-notes guideline: "a chronic problem that is
        ongoing ... is not historical, even if it is also listed under PAST MEDICAL HISTORY").

        Only targets whose label is in ``ongoing_labels`` and whose historical cues are all
        history-list cues (a past-history section, or a rule with ``metadata.history_list``:
        "history of", "PMH significant for", "known") are changed; a dated or resolved past
        episode keeps its historical status. "Current" means another mention of the same
        problem (same words up to a plural "s", or one contained in the other: "diabetes" /
        "type 2 diabetes") with no attribute at all. Edits ``out`` in place.
        """
        labels = frozenset(self.cfg["ongoing_labels"])
        list_rules = self._history_list_rules
        current: List[Tuple[str, ...]] = []
        for target, (values, _) in zip(targets, out, strict=True):
            if target.label_ in labels and not any(values.values()):
                current.append(_problem_key(target))
        if not current:
            return
        for target, (values, cues) in zip(targets, out, strict=True):
            if target.label_ not in labels or not values.get("is_historical"):
                continue
            hist = [c for c in cues if c.get("attribute") == "is_historical"]
            if not hist or not all(c["source"] == "section" or c["rule"] in list_rules for c in hist):
                continue
            key = _problem_key(target)
            if any(_same_problem(key, other) for other in current):
                values["is_historical"] = False
                cues[:] = [c for c in cues if c.get("attribute") != "is_historical"]

    @property
    def _history_list_rules(self) -> FrozenSet[str]:
        engine = self.engine
        cached = getattr(self, "_list_rules_cache", None)
        if cached is None or cached[0] is not engine:
            literals = frozenset(r.literal for r in engine.rules if (r.metadata or {}).get("history_list"))
            cached = self._list_rules_cache = (engine, literals)
        return cached[1]

    @staticmethod
    def _signature(doc: Doc, targets: Sequence[Span]) -> tuple:
        return (len(doc), tuple((t.start, t.end, t.label) for t in targets))

    def analysis(self, doc: Doc, targets: Sequence[Span]) -> List[Tuple[Dict[str, bool], List[dict]]]:
        """``analyze``, reusing what this component's ``__call__`` found for the same Doc and
        the same targets (ConText runs once per document however many components read it)."""
        cached = self._analysed.get(doc)
        if cached is not None and cached[0] == self._signature(doc, targets):
            return cached[1]
        return self.analyze(doc, targets)

    def __call__(self, doc: Doc) -> Doc:
        targets = self.targets(doc)
        if not targets:
            return doc
        analysed = self.analyze(doc, targets)
        self._analysed[doc] = (self._signature(doc, targets), analysed)
        results: Dict[Tuple[int, int], Tuple[Dict[str, bool], List[dict]]] = {}
        for target, (values, cues) in zip(targets, analysed, strict=True):
            # spans with the same offsets (two labels) share their extension values
            merged_values, merged_cues = results.setdefault((target.start_char, target.end_char), ({}, []))
            for attr, value in values.items():
                merged_values[attr] = merged_values.get(attr, False) or value
            merged_cues.extend(c for c in cues if c not in merged_cues)
        for (start_char, end_char), (values, cues) in results.items():
            cues = [strip_cue(c) for c in cues]
            label = assertion_class(values, [c["category"] for c in cues])
            write_span_values(doc, start_char, end_char, values, label, cues)
            for attr, value in values.items():
                if attr not in BOOL_ATTRS:  # user-defined attributes from span_attrs
                    doc.user_data[("._.", attr, start_char, end_char)] = value
        return doc

    @staticmethod
    def _cue_record(doc: Doc, mod: Modifier, target: Span, attrs: Dict[str, bool], chars: Dict[int, Tuple[str, int, int]]) -> dict:
        # the cue's text and offsets, once per modifier (a cue may modify hundreds of targets)
        cue = chars.get(id(mod))
        if cue is None:
            span = doc[mod.start : mod.end]
            cue = chars[id(mod)] = (span.text, span.start_char, span.end_char)
        distance = max(target.start - mod.end, mod.start - target.end, 0)
        return {
            "text": cue[0],
            "start": cue[1],
            "end": cue[2],
            "category": mod.rule.category,
            "rule": mod.rule.literal,
            "direction": mod.rule.direction,
            "attribute": next(iter(attrs), None),
            "source": "context",
            "distance": distance,
            "side": "L" if mod.end <= target.start else "R" if mod.start >= target.end else "O",
        }

    @staticmethod
    def _section_record(section: dict, attrs: Dict[str, bool]) -> dict:
        attr = next(iter(attrs), None)
        return {
            "text": section["title"],
            "start": section["title_start"],
            "end": section["title_end"],
            "category": ATTR_CATEGORY.get(attr, str(attr).upper()),
            "rule": f"section:{section['category']}",
            "direction": "SECTION",
            "attribute": attr,
            "source": "section",
            "distance": 10**9,  # a cue in the sentence beats the section header
            "side": "S",
        }

    def initialize(
        self,
        get_examples: Callable[[], Iterable[Example]] | None = None,
        *,
        nlp: Language | None = None,
        rules: List[Dict[str, Any]] | None = None,
        add_rules: List[Dict[str, Any]] | None = None,
    ) -> None:
        """Replace (``rules``) or extend (``add_rules``) the rules from ``[initialize.components.<name>]``."""
        if rules is not None:
            self.set_rules(rules)
        if add_rules:
            self.add(add_rules)
        self.engine  # noqa: B018 - build (and validate) the matchers now

    def score(self, examples: Iterable[Example], **kwargs) -> Dict[str, Any]:
        scorer = self.scorer or score_context
        kwargs.setdefault("spans_key", self.cfg["spans_key"])
        kwargs.setdefault("include_ents", self.cfg["include_ents"])
        return scorer(examples, **kwargs)

    # ------------------------------------------------------------------ serialization
    def _state(self) -> Dict[str, Any]:
        return {"format": FORMAT_VERSION, "cfg": self.cfg, "rules": [r.to_dict() for r in self.rules]}

    def _load_state(self, state: Dict[str, Any]) -> None:
        if state.get("format", FORMAT_VERSION) > FORMAT_VERSION:
            raise ContextRuleError(ContextErrors.E307.format(name=self.name, reason=f"format {state['format']} > {FORMAT_VERSION}"))
        cfg = state.get("cfg", {})
        unknown = set(cfg) - set(self.cfg)
        if unknown:
            raise ContextRuleError(ContextErrors.E307.format(name=self.name, reason=f"unknown settings {sorted(unknown)}"))
        # The saved settings are a record only: the pipeline's config (overrides included) sets them.
        self.set_rules(ContextRule.from_dict(r) for r in state.get("rules", []))

    def to_bytes(self, *, exclude: Sequence[str] = tuple()) -> bytes:
        return srsly.msgpack_dumps(self._state())

    def from_bytes(self, bytes_data: bytes, *, exclude: Sequence[str] = tuple()) -> "ClinicalContext":
        self._load_state(srsly.msgpack_loads(bytes_data))
        return self

    def to_disk(self, path, *, exclude: Sequence[str] = tuple()) -> None:
        path = ensure_path(path)
        path.mkdir(parents=True, exist_ok=True)
        state = self._state()
        srsly.write_json(path / "cfg.json", {"format": state["format"], "cfg": state["cfg"]})
        srsly.write_json(path / "context_rules.json", {"context_rules": state["rules"]})

    def from_disk(self, path, *, exclude: Sequence[str] = tuple()) -> "ClinicalContext":
        path = ensure_path(path)
        state = srsly.read_json(path / "cfg.json") if (path / "cfg.json").exists() else {}
        rules_path = path / "context_rules.json"
        if rules_path.exists():
            state["rules"] = srsly.read_json(rules_path)["context_rules"]
        else:
            state["rules"] = [r.to_dict() for r in self.rules]
        self._load_state(state)
        return self


@Language.factory(
    "clinical_context",
    assigns=[f"span._.{a}" for a in BOOL_ATTRS] + [f"span._.{ASSERTION_ATTR}", "span._.context_cues"],
    default_config={
        "rules": "default",
        "spans_key": None,
        "include_ents": True,
        "ignored_labels": list(MACCROBAT_NON_EVENT_LABELS),
        "allowed_types": None,
        "excluded_types": None,
        "max_scope": None,
        "max_targets": None,
        "terminating_types": {},
        "boundary_categories": ["CLAUSE_BOUNDARY", "FAMILY_BOUNDARY"],
        "trim_cues": True,
        "phrase_matcher_attr": "LOWER",
        "prune_on_modifier_overlap": True,
        "prune_on_target_overlap": False,
        "coordination": True,
        "span_attrs": "default",
        "section_attrs": "default",
        "ongoing_labels": list(ONGOING_LABELS),
        "denied_history": True,
        "scorer": {"@scorers": "spacy-clinical-ner.context_scorer.v1"},
    },
    default_score_weights={
        "context_negated_f": 1.0,
        "context_negated_p": 0.0,
        "context_negated_r": 0.0,
        "context_uncertain_f": 0.0,
        "context_historical_f": None,
        "context_hypothetical_f": None,
        "context_family_f": None,
    },
)
def make_clinical_context(
    nlp: Language,
    name: str,
    rules: str | None,
    spans_key: str | None,
    include_ents: bool,
    ignored_labels: List[str] | None,
    allowed_types: List[str] | None,
    excluded_types: List[str] | None,
    max_scope: int | None,
    max_targets: int | None,
    terminating_types: Dict[str, List[str]],
    boundary_categories: List[str],
    trim_cues: bool,
    phrase_matcher_attr: str,
    prune_on_modifier_overlap: bool,
    prune_on_target_overlap: bool,
    coordination: bool,
    span_attrs: Union[str, Dict[str, Dict[str, bool]], None],
    section_attrs: Union[str, Dict[str, Dict[str, bool]], None],
    ongoing_labels: List[str] | None,
    denied_history: bool,
    scorer: Callable | None,
) -> "ClinicalContext":
    """ConText (negated, uncertain, historical, hypothetical, family) over entities."""
    return ClinicalContext(
        nlp,
        name,
        rules=rules,
        spans_key=spans_key,
        include_ents=include_ents,
        ignored_labels=ignored_labels,
        allowed_types=allowed_types,
        excluded_types=excluded_types,
        max_scope=max_scope,
        max_targets=max_targets,
        terminating_types=terminating_types,
        boundary_categories=boundary_categories,
        trim_cues=trim_cues,
        phrase_matcher_attr=phrase_matcher_attr,
        prune_on_modifier_overlap=prune_on_modifier_overlap,
        prune_on_target_overlap=prune_on_target_overlap,
        coordination=coordination,
        span_attrs=span_attrs,
        section_attrs=section_attrs,
        ongoing_labels=ongoing_labels,
        denied_history=denied_history,
        scorer=scorer,
    )
