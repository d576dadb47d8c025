"""A rule-based clinical sentence splitter that is saved with the pipeline.

medspaCy's PyRuSH sentencizer cannot be saved (``nlp.to_disk`` fails) and floods the
log; spaCy's ``sentencizer`` splits "Fig. 2", "e.g. fever" and "vs. placebo" and ignores
line structure. ConText scopes stop at sentence ends, so both mistakes change
assertions. The rules here:

* a sentence ends after ``.``, ``!``, ``?`` (and closing quotes/brackets that follow
  them) when the next word starts with an upper-case letter, a digit or an opening
  bracket/quote, unless the word before the full stop is a known abbreviation
  ("Dr.", "e.g.", "vs.", "approx." ...) or a number abbreviation before a number ("Fig. 2",
  "No. 2 chest tube"); "A. fumigatus" stays whole because the next word is lower-case,
  but a few lower-case words that open sentences in notes ("s/p", "pt", "no", "denies")
  start one after a full stop ("No fever. s/p appendectomy.");
* line breaks: a blank line always ends a sentence; a single line break ends one when
  the next line starts a list item, a header or a capitalised word, or the line before
  ends with punctuation or a colon (``newlines = "smart"``; ``"always"`` and ``"never"``
  are the alternatives);
* a header at the start of a line ("Family history:", "ASSESSMENT AND PLAN:") is a
  sentence of its own, so the text after it starts a new sentence – unless a value
  follows it ("Fever: no", "Extremities: no edema"), which keeps the line one sentence,
  or unless the label is a cue ("Denies: fever, chills", "Negative for:\nfever\nchills"),
  which keeps the list with its cue; a line ending in a colon that opens a condition ("Call your
  doctor if you have:", "Return for any of the following:") keeps its items, list markers and line
  breaks included, until a blank line or a line ending with a full stop; a line that ends with a
  comma, a conjunction or a preposition ("fever,", "chills or") was wrapped and goes on;
* list items ("1.", "2)", "-", "*", "•", "#" at the start of a line) start a sentence.

Everything is configuration (no learned state), so a saved pipeline splits exactly as
the one that was saved; the component still writes its settings with ``to_disk``.
"""

import re
from typing import Callable, Iterable, List

import numpy
import srsly
from spacy.attrs import SENT_START
from spacy.language import Language
from spacy.pipeline import Pipe
from spacy.tokens import Doc
from spacy.util import ensure_path

from ..context.errors import ContextErrors, ContextRuleError
from ..words import load_word_lists

#: The word lists below, shipped as data in ``resources/word_lists.json``.
WORDS = load_word_lists(__package__)

DEFAULT_ABBREVIATIONS = list(WORDS["abbreviations"])
#: Abbreviations only before a number ("No. 2 chest tube", "Fig. 3", "Tab. 1", "Vol. 12"): a
#: capitalised word after them starts a sentence ("Fever: no. Chest pain: yes.").
#: Patient and time-unit words ("pt", "yrs", "hrs", "min", "sec") are in neither list: they
#: end sentences ("Denies fever per pt. Cough for 3 days.", "Walks 10 min. Denies chest pain.").
NUMBER_ABBREVIATIONS = frozenset(WORDS["number_abbreviations"])
NUMBER_START = re.compile(r"^[A-Z]?\d")
#: Lower-case words that start a sentence after a full stop in notes ("No fever. s/p appendectomy.",
#: "No chills. pt has cough."); after an abbreviation or a one-letter initial they do not.
LOWER_STARTS = frozenset(WORDS["lower_starts"])
SENT_END_PUNCT = frozenset([".", "!", "?", "…", "。"])
CLOSERS = frozenset(['"', "'", "”", "’", ")", "]", "»"])
OPENERS = frozenset(['"', "'", "“", "‘", "(", "[", "«"])
LIST_MARKER = re.compile(r"^(?:[-*•·▪◦–#]|\(?\d{1,2}[.)]|\(?[a-zA-Z][.)])$")
LIST_NUMBER = re.compile(r"^\(?(?:\d{1,2}|[a-zA-Z])$")
HEADER_MAX_TOKENS = 8
#: A header followed by one of these is a statement ("Fever: no", "Edema: none"), not a title.
HEADER_VALUES = frozenset(WORDS["header_values"])
#: A label that is itself a negation/assertion cue ("Denies: fever, chills", "Negative for:\nfever")
#: is not a header: splitting it off would cut the cue from the list it governs.
CUE_LABELS = frozenset(WORDS["cue_labels"])


#: A line that ends with one of these was wrapped mid-sentence: the next line goes on with it,
#: capitalised or not (unless it is a list item).
WRAP_WORDS = frozenset(WORDS["wrap_words"])
#: Words that make a line ending in a colon the lead-in of a conditional list ("Call your doctor if
#: you have:\n- fever\n- chills", "Return for any of the following:"): its items stay in its sentence,
#: so the condition reaches them, until a blank line or a line that ends with a full stop.
CONDITIONAL_LEADS = frozenset(WORDS["conditional_leads"])
#: ... and so does an instruction that ends in "for" / "about" / "with" ("Call your doctor right away for:",
#: "Return to the ER with:"): a return precaution, not a title.
INSTRUCTION_VERBS = frozenset(WORDS["instruction_verbs"])


