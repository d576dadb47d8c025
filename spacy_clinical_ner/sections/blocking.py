"""NER blocking by layout: tokens of a note's layout that are never part of an entity.

Placed before ``ner`` (as in the assembled pipelines), ``clinical_sectionizer`` calls
:func:`block_tokens` after it has found the sections: ``block_titles`` marks the header tokens
as outside any entity (spaCy's ``Doc.set_ents(blocked=...)``), so the entity recognizer leaves
"PHYSICAL EXAMINATION" or "ASSESSMENT AND PLAN" alone, and ``block_bullets`` does the same for
list bullets at the start of a line ("• Neck: supple" gives "Neck", not "• Neck"). Visit notes
write one finding per line behind a short label ("Musculoskeletal: Reports knee pain."):
``block_label_colons`` blocks the colon of such a label, so no entity runs across it, and
``block_words`` blocks the reporting verbs of visit notes ("Denies", "Endorses", "Reports"), which
the case reports the NER learnt from never use: "Denies shortness of breath." then gives the entity
"shortness of breath", which ``clinical_context`` negates. Entities already on the doc are kept.

This is a concern of its own, apart from finding sections: it only reads the section titles.
"""

from typing import Any, Dict, Iterable, List

from spacy.tokens import Doc

from ..words import load_word_lists
from .layout import line_starts_before

#: The word lists below, shipped as data in ``resources/word_lists.json``.
WORDS = load_word_lists(__package__)

#: List bullets that are never part of an entity when they open a line.
BULLETS = frozenset(WORDS["bullets"])

#: Present-tense reporting verbs of visit notes ("Denies fever.", "Endorses fatigue."): never part of
#: an entity. MACCROBAT's case reports write "denied" and "complained of", and its History entities
#: may start with "denied" ("denied a history of smoking"), so the past tense is left to the NER.
REPORTING_VERBS = tuple(WORDS["reporting_verbs"])

#: The longest line-opening label whose colon is blocked ("Neurological/Psychological:").
MAX_LABEL_TOKENS = 4


def label_colon_tokens(doc: Doc) -> List[int]:
    """Colons that end a short label opening a line: "Respiratory: Denies cough." or
    "• HR: 77 bpm" (a bullet may come first)."""
    found = []
    for tok in doc:
        if tok.text != ":":
            continue
        start = tok.i
        while start > 0 and tok.i - start < MAX_LABEL_TOKENS and (doc[start - 1].is_alpha or doc[start - 1].text in "/&"):
            start -= 1
            if line_starts_before(doc, start):
                break
        if start == tok.i:
            continue
        if line_starts_before(doc, start) or (doc[start - 1].text in BULLETS and line_starts_before(doc, start - 1)):
            found.append(tok.i)
    return found


def block_tokens(
    doc: Doc,
    sections: List[Dict[str, Any]],
    bullets: bool = True,
    label_colons: bool = False,
    words: Iterable[str] = (),
) -> None:
    """Mark the title tokens of ``sections`` (with ``bullets``, list bullets opening a line; with
    ``label_colons``, the colon of a short label opening a line; any token whose lower-case form is
    in ``words``) as blocked: outside any entity, which a following ``ner`` respects. Tokens inside
    an entity are not touched; tokens already outside one (a Doc that went through the pipeline
    before) are blocked the same way."""
    token_ids = set()
    for section in sections:
        span = doc.char_span(section["title_start"], section["title_end"], alignment_mode="expand")
        if span is not None:
            token_ids.update(range(span.start, span.end))
    if bullets:
        token_ids.update(t.i for t in doc if t.text in BULLETS and line_starts_before(doc, t.i))
    if label_colons:
        token_ids.update(label_colon_tokens(doc))
    words = frozenset(w.lower() for w in words)
    if words:
        token_ids.update(t.i for t in doc if t.lower_ in words)
    blocked = [doc[i : i + 1] for i in sorted(token_ids) if doc[i].ent_type == 0]
    if blocked:
        doc.set_ents([], blocked=blocked, default="unmodified")
