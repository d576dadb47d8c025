"""Cost of adversarial notes next to normal notes of the same size (issue 22: bounded cost).

    python benchmarks/adversarial.py [--sizes 25000 50000 100000 200000] [--kinds ...]
        [--pipeline en_clinical_ner_cnn] [--repeats 3] [--max-seconds 60]
        [--json benchmarks/results/adversarial.json] [--before base.json]
        [--out benchmarks/results/adversarial.md]

Each kind of note is generated at every size (characters) and run through the rule
components in a blank clinical pipeline (``clinical_sentencizer``, ``clinical_sectionizer``,
``clinical_context``) with entities set by a phrase list (``TERMS``, as an NER would mark
them), followed by the relation candidate generator (window of 20 tokens), the output record and the
FHIR Bundle (without validation);
``--pipeline`` runs a packaged pipeline (its NER sets the entities) instead. The time per note
(best of ``--repeats``) is reported next to the time of a *normal* note of the same size (the
hand-annotated ACI-BENCH visit notes of corpus/notes/annotated, concatenated), with
``growth`` = time at this size / time at half the size (2.0 is linear). A kind that takes
longer than ``--max-seconds`` at one size is not run at larger sizes. ``--before`` adds the
times of an earlier run (its ``--json``), e.g. of the code before the change.

The kinds (``KINDS``):

* ``cues`` – the reported denial of service, ``"no " * k + "fever"``: one sentence of cues;
* ``cue_mix`` – cues of every direction and entities, no punctuation at all
  ("denies fever no cough ruled out rash possible pneumonia history of diabetes ...");
* ``no_stops`` – a normal note with every full stop, question mark and line break removed;
* ``huge_token`` – one token of ``n`` characters;
* ``newlines`` – ``n`` line breaks;
* ``long_list`` – "The patient denies fever, cough, rash, ... or edema" as one list of
  every entity, repeated with "and" to the size.
"""

import argparse
import json
import platform
import sys
import time
from pathlib import Path
from typing import Callable, Dict, List, Optional

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

#: Findings an NER would mark (every one occurs in the normal notes; the phrase list sets them).
TERMS = (
    "fever chills cough rash nausea vomiting diarrhea headache headaches fatigue edema erythema pain "
    "chest pain joint pain shortness of breath dizziness hypertension diabetes pneumonia asthma "
    "weight loss muscle aches constipation swelling anxiety depression arthritis murmur"
).split(" ")
TERMS = sorted(set(TERMS) | {"chest pain", "joint pain", "shortness of breath", "weight loss", "muscle aches"})
LIST_ITEMS = ["fever", "chills", "cough", "rash", "nausea", "vomiting", "diarrhea", "headache", "fatigue", "edema"]
CUE_MIX = (
    "denies fever no cough ruled out rash possible pneumonia history of diabetes negative for edema "
    "no evidence of erythema mother had asthma if chills return without nausea "
)


