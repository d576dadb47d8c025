"""ConText rules as data: validated, JSON-compatible with medspaCy's ``context_rules.json``.

A rule file is ``{"context_rules": [ {...}, ... ]}`` (medspaCy's format) or JSONL with one
rule per line. Each rule takes medspaCy's keys

* ``literal`` (the rule's name; matched as a phrase when ``pattern`` is absent),
* ``category`` (``NEGATED_EXISTENCE``, ``POSSIBLE_EXISTENCE``, ``HISTORICAL``,
  ``HYPOTHETICAL``, ``FAMILY``, ``CONDITIONAL_EXISTENCE`` or any category of your own),
* ``direction`` (``FORWARD``, ``BACKWARD``, ``BIDIRECTIONAL``, ``TERMINATE``, ``PSEUDO``),
* ``pattern`` (a spaCy token pattern – a list of dicts – or a regular expression string),
* ``allowed_types`` / ``excluded_types`` (target labels), ``max_scope`` (tokens),
  ``max_targets``, ``metadata``,

plus ``terminated_by`` (categories that end this rule's scope), which medspaCy accepts
in Python but drops when it writes JSON. Files written by medspaCy load unchanged, and
:func:`to_medspacy` turns rules back into ``medspacy.context.ConTextRule`` objects.
"""

from __future__ import annotations

import json
import re
from importlib import resources
from pathlib import Path
from typing import Any, Dict, Iterable, List, Sequence, Union

import srsly

from ..errors import missing_extra
from .errors import ContextErrors, ContextRuleError

DIRECTIONS = ("FORWARD", "BACKWARD", "BIDIRECTIONAL", "TERMINATE", "PSEUDO")
RULE_KEYS = (
    "literal",
    "category",
    "direction",
    "pattern",
    "allowed_types",
    "excluded_types",
    "max_scope",
    "max_targets",
    "terminated_by",
    "metadata",
)
#: Package resources (read with importlib.resources, never relative to site-packages).
DEFAULT_RULES_RESOURCE = "context_rules.json"
MEDSPACY_RULES_RESOURCE = "medspacy_context_rules.json"