def _is_conditional_lead(words: List[str]) -> bool:
    lowered = [w.lower() for w in words]
    if any(w in CONDITIONAL_LEADS for w in lowered):
        return True
    content = [w for w in lowered if w not in ("please", "-", "*", "•")]
    return len(content) >= 2 and content[0] in INSTRUCTION_VERBS and content[-1] in ("for", "about", "with")


def _is_cue_label(words: List[str]) -> bool:
    words = [w.lower() for w in words]
    return (len(words) == 1 and words[0] in CUE_LABELS) or (len(words) == 2 and words[0] in CUE_LABELS and words[1] in ("for", "of"))


def _is_upper_start(text: str) -> bool:
    return bool(text) and (text[0].isupper() or text[0].isdigit())


def _label_words(texts: List[str], begin: int, colon: int) -> List[str]:
    """The words of the line from ``begin`` up to the colon at ``colon``, without a list marker."""
    if begin < colon and LIST_MARKER.match(texts[begin]):
        begin += 1
    return texts[begin:colon]


def clinical_sentence_starts(
    doc: Doc,
    abbreviations: Iterable[str] = DEFAULT_ABBREVIATIONS,
    newlines: str = "smart",
    split_headers: bool = True,
) -> List[int]:
    """Token indices that start a sentence (always including 0 for a non-empty doc)."""
    n = len(doc)
    if n == 0:
        return []
    abbrevs = abbreviations if isinstance(abbreviations, (set, frozenset)) else frozenset(a.lower().rstrip(".") for a in abbreviations)
    starts = [False] * n
    starts[0] = True
    texts = [t.text for t in doc]
    ws = [t.whitespace_ for t in doc]
    line_begin_idx = 0
    in_conditional_list = False
    for i in range(n):
        text = texts[i]
        if text.isspace():
            # A whitespace token carries the line breaks (spaCy keeps "\n" as tokens).
            if "\n" in text:
                nxt = i + 1
                if nxt < n:
                    blank = text.count("\n") >= 2
                    prev = texts[i - 1] if i > 0 else ""
                    if blank or (prev and prev[-1] in SENT_END_PUNCT):
                        in_conditional_list = False
                    if newlines == "always" or blank:
                        starts[nxt] = True
                    elif newlines == "smart":
                        ntext = texts[nxt]
                        if split_headers and prev == ":" and _is_cue_label(_label_words(texts, line_begin_idx, i - 1)):
                            pass  # "Negative for:\nfever\nchills": the list belongs to the cue
                        elif prev == ":" and _is_conditional_lead(_label_words(texts, line_begin_idx, i - 1)):
                            in_conditional_list = True  # "Call if you have:\n- fever\n- chills"
                        elif in_conditional_list:
                            pass  # the next item of the conditional list
                        elif prev in WRAP_WORDS and not LIST_MARKER.match(ntext):
                            pass  # a wrapped line: "fever,\nChills or\nRedness" goes on
                        elif (
                            _is_upper_start(ntext)
                            or LIST_MARKER.match(ntext)
                            or ntext in OPENERS
                            or (prev and (prev[-1] in SENT_END_PUNCT or prev[-1] in ":;" or prev in CLOSERS))
                        ):
                            starts[nxt] = True
                line_begin_idx = i + 1
            continue
        is_stop = text in SENT_END_PUNCT or (len(text) > 1 and text[-1] in "!?")
        glued = not is_stop and len(text) > 1 and text[-1] == "." and text.lower().rstrip(".") not in abbrevs
        if is_stop or glued:
            # skip closing quotes/brackets: the sentence ends after them
            j = i + 1
            while j < n and texts[j] in CLOSERS and not ws[j - 1]:
                j += 1
            if j + 1 < n and texts[j].isspace() and "\n" not in texts[j]:
                j += 1  # "seen.  She had": spaCy keeps the second space as a token of its own
            if j < n and not texts[j].isspace():
                nxt = texts[j]
                prev = texts[i - 1].lower() if i > 0 else ""
                if text == "." and i - 1 == line_begin_idx and LIST_NUMBER.match(texts[i - 1]):
                    pass  # "1. Start aspirin": a list number, not a sentence end
                elif text == "." and i > 0 and not ws[i - 1] and prev.rstrip(".") in abbrevs:
                    pass  # "e.g. Fever", "Dr. Smith"; "A. fumigatus" is kept by the upper-case test
                elif text == "." and i > 0 and not ws[i - 1] and prev.rstrip(".") in NUMBER_ABBREVIATIONS and NUMBER_START.match(nxt):
                    pass  # "No. 2 chest tube", "Fig. S1", "Temp. 98.6"; "Fever: no. Chest pain: yes." ends after "no."
                elif _is_upper_start(nxt) or nxt in OPENERS or LIST_MARKER.match(nxt):
                    starts[j] = True
                elif text == "." and nxt in LOWER_STARTS and len(prev) > 1:
                    starts[j] = True
        if split_headers and text == ":" and i + 1 < n and not texts[i + 1].isspace() and texts[i + 1].lower() not in HEADER_VALUES:
            # "Family history: Mother had ..." -> the header is a sentence of its own
            first = line_begin_idx
            if first < i and LIST_MARKER.match(texts[first]):
                first += 1  # "• Cardiovascular: Denies chest pain."
            k = i - first
            if (
                0 < k <= HEADER_MAX_TOKENS
                and not _is_cue_label(texts[first:i])
                # "Call your doctor if you have: fever, chills" is a condition with its list, not a title
                and not _is_conditional_lead(texts[first:i])
                and _is_upper_start(texts[first])
                and all(not texts[m].isspace() and texts[m] not in SENT_END_PUNCT for m in range(first, i))
            ):
                starts[i + 1] = True
    return [i for i, s in enumerate(starts) if s]


