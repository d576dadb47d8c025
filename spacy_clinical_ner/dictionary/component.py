"""``clinical_dictionary_ruler``: spaCy's ``entity_ruler`` for large phrase dictionaries (the drug dictionary).

spaCy's ``EntityRuler.add_patterns`` turns each phrase pattern into a Doc with ``nlp.pipe``, disabling only
the components *after* the ruler: behind a ``ner`` (the fill mode a dictionary wants), every one of the
78k DrugBank names ran through the sectionizer, the tok2vec and the NER each time the pipeline loaded
(about 26 s and 0.7 GB of a 35 s load). A phrase pattern matched on a lexical attribute (``ORTH``,
``LOWER``, ``NORM``) needs the tokenizer alone, so this ruler makes those Docs with the tokenizer; the
matches are the same. Any other ``phrase_matcher_attr`` (``POS``, ``LEMMA``, ...) falls back to spaCy's way.
Everything else (config, matching, ``overwrite_ents``, saving) is the ``entity_ruler``'s.

``relabel_names``: in fill mode (``overwrite_ents`` false) the ruler leaves the NER's entities alone, even when
the NER gave a brand name it never saw another label ("Crestor" as a Coreference, "Flonase" as a test). With
this setting an entity that is exactly one capitalised word, not at the start of a sentence or line, and a
phrase pattern takes the pattern's label and id: a word written that way mid-sentence is a name, and a drug
name is a drug. Lower-case and sentence-initial words keep the NER's label, so analytes that are also drug
names ("ferritin", "Potassium 4.1" in a lab list) stay tests (benchmarks/results/ner_notes.md). A word in mixed case
("MiraLAX", "NovoLog": a capital after the first letter, and a lower-case letter) is a brand's spelling wherever it
stands, the start of a list line included.

``repair_spans``: two span errors of the NER around a dictionary name. A name that opens a longer entity followed by a
number ("Cozaar 100 mg" as one Dosage) is split: the name takes the pattern's label, the rest keeps the NER's. An
entity with the pattern's label that is a strict part of a name, touching nothing else ("Vitamin" of "Vitamin D"), is
widened to the whole name.

``relabel_heads`` (``{label: [head words]}``): an entity of two or more words whose last word is one of a label's
heads takes that label: "blood pressure medication", "thyroid medicine", "COVID-19 vaccine" are drugs even when
the NER called them tests. Only multi-word entities: a form word alone ("cream") stays what the NER said.
"""

from typing import Any, Callable, Dict, Iterable, List, Optional, Union

from spacy.attrs import IDS
from spacy.language import Language
from spacy.pipeline import EntityRuler
from spacy.pipeline.entityruler import DEFAULT_ENT_ID_SEP
from spacy.tokens import Doc, Span

#: what may stand before a word that starts a sentence or a list line
_INITIAL_BEFORE = frozenset(".:;!?*-•")

#: Token attributes a tokenizer-made Doc already holds.
LEXICAL_ATTRS = ("ORTH", "TEXT", "LOWER", "NORM", "SHAPE", "PREFIX", "SUFFIX")


def is_lexical(attr: Optional[Union[int, str]]) -> bool:
    if attr is None:  # ORTH
        return True
    if isinstance(attr, int):
        return attr in {IDS[a] for a in LEXICAL_ATTRS if a in IDS}
    return attr.upper() in LEXICAL_ATTRS


def is_mixed_case(text: str) -> bool:
    """A word spelt like a brand ("MiraLAX", "NovoLog"): alphabetic, a capital first letter, another capital after
    it and a lower-case letter; never an ordinary word, an all-caps header or an abbreviation."""
    return text.isalpha() and text[0].isupper() and any(c.isupper() for c in text[1:]) and any(c.islower() for c in text)


def is_mid_sentence_name(doc: Doc, start: int, end: int) -> bool:
    """One alphabetic, capitalised word ("Crestor") that neither starts the text, a sentence nor a line; or one
    word in mixed case ("MiraLAX") anywhere."""
    if end - start != 1:
        return False
    if is_mixed_case(doc[start].text):
        return True
    if start == 0:
        return False
    word, before = doc[start], doc[start - 1]
    if not (word.is_alpha and word.is_title):
        return False
    if before.is_space or "\n" in before.whitespace_ or before.text in _INITIAL_BEFORE:
        return False
    return not word.is_sent_start  # None before a sentencizer has run


