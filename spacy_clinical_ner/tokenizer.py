"""A clinical tokenizer: spaCy's English rules plus splits that clinical text needs.

Case reports and notes glue units, operators and reference markers to words
(``mg/dL.``, ``EF=0.20``, ``≥30%``, ``BUCY+ATG``, ``fibers4``, ``μg/24``). With the
stock English rules 151 of MACCROBAT's 19,892 annotations do not fall on token
boundaries; with v1's rules 45 do, with v2's 29 (see ``tests/test_readers.py``; most of the
rest are annotations that end inside a word, "examinatio", "esions"). The rules are saved
with the pipeline; the config names this function, so a loaded pipeline tokenizes exactly
as it was trained.

``v2`` (the configs' tokenizer) adds to ``v1``: parentheses glued to words and results
(``(COX)-deficient``, ``HbsAg(+)``, ``angle.(Fig``), reference markers after capitals and
brackets (``AVED.4``, ``risk[4]``), en and em dashes in ranges like hyphens (``3–4 days``,
``L4–5``), ``∼`` like ``~``, a negative marker status like a positive one (``HER2-`` as
``HER2+``), ``HR:88``, and keeps ``s/p``, ``h/o``, ``n/a`` ... whole; it drops spaCy's
emoticon exceptions, which glued ``<3`` and ``8)`` together.
"""

import re
from typing import Callable, Dict, Iterable, List

from spacy.attrs import ORTH
from spacy.lang.tokenizer_exceptions import emoticons
from spacy.language import Language
from spacy.tokenizer import Tokenizer
from spacy.util import compile_infix_regex, compile_prefix_regex, compile_suffix_regex, registry

_SINGLE_LETTER = re.compile(r"^[a-z]\.$")
# Characters that are operators in lab values and scores, never part of a word.
_OPERATORS = r"=+<>≤≥±~×"

EXTRA_PREFIXES = [r"[≤≥<>±~]", r"\["]
EXTRA_SUFFIXES = [
    # a full stop after any letter, digit, unit or percent sign ("mg/dL." "H2O." "4.5%.")
    r"(?<=[A-Za-zµμ0-9%°)\]])\.",
    # reference markers glued to a word ("fibers4", "metastases.3" after the split above)
    r"(?<=[a-z]{4})[0-9]{1,2}",
    r"(?<=[a-z][\.,\)])[0-9]{1,2}",
    r"(?<=[\.,])\[[0-9,\-–]+\]?",
]
EXTRA_INFIXES = [
    r"/",
    rf"[{_OPERATORS}]",
    r"(?<=[A-Za-z])\((?=[A-Za-z])",
    r"(?<=[A-Za-z])[,\.](?=\[)",
]


# v2: see the module docstring. v1's lists above stay as they were (pipelines name their version).
_OPERATORS_V2 = _OPERATORS + "∼"
V2_PREFIXES = [r"[≤≥<>±~∼]", r"\["]
V2_SUFFIXES = [
    r"(?<=[A-Za-zµμ0-9%°)\]])\.",
    r"(?<=[a-z]{4})[0-9]{1,2}",
    # reference markers after any word, a closing bracket too ("AVED.4", "consensus),13")
    r"(?<=[A-Za-z\)][\.,\)])[0-9]{1,2}",
    r"(?<=[\.,])\[[0-9,\-–]+\]?",
    # a negative marker status, as "+" is split ("HER2-", "CD19−")
    r"(?<=[A-Z0-9])[-−]",
]
V2_INFIXES = [
    r"/",
    rf"[{_OPERATORS_V2}]",
    r"(?<=[A-Za-z0-9])\((?=[A-Za-z0-9+\-−])",
    r"(?<=[A-Za-z])[,\.](?=[\[\(])",
    r"(?<=[A-Za-z0-9])\)(?=-)",
    r"(?<=\))-(?=[A-Za-z])",
    r"(?<=[a-z])\[(?=[0-9])",
    r"(?<=[A-Za-z0-9])[–—](?=[0-9])",
    r"(?<=[A-Za-z]):(?=[0-9])",
    r"(?<=[A-Z0-9])[-−](?=/)",
]
#: Slash abbreviations kept as one token (the "/" infix would split them).
SLASH_ABBREVIATIONS = ("s/p", "h/o", "c/o", "n/a", "y/o", "r/o", "d/c", "f/u", "b/l", "w/u")


def _build(
    nlp: Language,
    prefixes: List[str],
    suffixes: List[str],
    infixes: List[str],
    drop: Callable[[str], bool],
    whole: Iterable[str] = (),
) -> Tokenizer:
    defaults = nlp.Defaults
    rules: Dict[str, list] = {k: v for k, v in (defaults.tokenizer_exceptions or {}).items() if not drop(k)}
    for text in whole:
        for variant in (text, text.upper()):
            rules[variant] = [{ORTH: variant}]
    return Tokenizer(
        nlp.vocab,
        rules=rules,
        prefix_search=compile_prefix_regex(list(defaults.prefixes or []) + prefixes).search,
        suffix_search=compile_suffix_regex(suffixes + list(defaults.suffixes or [])).search,
        infix_finditer=compile_infix_regex(list(defaults.infixes or []) + infixes).finditer,
        token_match=defaults.token_match,
        url_match=defaults.url_match,
    )


@registry.tokenizers("spacy-clinical-ner.ClinicalTokenizer.v1")
def create_clinical_tokenizer() -> Callable[[Language], Tokenizer]:
    """English tokenizer with clinical prefixes, suffixes and infixes added (the first rule set)."""

    def make_tokenizer(nlp: Language) -> Tokenizer:
        # Single-letter abbreviations ("l.", "d.") are units at a sentence end in
        # clinical text ("98 μmol/l."), far more often than initials.
        return _build(nlp, EXTRA_PREFIXES, EXTRA_SUFFIXES, EXTRA_INFIXES, drop=lambda k: bool(_SINGLE_LETTER.match(k)))

    return make_tokenizer


@registry.tokenizers("spacy-clinical-ner.ClinicalTokenizer.v2")
def create_clinical_tokenizer_v2() -> Callable[[Language], Tokenizer]:
    """v1 plus the splits in the module docstring; spaCy's emoticon exceptions dropped."""

    def make_tokenizer(nlp: Language) -> Tokenizer:
        return _build(
            nlp,
            V2_PREFIXES,
            V2_SUFFIXES,
            V2_INFIXES,
            drop=lambda k: bool(_SINGLE_LETTER.match(k)) or k in emoticons,
            whole=SLASH_ABBREVIATIONS,
        )

    return make_tokenizer


def clinical_blank(lang: str = "en") -> Language:
    """A blank pipeline with the clinical tokenizer (for readers, tests and scripts)."""
    import spacy

    return spacy.blank(lang, config={"nlp": {"tokenizer": {"@tokenizers": "spacy-clinical-ner.ClinicalTokenizer.v2"}}})