class ContextRule:
    """One ConText rule. Plain data; ``to_dict``/``from_dict`` round-trip exactly."""

    __slots__ = RULE_KEYS

    def __init__(
        self,
        literal: str,
        category: str,
        direction: str = "BIDIRECTIONAL",
        pattern: Union[str, List[Dict[str, Any]]] | None = None,
        allowed_types: Iterable[str] | None = None,
        excluded_types: Iterable[str] | None = None,
        max_scope: int | None = None,
        max_targets: int | None = None,
        terminated_by: Iterable[str] | None = None,
        metadata: Dict[str, Any] | None = None,
    ):
        def fail(reason: str) -> ContextRuleError:
            return ContextRuleError(ContextErrors.E301.format(rule=literal, reason=reason))

        if not isinstance(literal, str) or not literal.strip():
            raise fail("'literal' must be a non-empty string")
        if not isinstance(category, str) or not category.strip():
            raise fail("'category' must be a non-empty string")
        if not isinstance(direction, str) or direction.upper() not in DIRECTIONS:
            raise fail(f"'direction' must be one of {DIRECTIONS}, not {direction!r}")
        if pattern is not None:
            if isinstance(pattern, str):
                if not pattern:
                    raise fail("a regular-expression 'pattern' must not be empty")
                try:
                    re.compile(pattern)
                except re.error as err:
                    raise fail(f"'pattern' is not a valid regular expression ({err})") from None
            elif not (isinstance(pattern, list) and pattern and all(isinstance(p, dict) for p in pattern)):
                raise fail("'pattern' must be a list of token dicts or a regular-expression string")
            else:
                problems = token_pattern_problems(pattern)
                if problems:
                    raise fail(f"'pattern' is not a valid spaCy token pattern: {problems}")
        if allowed_types is not None and excluded_types is not None:
            raise fail("only one of 'allowed_types' and 'excluded_types' may be given")
        for key, value in (("max_scope", max_scope), ("max_targets", max_targets)):
            if value is not None and (not isinstance(value, int) or isinstance(value, bool) or value <= 0):
                raise fail(f"'{key}' must be a positive integer or null, not {value!r}")
        if isinstance(terminated_by, str):
            raise fail("'terminated_by' must be a list of categories, not a string")
        self.literal = literal
        self.category = category.upper()
        self.direction = direction.upper()
        self.pattern = pattern
        self.allowed_types = frozenset(t.upper() for t in allowed_types) if allowed_types is not None else None
        self.excluded_types = frozenset(t.upper() for t in excluded_types) if excluded_types is not None else None
        self.max_scope = max_scope
        self.max_targets = max_targets
        self.terminated_by = frozenset(t.upper() for t in terminated_by or ())
        self.metadata = dict(metadata) if metadata else None

    @classmethod
    def from_dict(cls, data: Dict[str, Any]) -> ContextRule:
        if not isinstance(data, dict):
            raise ContextRuleError(ContextErrors.E301.format(rule=data, reason="a rule must be a JSON object"))
        unknown = set(data) - set(RULE_KEYS)
        if unknown:
            raise ContextRuleError(
                ContextErrors.E301.format(
                    rule=data.get("literal", data), reason=f"unknown keys {sorted(unknown)}; allowed: {list(RULE_KEYS)}"
                )
            )
        missing = {"literal", "category"} - set(data)
        if missing:
            raise ContextRuleError(ContextErrors.E301.format(rule=data, reason=f"missing keys {sorted(missing)}"))
        return cls(**data)

    def to_dict(self) -> Dict[str, Any]:
        """A plain, JSON-safe dict with only the keys that are set (sorted type lists)."""
        out: Dict[str, Any] = {"literal": self.literal, "category": self.category, "direction": self.direction}
        if self.pattern is not None:
            out["pattern"] = self.pattern
        if self.allowed_types is not None:
            out["allowed_types"] = sorted(self.allowed_types)
        if self.excluded_types is not None:
            out["excluded_types"] = sorted(self.excluded_types)
        for key in ("max_scope", "max_targets"):
            if getattr(self, key) is not None:
                out[key] = getattr(self, key)
        if self.terminated_by:
            out["terminated_by"] = sorted(self.terminated_by)
        if self.metadata:
            out["metadata"] = self.metadata
        return out

    @classmethod
    def from_medspacy(cls, rule: Any) -> ContextRule:
        """Convert a ``medspacy.context.ConTextRule`` (callbacks cannot be saved and are refused)."""
        if getattr(rule, "on_match", None) is not None or getattr(rule, "on_modifies", None) is not None:
            raise ContextRuleError(
                ContextErrors.E301.format(rule=rule.literal, reason="on_match/on_modifies callbacks cannot be saved with a pipeline")
            )
        return cls(
            literal=rule.literal,
            category=rule.category,
            direction=rule.direction,
            pattern=rule.pattern,
            allowed_types=rule.allowed_types,
            excluded_types=rule.excluded_types,
            max_scope=rule.max_scope,
            max_targets=rule.max_targets,
            terminated_by=rule.terminated_by,
            metadata=rule.metadata,
        )

    def to_medspacy(self) -> Any:
        try:
            from medspacy.context import ConTextRule
        except ModuleNotFoundError as err:  # pip install 'spacy-clinical-ner[medspacy]'
            raise missing_extra("ContextRule.to_medspacy", err) from None

        return ConTextRule(
            literal=self.literal,
            category=self.category,
            pattern=self.pattern,
            direction=self.direction,
            allowed_types=set(self.allowed_types) if self.allowed_types is not None else None,
            excluded_types=set(self.excluded_types) if self.excluded_types is not None else None,
            max_scope=self.max_scope,
            max_targets=self.max_targets,
            terminated_by=set(self.terminated_by) or None,
            metadata=self.metadata,
        )

    def allows(self, label: str) -> bool:
        if self.allowed_types is not None:
            return label in self.allowed_types
        if self.excluded_types is not None:
            return label not in self.excluded_types
        return True

    def __eq__(self, other: object) -> bool:
        return isinstance(other, ContextRule) and self.to_dict() == other.to_dict()

    def __hash__(self) -> int:
        return hash(json.dumps(self.to_dict(), sort_keys=True))

    def __repr__(self) -> str:
        return f"ContextRule(literal={self.literal!r}, category={self.category!r}, direction={self.direction!r})"