class DictionaryRuler(EntityRuler):
    """An ``EntityRuler`` whose phrase patterns are tokenized without running the pipeline (see the module)."""

    relabel_names: bool = False
    repair_spans: bool = False
    #: lower-case head word -> label, from ``relabel_heads`` (``set_relabel_heads``)
    head_labels: Dict[str, str] = {}

    def set_relabel_heads(self, relabel_heads: Optional[Dict[str, List[str]]]) -> None:
        self.head_labels = {str(w).lower(): str(label) for label, words in (relabel_heads or {}).items() for w in words}

    def set_annotations(self, doc: Doc, matches) -> None:
        relabel = {}
        if self.head_labels and not self.overwrite:
            for e in doc.ents:
                label = self.head_labels.get(e[-1].lower_) if len(e) > 1 else None
                if label is not None and e.label_ != label:
                    relabel[(e.start, e.end)] = (label, e[-1].lower_)
        if self.relabel_names and not self.overwrite:
            by_span = {(e.start, e.end): e for e in doc.ents}
            for match_id, start, end in matches:
                ent = by_span.get((start, end))
                if ent is None or not is_mid_sentence_name(doc, start, end):
                    continue
                label, ent_id = self._ent_ids.get(match_id, (match_id, ""))
                if ent.label_ != self.nlp.vocab.strings.as_string(label):
                    relabel[(start, end)] = (label, ent_id)
        if self.repair_spans and not self.overwrite:
            self._repair_spans(doc, matches)
        super().set_annotations(doc, matches)
        if relabel:
            doc.ents = [
                Span(doc, e.start, e.end, label=relabel[(e.start, e.end)][0], span_id=relabel[(e.start, e.end)][1])
                if (e.start, e.end) in relabel
                else e
                for e in doc.ents
            ]

    def _repair_spans(self, doc: Doc, matches) -> None:
        """Split "Cozaar 100 mg" (one entity) into the name and the rest; widen "Vitamin" to "Vitamin D" (module doc).
        Runs before the fill, which then adds nothing over the repaired entities."""
        strings = self.nlp.vocab.strings
        ents = list(doc.ents)
        changed = False
        for match_id, start, end in sorted(matches, key=lambda m: (m[1], -m[2])):
            label, ent_id = self._ent_ids.get(match_id, (match_id, ""))
            label = strings.as_string(label)
            inside = [i for i, e in enumerate(ents) if e.start < end and start < e.end]
            if len(inside) != 1:
                continue
            i = inside[0]
            e = ents[i]
            if e.start == start and end < e.end and e.label_ != label and doc[end].like_num:
                ents[i : i + 1] = [Span(doc, start, end, label=label, span_id=ent_id), Span(doc, end, e.end, label=e.label_)]
                changed = True
            elif e.label_ == label and start <= e.start and e.end <= end and (start, end) != (e.start, e.end):
                ents[i] = Span(doc, start, end, label=label, span_id=ent_id)
                changed = True
        if changed:
            doc.ents = ents

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
        "relabel_names": False,
        "repair_spans": False,
        "relabel_heads": {},
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
    relabel_names: bool,
    relabel_heads: Dict[str, List[str]],
    ent_id_sep: str,
    scorer: Optional[Callable],
    repair_spans: bool = False,
) -> DictionaryRuler:
    """``relabel_names``: a capitalised one-word entity mid-sentence that is a pattern takes its label;
    ``relabel_heads``: a multi-word entity ending in one of a label's head words takes that label;
    ``repair_spans``: a name that opens a longer entity is split off, a part of a name is widened (module doc)."""
    ruler = DictionaryRuler(
        nlp,
        name,
        phrase_matcher_attr=phrase_matcher_attr,
        matcher_fuzzy_compare=matcher_fuzzy_compare,
        validate=validate,
        overwrite_ents=overwrite_ents,
        ent_id_sep=ent_id_sep,
        scorer=scorer,
    )
    ruler.relabel_names = relabel_names
    ruler.repair_spans = repair_spans
    ruler.set_relabel_heads(relabel_heads)
    return ruler
