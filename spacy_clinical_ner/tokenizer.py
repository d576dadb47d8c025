"""A clinical tokenizer: spaCy's English rules plus splits that clinical text needs.

Case reports and notes glue units, operators and reference markers to words
(``mg/dL.``, ``EF=0.20``, ``≥30%``, ``BUCY+ATG``, ``fibers4``, ``μg/24``). With the
stock English rules 151 of MACCROBAT's 19,892 annotations do not fall on token
boundaries; with these rules far fewer do (see ``tests/test_readers.py``). The rules
are saved with the pipeline; the config names this function, so a loaded pipeline
tokenizes exactly as it was trained.
"""

import re
from typing import Callable

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


@registry.tokenizers("spacy-clinical-ner.ClinicalTokenizer.v1")
def create_clinical_tokenizer() -> Callable[[Language], Tokenizer]:
    """English tokenizer with clinical prefixes, suffixes and infixes added."""

    def make_tokenizer(nlp: Language) -> Tokenizer:
        defaults = nlp.Defaults
        prefixes = list(defaults.prefixes or []) + EXTRA_PREFIXES
        suffixes = EXTRA_SUFFIXES + list(defaults.suffixes or [])
        infixes = list(defaults.infixes or []) + EXTRA_INFIXES
        # Single-letter abbreviations ("l.", "d.") are units at a sentence end in
        # clinical text ("98 μmol/l."), far more often than initials.
        rules = {k: v for k, v in (defaults.tokenizer_exceptions or {}).items() if not _SINGLE_LETTER.match(k)}
        return Tokenizer(
            nlp.vocab,
            rules=rules,
            prefix_search=compile_prefix_regex(prefixes).search,
            suffix_search=compile_suffix_regex(suffixes).search,
            infix_finditer=compile_infix_regex(infixes).finditer,
            token_match=defaults.token_match,
            url_match=defaults.url_match,
        )

    return make_tokenizer


def clinical_blank(lang: str = "en") -> Language:
    """A blank pipeline with the clinical tokenizer (for readers, tests and scripts)."""
    import spacy

    return spacy.blank(lang, config={"nlp": {"tokenizer": {"@tokenizers": "spacy-clinical-ner.ClinicalTokenizer.v1"}}})