RuleLike = Union[ContextRule, Dict[str, Any], Any]


def coerce_rule(rule: RuleLike) -> ContextRule:
    """A ContextRule from a ContextRule, a dict or a medspaCy ConTextRule."""
    if isinstance(rule, ContextRule):
        return rule
    if isinstance(rule, dict):
        return ContextRule.from_dict(rule)
    if hasattr(rule, "literal") and hasattr(rule, "direction") and hasattr(rule, "category"):
        return ContextRule.from_medspacy(rule)
    raise ContextRuleError(
        ContextErrors.E301.format(rule=rule, reason=f"expected a ContextRule, a dict or a medspaCy ConTextRule, not {type(rule).__name__}")
    )


def rules_from_data(data: Any, source: str = "<data>") -> List[ContextRule]:
    """Rules from parsed JSON: ``{"context_rules": [...]}`` or a plain list of rule dicts."""
    if isinstance(data, dict):
        if "context_rules" not in data:
            raise ContextRuleError(ContextErrors.E302.format(path=source, reason="expected a 'context_rules' key"))
        data = data["context_rules"]
    if not isinstance(data, list):
        raise ContextRuleError(ContextErrors.E302.format(path=source, reason="expected a list of rules"))
    return [ContextRule.from_dict(item) for item in data]


def read_rules(path: Union[str, Path]) -> List[ContextRule]:
    """Read rules from a medspaCy-style JSON file or a JSONL file (one rule per line)."""
    path = Path(path)
    if not path.exists():
        raise ContextRuleError(ContextErrors.E302.format(path=path, reason="no such file"))
    try:
        if path.suffix == ".jsonl":
            return rules_from_data(list(srsly.read_jsonl(path)), str(path))
        return rules_from_data(srsly.read_json(path), str(path))
    except ValueError as err:
        if isinstance(err, ContextRuleError):
            raise
        raise ContextRuleError(ContextErrors.E302.format(path=path, reason=err)) from err


def write_rules(rules: Sequence[ContextRule], path: Union[str, Path]) -> None:
    srsly.write_json(path, {"context_rules": [r.to_dict() for r in rules]})


def _resource_rules(name: str) -> List[ContextRule]:
    text = resources.files(__package__).joinpath("resources", name).read_text(encoding="utf8")
    return rules_from_data(json.loads(text), f"spacy_clinical_ner.context/resources/{name}")


def default_rules() -> List[ContextRule]:
    """The shipped clinical rules: medspaCy's English rules, revised and extended for clinical text."""
    return _resource_rules(DEFAULT_RULES_RESOURCE)


def medspacy_rules() -> List[ContextRule]:
    """medspaCy 1.3.1's 102 English ConText rules, unchanged (MIT license, see resources/LICENSE-medspacy)."""
    return _resource_rules(MEDSPACY_RULES_RESOURCE)


def load_rules(source: Union[str, Path, None]) -> List[ContextRule]:
    """``"default"``, ``"medspacy"``, ``"none"``/``None``/``""`` or the path of a rules file."""
    if source is None or str(source).lower() in ("none", ""):
        return []
    if str(source) == "default":
        return default_rules()
    if str(source) == "medspacy":
        return medspacy_rules()
    return read_rules(source)


def check_matcher_attr(name: str, attr: str) -> None:
    """E304 at construction for a ``phrase_matcher_attr`` that spaCy's PhraseMatcher cannot use
    (instead of spaCy's E152 on the first document)."""
    from spacy.attrs import IDS

    if not isinstance(attr, str) or attr.upper() not in IDS or attr.upper() == "NULL_ATTR":
        raise ContextRuleError(
            ContextErrors.E304.format(name=name, reason=f"phrase_matcher_attr {attr!r} is not a token attribute (e.g. LOWER, ORTH, NORM)")
        )


def token_pattern_problems(pattern: List[Dict[str, Any]]) -> List[str]:
    """What spaCy's Matcher would reject in ``pattern`` (checked when the rule is read, not at the first document)."""
    from spacy.schemas import validate_token_pattern

    return validate_token_pattern(pattern)
