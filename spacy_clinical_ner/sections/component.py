"""``clinical_sectionizer``: section headers of clinical notes, saved with the pipeline.

Rules are medspaCy's section-rule format (``{"section_rules": [{"literal", "category",
"pattern"?, "parents"?, "parent_required"?, "max_scope"?, "metadata"?}]}``). A match
counts as a header only where a header can be: at the start of a line (or of the text)
and followed by a colon or a line break (``require_start_line`` / ``require_end``);
"a strong family history of ataxia" in running text is not a section.

Output, plain data: ``doc._.clinical_sections`` – one dict per section, in order,
``{"category", "title", "title_start", "title_end", "start", "end", "parent"}`` with
character offsets (``start`` = header start, ``end`` = start of the next header or the end
of the text) – and ``span._.clinical_section`` (the category a span starts in).

``clinical_context`` turns sections into attributes (``section_attrs``: a "Family history:"
section sets ``is_family``) and records the header as the deciding cue.

Placed before ``ner``, the sectionizer also blocks layout tokens (section titles, bullets,
label colons, reporting verbs) for the entity recognizer: ``block_*`` settings, see :mod:`.blocking`.
"""

import json
from importlib import resources
from pathlib import Path
from typing import Any, Callable, Dict, Iterable, List, Union

import srsly
from spacy.language import Language
from spacy.matcher import Matcher, PhraseMatcher
from spacy.pipeline import Pipe
from spacy.tokens import Doc
from spacy.util import ensure_path

from ..context.attributes import SECTIONS_ATTR, install_context_extensions
from ..context.errors import ContextErrors, ContextRuleError
from ..context.rules import check_matcher_attr, token_pattern_problems
from .blocking import REPORTING_VERBS, block_tokens
from .layout import line_end, line_starts_before

SECTION_RULE_KEYS = ("literal", "category", "pattern", "parents", "parent_required", "max_scope", "metadata")
DEFAULT_SECTION_RESOURCE = "section_rules.json"
MEDSPACY_SECTION_RESOURCE = "medspacy_section_rules.json"


def _check_section_rule(rule: Any) -> Dict[str, Any]:
    if not isinstance(rule, dict):
        raise ContextRuleError(ContextErrors.E306.format(rule=rule, reason="a rule must be a JSON object"))
    unknown = set(rule) - set(SECTION_RULE_KEYS)
    if unknown:
        raise ContextRuleError(ContextErrors.E306.format(rule=rule.get("literal", rule), reason=f"unknown keys {sorted(unknown)}"))
    for key in ("literal", "category"):
        if not isinstance(rule.get(key), str) or not rule[key].strip():
            raise ContextRuleError(ContextErrors.E306.format(rule=rule, reason=f"'{key}' must be a non-empty string"))
    pattern = rule.get("pattern")
    if pattern is not None and not (isinstance(pattern, list) and pattern and all(isinstance(p, dict) for p in pattern)):
        raise ContextRuleError(ContextErrors.E306.format(rule=rule["literal"], reason="'pattern' must be a list of token dicts"))
    problems = token_pattern_problems(pattern) if pattern is not None else []
    if problems:
        reason = f"'pattern' is not a valid spaCy token pattern: {problems}"
        raise ContextRuleError(ContextErrors.E306.format(rule=rule["literal"], reason=reason))
    if rule.get("parent_required") and not rule.get("parents"):
        raise ContextRuleError(ContextErrors.E306.format(rule=rule["literal"], reason="'parent_required' needs 'parents'"))
    max_scope = rule.get("max_scope")
    if max_scope is not None and (not isinstance(max_scope, int) or max_scope <= 0):
        raise ContextRuleError(ContextErrors.E306.format(rule=rule["literal"], reason="'max_scope' must be a positive integer"))
    return {k: rule[k] for k in SECTION_RULE_KEYS if rule.get(k) is not None}