class ClinicalSentencizer(Pipe):
    """Sets ``token.is_sent_start`` with :func:`clinical_sentence_starts`."""

    def __init__(
        self,
        nlp: Language,
        name: str = "clinical_sentencizer",
        *,
        abbreviations: List[str] | None = None,
        newlines: str = "smart",
        split_headers: bool = True,
        overwrite: bool = False,
        scorer: Callable | None = None,
    ):
        if newlines not in ("smart", "always", "never"):
            raise ContextRuleError(
                ContextErrors.E304.format(name=name, reason=f"newlines must be 'smart', 'always' or 'never', not {newlines!r}")
            )
        self.name = name
        self.vocab = nlp.vocab
        self.cfg = {
            "abbreviations": sorted(
                {a.lower().rstrip(".") for a in (abbreviations if abbreviations is not None else DEFAULT_ABBREVIATIONS)}
            ),
            "newlines": newlines,
            "split_headers": split_headers,
            "overwrite": overwrite,
        }
        self._abbrevs = frozenset(self.cfg["abbreviations"])
        self.scorer = scorer

    def __call__(self, doc: Doc) -> Doc:
        if not len(doc):
            return doc
        if not self.cfg["overwrite"] and doc.has_annotation("SENT_START"):
            return doc
        starts = clinical_sentence_starts(doc, self._abbrevs, self.cfg["newlines"], self.cfg["split_headers"])
        # One array for the whole doc: setting token.is_sent_start token by token rescans the doc
        # each time (spaCy checks for a parse), which is quadratic on long notes.
        values = numpy.full((len(doc), 1), -1, dtype="int64")
        values[starts, 0] = 1
        doc.from_array([SENT_START], values.astype("uint64"))
        return doc

    def initialize(self, get_examples=None, *, nlp=None) -> None:
        pass

    def score(self, examples, **kwargs):
        from spacy.scorer import Scorer

        if self.scorer is not None:
            return self.scorer(examples, **kwargs)
        return Scorer.score_spans(examples, "sents", **kwargs)

    # ---------------------------------------------------------------- serialization
    def _set_cfg(self, cfg: dict) -> None:
        unknown = set(cfg) - set(self.cfg)
        if unknown:
            raise ContextRuleError(ContextErrors.E307.format(name=self.name, reason=f"unknown settings {sorted(unknown)}"))
        # The saved settings are a record only: the pipeline's config (overrides included) sets them.

    def to_bytes(self, *, exclude=tuple()) -> bytes:
        return srsly.msgpack_dumps({"cfg": self.cfg})

    def from_bytes(self, bytes_data: bytes, *, exclude=tuple()) -> "ClinicalSentencizer":
        self._set_cfg(srsly.msgpack_loads(bytes_data)["cfg"])
        return self

    def to_disk(self, path, *, exclude=tuple()) -> None:
        path = ensure_path(path)
        path.mkdir(parents=True, exist_ok=True)
        srsly.write_json(path / "cfg.json", self.cfg)

    def from_disk(self, path, *, exclude=tuple()) -> "ClinicalSentencizer":
        path = ensure_path(path)
        if (path / "cfg.json").exists():
            self._set_cfg(srsly.read_json(path / "cfg.json"))
        return self


@Language.factory(
    "clinical_sentencizer",
    assigns=["token.is_sent_start", "doc.sents"],
    default_config={
        "abbreviations": None,
        "newlines": "smart",
        "split_headers": True,
        "overwrite": False,
        "scorer": {"@scorers": "spacy.senter_scorer.v1"},
    },
    default_score_weights={"sents_f": 1.0, "sents_p": 0.0, "sents_r": 0.0},
)
def make_clinical_sentencizer(
    nlp: Language,
    name: str,
    abbreviations: List[str] | None,
    newlines: str,
    split_headers: bool,
    overwrite: bool,
    scorer: Callable | None,
) -> "ClinicalSentencizer":
    """Rule-based clinical sentence boundaries (saved with the pipeline)."""
    return ClinicalSentencizer(
        nlp, name, abbreviations=abbreviations, newlines=newlines, split_headers=split_headers, overwrite=overwrite, scorer=scorer
    )