def _fill(unit: str, n: int) -> str:
    return (unit * (n // len(unit) + 1))[:n]


def normal_note(n: int) -> str:
    """The annotated visit notes, concatenated (blank line between) and cut to ``n`` characters."""
    texts = [p.read_text(encoding="utf8") for p in sorted((REPO / "corpus/notes/annotated/brat").glob("*.txt"))]
    text = "\n\n".join(texts)
    while len(text) < n:
        text += "\n\n" + text
    cut = text.rfind(" ", 0, n)
    return text[: cut if cut > n // 2 else n]


def cues(n: int) -> str:
    k = max((n - len("fever")) // 3, 1)
    return "no " * k + "fever"


def cue_mix(n: int) -> str:
    return _fill(CUE_MIX, n)


def no_stops(n: int) -> str:
    text = normal_note(n * 2)
    for ch in ".?!\n\r":
        text = text.replace(ch, " ")
    return text[:n]


def huge_token(n: int) -> str:
    return "x" * n


def newlines(n: int) -> str:
    return "\n" * n


def long_list(n: int) -> str:
    unit = ", ".join(LIST_ITEMS) + " and "
    return "The patient denies " + _fill(unit, max(n - 30, 1)) + "edema"


KINDS: Dict[str, Callable[[int], str]] = {
    "cues": cues,
    "cue_mix": cue_mix,
    "no_stops": no_stops,
    "huge_token": huge_token,
    "newlines": newlines,
    "long_list": long_list,
}


def rule_pipeline():
    """A blank clinical pipeline with the rule components, and a function setting the entities."""
    from spacy.matcher import PhraseMatcher
    from spacy.tokens import Span
    from spacy.util import filter_spans

    from spacy_clinical_ner.tokenizer import clinical_blank

    nlp = clinical_blank()
    nlp.add_pipe("clinical_sentencizer")
    nlp.add_pipe("clinical_sectionizer")
    nlp.add_pipe("clinical_context")
    matcher = PhraseMatcher(nlp.vocab, attr="LOWER")
    matcher.add("Sign_symptom", [nlp.make_doc(t) for t in TERMS])

    def make_doc(text: str):
        doc = nlp.make_doc(text)
        doc.ents = filter_spans([Span(doc, s, e, label=k) for k, s, e in matcher(doc)])
        return doc

    return nlp, make_doc


def process(nlp, make_doc, text: str, writers: bool = True):
    """One note through the pipeline (and the candidate generator and FHIR writer): the Doc."""
    if make_doc is None:
        doc = nlp(text)
    else:
        doc = make_doc(text)
        for _, proc in nlp.pipeline:
            doc = proc(doc)
    if writers:
        from spacy_clinical_ner.io.fhir import record_to_bundle_dict
        from spacy_clinical_ner.io.records import doc_to_record
        from spacy_clinical_ner.relations.instances import RelationCandidates

        RelationCandidates(max_distance=20).pairs(doc)
        record_to_bundle_dict(doc_to_record(doc, "note"), text)
    return doc


def best_time(fn: Callable[[], object], repeats: int) -> float:
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def run(sizes: List[int], kinds: List[str], pipeline: Optional[str], repeats: int, max_seconds: float) -> dict:
    if pipeline:
        import spacy

        nlp, make_doc = spacy.load(pipeline), None
    else:
        nlp, make_doc = rule_pipeline()
    process(nlp, make_doc, normal_note(2000))  # warm up (lazy rule compilation)
    rows = []
    normal = {}
    for size in sizes:
        text = normal_note(size)
        normal[size] = best_time(lambda t=text: process(nlp, make_doc, t), repeats)
        rows.append({"kind": "normal", "size": size, "seconds": normal[size]})
        print(f"normal {size}: {normal[size]:.3f} s", flush=True)
    for kind in kinds:
        for size in sizes:
            text = KINDS[kind](size)
            seconds = best_time(lambda t=text: process(nlp, make_doc, t), repeats)
            rows.append({"kind": kind, "size": size, "seconds": seconds})
            print(f"{kind} {size}: {seconds:.3f} s ({seconds / normal[size]:.2f} x normal)", flush=True)
            if seconds > max_seconds:
                break
    return {"pipeline": pipeline or "rule components (blank clinical pipeline, phrase-list entities)", "rows": rows}


def report(result: dict, before: Optional[dict]) -> str:
    times = {(r["kind"], r["size"]): r["seconds"] for r in result["rows"]}
    old = {(r["kind"], r["size"]): r["seconds"] for r in before["rows"]} if before else {}
    sizes = sorted({r["size"] for r in result["rows"]})
    kinds = list(dict.fromkeys(r["kind"] for r in result["rows"]))
    head = "| kind | characters | seconds | normal note, seconds | ratio to normal | growth |"
    if before:
        head += " before, seconds |"
    lines = [
        "# Adversarial notes: time per note",
        "",
        f"Pipeline: {result['pipeline']}; then relation candidates (window 20) and the FHIR writer.",
        f"Machine: {platform.processor() or platform.machine()}, Python {platform.python_version()}, CPU "
        "(2 cores shared with other jobs: single runs vary by ±30 %); best of the repeats.",
        "`growth` = seconds at this size / seconds at half the size (2.0 = linear).",
        "",
        head,
        "|" + "---|" * (head.count("|") - 1),
    ]
    for kind in kinds:
        for size in sizes:
            if (kind, size) not in times:
                continue
            seconds = times[(kind, size)]
            half = times.get((kind, size // 2))
            growth = f"{seconds / half:.2f}" if half else ""
            line = f"| {kind} | {size:,} | {seconds:.3f} | {times[('normal', size)]:.3f} | {seconds / times[('normal', size)]:.2f} | {growth} |"
            if before:
                b = old.get((kind, size))
                line += f" {b:.3f} |" if b is not None else " not run |"
            lines.append(line)
    return "\n".join(lines) + "\n"


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[25000, 50000, 100000, 200000])
    parser.add_argument("--kinds", nargs="+", default=list(KINDS), choices=list(KINDS))
    parser.add_argument("--pipeline", default=None)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--max-seconds", type=float, default=60.0)
    parser.add_argument("--json", type=Path, default=None)
    parser.add_argument("--before", type=Path, default=None)
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args(argv)
    result = run(args.sizes, args.kinds, args.pipeline, args.repeats, args.max_seconds)
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(result, indent=1))
    before = json.loads(args.before.read_text()) if args.before else None
    text = report(result, before)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(text)
    print(text)


if __name__ == "__main__":
    main()
