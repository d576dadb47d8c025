"""``clinical_dictionary_ruler``: spaCy's ``entity_ruler`` for large phrase dictionaries (the drug dictionary).

spaCy's ``EntityRuler.add_patterns`` turns each phrase pattern into a Doc with ``nlp.pipe``, disabling only
the components *after* the ruler: behind a ``ner`` (the fill mode a dictionary wants), every one of the
78k DrugBank names ran through the sectionizer, the tok2vec and the NER each time the pipeline loaded
(about 26 s and 0.7 GB of a 35 s load). A phrase pattern matched on a lexical attribute (``ORTH``,
``LOWER``, ``NORM``) needs the tokenizer alone, so this ruler makes those Docs with the tokenizer; the
matches are the same. Any other ``phrase_matcher_attr`` (``POS``, ``LEMMA``, ...) falls back to spaCy's way.
Everything else (config, matching, ``overwrite_ents``, saving) is the ``entity_ruler``'s.
"""

from typing import Any, Callable, Dict, Iterable, Optional, Union

from spacy.attrs import IDS
from spacy.language import Language
from spacy.pipeline import EntityRuler
from spacy.pipeline.entityruler import DEFAULT_ENT_ID_SEP

#: Token attributes a tokenizer-made Doc already holds.
LEXICAL_ATTRS = ("ORTH", "TEXT", "LOWER", "NORM", "SHAPE", "PREFIX", "SUFFIX")


def is_lexical(attr: Optional[Union[int, str]]) -> bool:
    if attr is None:  # ORTH
        return True
    if isinstance(attr, int):
        return attr in {IDS[a] for a in LEXICAL_ATTRS if a in IDS}
    return attr.upper() in LEXICAL_ATTRS


class DictionaryRuler(EntityRuler):
    """An ``EntityRuler`` whose phrase patterns are tokenized without running the pipeline (see the module)."""

    def add_patterns(self, patterns: Iterable[Dict[str, Any]]) -> None:
        patterns = list(patterns)  # from_disk passes a generator
        if not is_lexical(self.phrase_matcher_attr):
            return super().add_patterns(patterns)
        phrases = [p for p in patterns if isinstance(p["pattern"], str)]
        others = [p for p in patterns if not isinstance(p["pattern"], str)]
        if others:
            super().add_patterns(others)
        for entry, doc in zip(phrases, self.nlp.tokenizer.pipe([p["pattern"] for p in phrases])):
            label = entry["label"]
            if "id" in entry:
                ent_label = label
                label = self._create_label(label, entry["id"])
                self._ent_ids[self.matcher._normalize_key(label)] = (ent_label, entry["id"])
            self.phrase_patterns[label].append(doc)
            self.phrase_matcher.add(label, [doc])


@Language.factory(
    "clinical_dictionary_ruler",
    assigns=["doc.ents", "token.ent_type", "token.ent_iob"],
    default_config={
        "phrase_matcher_attr": "LOWER",
        "matcher_fuzzy_compare": {"@misc": "spacy.levenshtein_compare.v1"},
        "validate": False,
        "overwrite_ents": False,
        "ent_id_sep": DEFAULT_ENT_ID_SEP,
        "scorer": {"@scorers": "spacy.entity_ruler_scorer.v1"},
    },
    default_score_weights={"ents_f": 1.0, "ents_p": 0.0, "ents_r": 0.0, "ents_per_type": None},
)
def make_clinical_dictionary_ruler(
    nlp: Language,
    name: str,
    phrase_matcher_attr: Optional[Union[int, str]],
    matcher_fuzzy_compare: Callable,
    validate: bool,
    overwrite_ents: bool,
    ent_id_sep: str,
    scorer: Optional[Callable],
) -> DictionaryRuler:
    return DictionaryRuler(
        nlp,
        name,
        phrase_matcher_attr=phrase_matcher_attr,
        matcher_fuzzy_compare=matcher_fuzzy_compare,
        validate=validate,
        overwrite_ents=overwrite_ents,
        ent_id_sep=ent_id_sep,
        scorer=scorer,
    )