def section_rules_from_data(data: Any, source: str = "<data>") -> List[Dict[str, Any]]:
    if isinstance(data, dict):
        data = data.get("section_rules")
    if not isinstance(data, list):
        raise ContextRuleError(ContextErrors.E302.format(path=source, reason="expected {'section_rules': [...]} or a list"))
    return [_check_section_rule(r) for r in data]


def load_section_rules(source: Union[str, Path, None]) -> List[Dict[str, Any]]:
    """``"default"``, ``"medspacy"``, ``"none"``/``None`` or the path of a JSON/JSONL rules file."""
    if source is None or str(source).lower() in ("none", ""):
        return []
    if str(source) in ("default", "medspacy"):
        name = DEFAULT_SECTION_RESOURCE if str(source) == "default" else MEDSPACY_SECTION_RESOURCE
        text = resources.files(__package__).joinpath("resources", name).read_text(encoding="utf8")
        return section_rules_from_data(json.loads(text), name)
    path = Path(source)
    if not path.exists():
        raise ContextRuleError(ContextErrors.E302.format(path=path, reason="no such file"))
    data = list(srsly.read_jsonl(path)) if path.suffix == ".jsonl" else srsly.read_json(path)
    return section_rules_from_data(data, str(path))


#: Sentence-end punctuation after which a known header may open a section in mid-line
#: ("Family History: Mother with HTN. Social History: Patient smokes.").
SENT_END = frozenset(".!?")


def _header_after_sentence(doc: Doc, start: int, end: int) -> bool:
    """A capitalised header match that follows sentence-end punctuation and is followed by a colon."""
    if start == 0 or not doc[start].text[:1].isupper():
        return False
    if not ((end < len(doc) and doc[end].text == ":") or doc[end - 1].text == ":"):
        return False
    prev = start - 1
    while prev > 0 and doc[prev].is_space:
        prev -= 1
    return doc[prev].text in SENT_END


def _line_scoped(rule: Dict[str, Any]) -> bool:
    """A rule whose section is one line ("Mother: breast cancer"): ``metadata.line_scope``."""
    return bool((rule.get("metadata") or {}).get("line_scope"))


