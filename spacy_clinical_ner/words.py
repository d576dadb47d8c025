"""Word lists that the rule-based components ship as data, like their rules.

Each subpackage keeps its lists in ``resources/word_lists.json`` (``{"name": ["word", ...]}``);
the module that uses a list says what it is for, next to the name it binds it to.
"""

import json
from importlib import resources
from typing import Dict, List

WORD_LISTS_RESOURCE = "word_lists.json"


def load_word_lists(package: str) -> Dict[str, List[str]]:
    """The word lists of ``package`` (e.g. ``"spacy_clinical_ner.context"``), read with ``importlib.resources``."""
    text = resources.files(package).joinpath("resources", WORD_LISTS_RESOURCE).read_text(encoding="utf8")
    data = json.loads(text)
    if not isinstance(data, dict) or not all(isinstance(v, list) and all(isinstance(w, str) for w in v) for v in data.values()):
        raise ValueError(f"{package}/resources/{WORD_LISTS_RESOURCE}: expected {{name: [word, ...]}}")
    return data