class ClinicalSectionizer(Pipe):
    """Finds section headers and writes ``doc._.clinical_sections``."""

    def __init__(
        self,
        nlp: Language,
        name: str = "clinical_sectionizer",
        *,
        rules: str | None = "default",
        phrase_matcher_attr: str = "LOWER",
        require_start_line: bool = True,
        require_end: bool = True,
        max_section_length: int | None = None,
        block_titles: bool = True,
        block_bullets: bool = True,
        block_label_colons: bool = True,
        block_words: Iterable[str] = REPORTING_VERBS,
    ):
        install_context_extensions()
        if max_section_length is not None and max_section_length <= 0:
            raise ContextRuleError(ContextErrors.E304.format(name=name, reason="max_section_length must be positive or null"))
        if isinstance(block_words, str) or not all(isinstance(w, str) and w.strip() for w in block_words):
            raise ContextRuleError(ContextErrors.E304.format(name=name, reason="block_words must be a list of non-empty words"))
        check_matcher_attr(name, phrase_matcher_attr)
        if rules is not None and str(rules).lower() not in ("default", "medspacy", "none", "") and not Path(rules).is_file():
            raise ContextRuleError(
                ContextErrors.E302.format(path=rules, reason="no such file (rules = 'default', 'medspacy', 'none' or a path)")
            )
        self.name = name
        self.vocab = nlp.vocab
        self._tokenizer = nlp.tokenizer
        self.cfg: Dict[str, Any] = {
            "phrase_matcher_attr": phrase_matcher_attr,
            "require_start_line": require_start_line,
            "require_end": require_end,
            "max_section_length": max_section_length,
            "block_titles": block_titles,
            "block_bullets": block_bullets,
            "block_label_colons": block_label_colons,
            "block_words": sorted({str(w).lower() for w in block_words}),
        }
        self._rules_source = rules
        self._rules: List[Dict[str, Any]] | None = None
        self._added: List[Dict[str, Any]] = []
        self._matchers: tuple | None = None

    # ------------------------------------------------------------------ rules
    @property
    def rules(self) -> List[Dict[str, Any]]:
        if self._rules is None:
            self._rules = load_section_rules(self._rules_source)
        return self._rules

    def add(self, rules: Union[Dict[str, Any], Iterable[Dict[str, Any]]]) -> None:
        """Add section rules at run time (they are saved by ``to_disk``)."""
        if isinstance(rules, dict):
            rules = [rules]
        checked = [_check_section_rule(r) for r in rules]
        self.rules.extend(checked)
        self._matchers = None

    def _build(self) -> tuple:
        matcher = Matcher(self.vocab)
        phrase = PhraseMatcher(self.vocab, attr=self.cfg["phrase_matcher_attr"])
        by_key: Dict[int, int] = {}
        for idx, rule in enumerate(self.rules):
            key = f"clinical_section_rule_{idx}"
            by_key[self.vocab.strings.add(key)] = idx
            if rule.get("pattern"):
                matcher.add(key, [rule["pattern"]])
            else:
                literal = rule["literal"].rstrip().rstrip(":").rstrip()
                text = literal.lower() if self.cfg["phrase_matcher_attr"].upper() == "LOWER" else literal
                phrase.add(key, [self._tokenizer(text)])
        return matcher, phrase, by_key

    # ------------------------------------------------------------------ processing
    def find_sections(self, doc: Doc) -> List[Dict[str, Any]]:
        if self._matchers is None:
            self._matchers = self._build()
        matcher, phrase, by_key = self._matchers
        found = [(by_key[k], s, e) for k, s, e in (list(matcher(doc)) if len(matcher) else []) + (list(phrase(doc)) if len(phrase) else [])]
        # longest header first at each start, no overlapping headers
        found.sort(key=lambda m: (m[1], -(m[2] - m[1])))
        headers = []
        last_end = -1
        for idx, start, end in found:
            if start < last_end:
                continue
            if self.cfg["require_start_line"] and not line_starts_before(doc, start) and not _header_after_sentence(doc, start, end):
                continue
            title_end = end
            if title_end < len(doc) and doc[title_end].text == ":":
                title_end += 1
            elif self.cfg["require_end"]:
                ends_line = (
                    title_end == len(doc)
                    or "\n" in doc[title_end - 1].whitespace_
                    or (doc[title_end].is_space and "\n" in doc[title_end].text)
                )
                if not ends_line and doc[end - 1].text != ":":
                    continue
            headers.append((idx, start, title_end))
            last_end = title_end
        sections: List[Dict[str, Any]] = []
        for n, (idx, start, title_end) in enumerate(headers):
            rule = self.rules[idx]
            parent = None
            if rule.get("parents"):
                for prev in reversed(sections):
                    if prev["category"] in rule["parents"]:
                        parent = prev["category"]
                        break
                if parent is None and rule.get("parent_required"):
                    continue
            line_scope = _line_scoped(rule)
            # a one-line label ("Mother: breast cancer") does not end the section around it
            following = [h[1] for h in headers[n + 1 :] if line_scope or not _line_scoped(self.rules[h[0]])]
            end_tok = following[0] if following else len(doc)
            if line_scope:
                end_tok = min(end_tok, line_end(doc, title_end))
            limit = rule.get("max_scope") or self.cfg["max_section_length"]
            if limit is not None:
                end_tok = min(end_tok, title_end + limit)
            sections.append(
                {
                    "category": rule["category"],
                    "title": doc[start:title_end].text,
                    "title_start": doc[start].idx,
                    "title_end": doc[title_end - 1].idx + len(doc[title_end - 1]),
                    "start": doc[start].idx,
                    "end": doc[end_tok - 1].idx + len(doc[end_tok - 1]) if end_tok > start else doc[start].idx,
                    "parent": parent,
                    "rule": rule["literal"],
                }
            )
            if line_scope:
                sections[-1]["line_scope"] = True
        return sections

    def __call__(self, doc: Doc) -> Doc:
        sections = self.find_sections(doc) if len(doc) else []
        setattr(doc._, SECTIONS_ATTR, sections)
        # a relative as a one-line label ("Mother: breast cancer") is an entity (Subject), not a title
        titles = [s for s in sections if not s.get("line_scope")] if self.cfg.get("block_titles", True) else []
        block_tokens(
            doc,
            titles,
            bullets=self.cfg.get("block_bullets", True),
            label_colons=self.cfg.get("block_label_colons", True),
            words=self.cfg.get("block_words", REPORTING_VERBS),
        )
        return doc

    def initialize(
        self, get_examples: Callable | None = None, *, nlp: Language | None = None, rules: List[Dict[str, Any]] | None = None
    ) -> None:
        """Optionally replace the rules (``[initialize.components.<name>.rules]``)."""
        if rules is not None:
            self._rules = [_check_section_rule(r) for r in rules]
            self._matchers = None

    # ------------------------------------------------------------------ serialization
    def _state(self) -> Dict[str, Any]:
        return {"cfg": self.cfg, "rules": self.rules}

    def _load_state(self, state: Dict[str, Any]) -> None:
        # The saved settings are a record only: the pipeline's config (overrides included) sets them.
        self._rules = [_check_section_rule(r) for r in state.get("rules", [])]
        self._matchers = None

    def to_bytes(self, *, exclude=tuple()) -> bytes:
        return srsly.msgpack_dumps(self._state())

    def from_bytes(self, bytes_data: bytes, *, exclude=tuple()) -> "ClinicalSectionizer":
        self._load_state(srsly.msgpack_loads(bytes_data))
        return self

    def to_disk(self, path, *, exclude=tuple()) -> None:
        path = ensure_path(path)
        path.mkdir(parents=True, exist_ok=True)
        srsly.write_json(path / "cfg.json", self.cfg)
        srsly.write_json(path / "section_rules.json", {"section_rules": self.rules})

    def from_disk(self, path, *, exclude=tuple()) -> "ClinicalSectionizer":
        path = ensure_path(path)
        cfg = srsly.read_json(path / "cfg.json") if (path / "cfg.json").exists() else {}
        rules = srsly.read_json(path / "section_rules.json")["section_rules"] if (path / "section_rules.json").exists() else self.rules
        self._load_state({"cfg": cfg, "rules": rules})
        return self


@Language.factory(
    "clinical_sectionizer",
    assigns=["doc._.clinical_sections", "token.ent_iob"],
    default_config={
        "rules": "default",
        "phrase_matcher_attr": "LOWER",
        "require_start_line": True,
        "require_end": True,
        "max_section_length": None,
        "block_titles": True,
        "block_bullets": True,
        "block_label_colons": True,
        "block_words": list(REPORTING_VERBS),
    },
)
def make_clinical_sectionizer(
    nlp: Language,
    name: str,
    rules: str | None,
    phrase_matcher_attr: str,
    require_start_line: bool,
    require_end: bool,
    max_section_length: int | None,
    block_titles: bool,
    block_bullets: bool,
    block_label_colons: bool,
    block_words: List[str],
) -> "ClinicalSectionizer":
    """Section headers (medspaCy's rules plus visit-note headers), saved with the pipeline."""
    return ClinicalSectionizer(
        nlp,
        name,
        rules=rules,
        phrase_matcher_attr=phrase_matcher_attr,
        require_start_line=require_start_line,
        require_end=require_end,
        max_section_length=max_section_length,
        block_titles=block_titles,
        block_bullets=block_bullets,
        block_label_colons=block_label_colons,
        block_words=block_words,
    )
