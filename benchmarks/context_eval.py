"""Benchmark of the ConText components: assertion quality and throughput.

    python benchmarks/context_eval.py \
        [--assertion-model training/context_assertion/model-best] \
        [--out benchmarks/results/context_eval.md]

1. MACCROBAT dev documents (the project's split: sorted ids, i % 5 == 0, 32 docs), gold
   entities placed in the docs (``doc.spans["entities"]``, overlapping ones included),
   scored against the gold ``POLARITY`` of *all* entities: negated = ``NEG``; uncertain =
   ``UNCERTAIN``, ``MAYBE_POS``, ``MAYBE_NEG`` (``POS`` and no attribute = neither).
   Systems: medspaCy's default ConText (with medspaCy's PyRuSH sentence splitter, as
   ``medspacy.load()`` sets it up), negspacy (negation only; it reads ``doc.ents``, so
   overlapping entities are scored in non-overlapping layers), ``clinical_context``
   (rules) and ``clinical_context`` + ``clinical_assertion`` (trained on the 128 train
   documents, if ``--assertion-model`` is given).
2. Classic discharge-summary sentences (tests/fixtures/context/discharge_sentences.jsonl,
   hand-written, NegEx/ConText style): P/R/F of the five attributes.
3. Throughput on the ACI-BENCH visit notes (corpus/notes/aci_bench, 207 notes): the
   sentence splitters alone, and the ConText components alone (same docs, same
   sentences, same entities: a phrase list of MACCROBAT train event mentions), in words
   and entities per second (median of 3 runs).
"""

import argparse
import csv
import json
import logging
import statistics
import sys
import time
from pathlib import Path
from typing import Callable, Dict, List, Tuple

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from spacy.matcher import PhraseMatcher  # noqa: E402
from spacy.tokens import Doc, Span  # noqa: E402
from spacy.util import filter_spans  # noqa: E402

from spacy_clinical_ner.context.component import MACCROBAT_NON_EVENT_LABELS  # noqa: E402
from spacy_clinical_ner.context.scorer import POLARITY_GOLD  # noqa: E402
from spacy_clinical_ner.extensions import install_doc_extensions  # noqa: E402
from spacy_clinical_ner.readers.brat import docs_from_brat, iter_brat_files  # noqa: E402
from spacy_clinical_ner.readers.convert import split_ids  # noqa: E402
from spacy_clinical_ner.tokenizer import clinical_blank  # noqa: E402

ATTRS = ("is_negated", "is_uncertain", "is_historical", "is_hypothetical", "is_family")
logger = logging.getLogger("context_eval")


def prf(tp: int, fp: int, fn: int) -> Tuple[float, float, float]:
    p = tp / (tp + fp) if tp + fp else 0.0
    r = tp / (tp + fn) if tp + fn else 0.0
    return p, r, (2 * p * r / (p + r) if p + r else 0.0)


def fmt(tp: int, fp: int, fn: int) -> str:
    p, r, f = prf(tp, fp, fn)
    return f"{p:.3f} | {r:.3f} | **{f:.3f}**"


# ---------------------------------------------------------------------------- systems
def copy_docs(docs: List[Doc], nlp) -> List[Doc]:
    out = []
    for d in docs:
        c = Doc(nlp.vocab).from_bytes(d.to_bytes())
        for key in [k for k in c.user_data if isinstance(k, tuple) and k[0] == "._." and k[2] is not None]:
            del c.user_data[key]
        out.append(c)
    return out


def run_medspacy(docs: List[Doc], events_only: bool = False) -> List[Doc]:
    from loguru import logger as loguru_logger

    loguru_logger.disable("PyRuSH")
    import medspacy  # noqa: F401 - registers medspacy_context, medspacy_pyrush

    nlp = clinical_blank()
    nlp.add_pipe("medspacy_pyrush")
    nlp.add_pipe("medspacy_context", config={"input_span_type": "group", "span_group_name": "entities"})
    docs = copy_docs(docs, nlp)
    for d in docs:
        if events_only:
            d.spans["entities"] = [s for s in d.spans["entities"] if s.label_ not in MACCROBAT_NON_EVENT_LABELS]
        for _, proc in nlp.pipeline:
            proc(d)
    return docs


def run_negspacy(docs: List[Doc]) -> List[Doc]:
    import negspacy.negation  # noqa: F401 - registers negex

    nlp = clinical_blank()
    nlp.add_pipe("sentencizer")
    negex = nlp.add_pipe("negex")
    docs = copy_docs(docs, nlp)
    for d in docs:
        nlp.get_pipe("sentencizer")(d)
        remaining = list(d.spans["entities"])
        negated = set()
        while remaining:  # non-overlapping layers, since negspacy reads doc.ents
            layer = filter_spans(remaining)
            chosen = {(s.start, s.end, s.label) for s in layer}
            remaining = [s for s in remaining if (s.start, s.end, s.label) not in chosen]
            d.ents = layer
            negex(d)
            negated |= {(s.start_char, s.end_char) for s in layer if s._.negex}
        for s in d.spans["entities"]:
            d.user_data[("._.", "is_negated", s.start_char, s.end_char)] = (s.start_char, s.end_char) in negated
        d.ents = []
    return docs


def run_clinical(docs: List[Doc], assertion_model: str = "", splitter: str = "clinical_sentencizer") -> List[Doc]:
    import spacy

    if assertion_model:
        nlp = spacy.load(assertion_model)
    else:
        if splitter == "medspacy_pyrush":
            from loguru import logger as loguru_logger

            loguru_logger.disable("PyRuSH")
            import medspacy  # noqa: F401
        nlp = clinical_blank()
        nlp.add_pipe(splitter)
        nlp.add_pipe("clinical_context", config={"spans_key": "entities", "include_ents": False})
    docs = copy_docs(docs, nlp)
    for d in docs:
        for _, proc in nlp.pipeline:
            proc(d)
    return docs


def score_maccrobat(docs: List[Doc], gold_docs: List[Doc], attrs=("is_negated", "is_uncertain")) -> Dict[str, Tuple[int, int, int]]:
    counts = {a: [0, 0, 0] for a in attrs}
    for d, g in zip(docs, gold_docs, strict=True):
        polarity = {e["id"]: e["attributes"].get("POLARITY") for e in g._.brat["entities"]}
        for span in d.spans["entities"]:
            gold = POLARITY_GOLD.get(polarity.get(span.id_) or "", {})
            for a in attrs:
                gv = bool(gold.get(a))
                pv = bool(d.user_data.get(("._.", a, span.start_char, span.end_char), False))
                c = counts[a]
                c[0] += gv and pv
                c[1] += pv and not gv
                c[2] += gv and not pv
    return {a: tuple(v) for a, v in counts.items()}


def maccrobat_section(args) -> List[str]:
    install_doc_extensions()
    nlp = clinical_blank()
    files = iter_brat_files(REPO / "corpus/maccrobat/brat")
    split = split_ids(f.stem for f in files)
    gold = list(docs_from_brat(REPO / "corpus/maccrobat/brat", nlp.make_doc, split[args.split]))
    n_ents = sum(len(d.spans["entities"]) for d in gold)
    n_neg = sum(1 for d in gold for e in d._.brat["entities"] if e["attributes"].get("POLARITY") == "NEG")
    n_unc = sum(1 for d in gold for e in d._.brat["entities"] if e["attributes"].get("POLARITY") in ("UNCERTAIN", "MAYBE_POS", "MAYBE_NEG"))
    rows = []
    systems: List[Tuple[str, Callable[[], List[Doc]]]] = [
        ("medspaCy 1.3.1 default ConText (PyRuSH sentences), all entities", lambda: run_medspacy(gold)),
        ("medspaCy default ConText, event-type entities only (others left unmodified)", lambda: run_medspacy(gold, events_only=True)),
        ("negspacy 1.0.4 (negex, en_clinical termset)", lambda: run_negspacy(gold)),
        ("**clinical_context** (rules, clinical_sentencizer)", lambda: run_clinical(gold)),
    ]
    if args.assertion_model:
        systems.append(
            ("**clinical_context + clinical_assertion** (trained on train split)", lambda: run_clinical(gold, args.assertion_model))
        )
    systems += [
        ("clinical_context rules, spaCy `sentencizer` instead", lambda: run_clinical(gold, splitter="sentencizer")),
        ("clinical_context rules, medspaCy PyRuSH sentences instead", lambda: run_clinical(gold, splitter="medspacy_pyrush")),
    ]
    for name, fn in systems:
        t0 = time.perf_counter()
        docs = fn()
        elapsed = time.perf_counter() - t0
        scores = score_maccrobat(docs, gold)
        unc = fmt(*scores["is_uncertain"]) if not name.startswith("negspacy") else "– | – | –"
        rows.append(f"| {name} | {fmt(*scores['is_negated'])} | {unc} |")
        logger.info("%s: %s (%.1fs)", name, scores, elapsed)
    return [
        f"### MACCROBAT {args.split} documents ({len(gold)} docs, {n_ents} gold entities, {n_neg} negated, {n_unc} uncertain)",
        "",
        "| system | negated P | R | F1 | uncertain P | R | F1 |",
        "|---|---|---|---|---|---|---|",
        *rows,
        "",
    ]


# ---------------------------------------------------------------------------- discharge sentences
def discharge_section() -> List[str]:
    items = [
        json.loads(line) for line in (REPO / "tests/fixtures/context/discharge_sentences.jsonl").read_text().splitlines() if line.strip()
    ]
    n_ents = sum(len(i["entities"]) for i in items)

    def evaluate(build: Callable[[], object]) -> Dict[str, Tuple[int, int, int]]:
        nlp = build()
        counts = {a: [0, 0, 0] for a in ATTRS}
        for item in items:
            doc = nlp.make_doc(item["text"])
            ents = []
            for ent in item["entities"]:
                i = item["text"].index(ent["text"])
                ents.append(doc.char_span(i, i + len(ent["text"]), label=ent["label"]))
            doc.ents = ents
            for _, proc in nlp.pipeline:
                doc = proc(doc)
            for ent, span in zip(item["entities"], doc.ents, strict=True):
                for a in ATTRS:
                    g, p = bool(ent.get(a, False)), bool(getattr(span._, a, False))
                    counts[a][0] += g and p
                    counts[a][1] += p and not g
                    counts[a][2] += g and not p
        return counts

    def medspacy_nlp():
        from loguru import logger as loguru_logger

        loguru_logger.disable("PyRuSH")
        import medspacy  # noqa: F401

        nlp = clinical_blank()
        nlp.add_pipe("medspacy_pyrush")
        nlp.add_pipe("medspacy_context")
        return nlp

    def clinical_nlp():
        nlp = clinical_blank()
        nlp.add_pipe("clinical_sentencizer")
        nlp.add_pipe("clinical_context")
        return nlp

    rows = []
    for name, build in (("medspaCy default ConText", medspacy_nlp), ("**clinical_context**", clinical_nlp)):
        counts = evaluate(build)
        cells = []
        for a in ATTRS:
            tp, fp, fn = counts[a]
            cells.append(f"{prf(tp, fp, fn)[2]:.3f} ({tp}/{tp + fn})")
        rows.append(f"| {name} | " + " | ".join(cells) + " |")
    return [
        f"### Classic discharge-summary sentences ({len(items)} sentences, {n_ents} entities; F1, in brackets found/gold)",
        "",
        "| system | negated | uncertain | historical | hypothetical | family |",
        "|---|---|---|---|---|---|",
        *rows,
        "",
    ]


# ---------------------------------------------------------------------------- throughput
def aci_texts() -> List[str]:
    csv.field_size_limit(10**9)
    texts = []
    for path in sorted((REPO / "corpus/notes/aci_bench").glob("*.csv")):
        if path.name.endswith("_metadata.csv"):
            continue
        with path.open(encoding="utf8") as fh:
            texts.extend(row["note"] for row in csv.DictReader(fh))
    return texts


def median_time(fn: Callable[[], None], repeat: int = 3) -> float:
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def throughput_section(args) -> List[str]:
    install_doc_extensions()
    nlp = clinical_blank()
    texts = aci_texts()[: args.notes or None]
    docs = [nlp.make_doc(t) for t in texts]
    n_words = sum(sum(1 for t in d if not t.is_space and not t.is_punct) for d in docs)
    # entities: MACCROBAT train mentions of event types, as a phrase list
    files = iter_brat_files(REPO / "corpus/maccrobat/brat")
    split = split_ids(f.stem for f in files)
    phrases = set()
    for d in docs_from_brat(REPO / "corpus/maccrobat/brat", nlp.make_doc, split["train"]):
        for e in d._.brat["entities"]:
            text = e["text"].lower().strip()
            if e["label"] not in MACCROBAT_NON_EVENT_LABELS and len(text) > 2 and not text.replace(".", "").isdigit():
                phrases.add((text, e["label"]))
    matcher = PhraseMatcher(nlp.vocab, attr="LOWER")
    for text, label in phrases:
        matcher.add(label, [nlp.make_doc(text)])
    for d in docs:
        d.ents = filter_spans([Span(d, s, e, label=k) for k, s, e in matcher(d)])
    n_ents = sum(len(d.ents) for d in docs)

    lines = [
        f"### Throughput on ACI-BENCH visit notes ({len(docs)} notes, {n_words:,} words, {n_ents:,} entities; CPU, 2 shared cores, median of 3 runs)",
        "",
        "| component (alone) | seconds | words/s | entities/s |",
        "|---|---|---|---|",
    ]

    def row(name: str, seconds: float, ents: bool = True) -> str:
        return f"| {name} | {seconds:.2f} | {n_words / seconds:,.0f} | {(f'{n_ents / seconds:,.0f}' if ents else '–')} |"

    # sentence splitters
    from loguru import logger as loguru_logger

    loguru_logger.disable("PyRuSH")
    import medspacy  # noqa: F401

    splitters = {}
    for name, factory in (
        ("clinical_sentencizer", "clinical_sentencizer"),
        ("spaCy sentencizer", "sentencizer"),
        ("medspaCy PyRuSH", "medspacy_pyrush"),
    ):
        sn = clinical_blank()
        proc = sn.add_pipe(factory, config={"overwrite": True} if factory != "medspacy_pyrush" else {})
        splitters[name] = proc
        proc(sn.make_doc("Warm up. Second sentence."))

        def split_all(proc=proc):
            for d in docs:
                proc(d)

        lines.append(row(f"sentence splitting: {name}", median_time(split_all), ents=False))
    # the same sentences for every ConText run
    for d in docs:
        splitters["clinical_sentencizer"](d)

    cn = clinical_blank()
    ctx = cn.add_pipe("clinical_context")
    mn = clinical_blank()
    mctx = mn.add_pipe("medspacy_context")
    ctx(docs[0])
    mctx(docs[0])

    def run_ctx():
        for d in docs:
            ctx(d)

    def run_medspacy_ctx():
        for d in docs:
            mctx(d)

    lines.append(row("medspaCy 1.3.1 ConText (default rules)", median_time(run_medspacy_ctx)))
    lines.append(row("**clinical_context** (default rules)", median_time(run_ctx)))
    if args.assertion_model:
        import spacy

        an = spacy.load(args.assertion_model)
        an.get_pipe("clinical_context").cfg.update({"spans_key": None, "include_ents": True})
        assertion = an.get_pipe("clinical_assertion")
        assertion.cfg.update({"spans_key": None, "include_ents": True})

        def run_assertion():
            for batch_start in range(0, len(docs), 16):
                batch = docs[batch_start : batch_start + 16]
                assertion.set_annotations(batch, assertion.predict(batch))

        lines.append(row("**clinical_assertion** (classifier incl. its ConText features)", median_time(run_assertion)))
    lines.append("")
    return lines


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--split", default="dev", choices=["dev", "train"])
    ap.add_argument("--assertion-model", default="", help="a trained pipeline from configs/context_assertion.cfg")
    ap.add_argument("--notes", type=int, default=0, help="limit the ACI-BENCH notes (0 = all)")
    ap.add_argument("--skip", default="", help="comma-separated sections to skip: maccrobat,discharge,throughput")
    ap.add_argument("--out", default=str(REPO / "benchmarks/results/context_eval.md"))
    args = ap.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    skip = set(filter(None, args.skip.split(",")))
    cmd = "python benchmarks/context_eval.py" + (f" --assertion-model {args.assertion_model}" if args.assertion_model else "")
    lines = ["## ConText assertions: quality and throughput", "", f"Produced by `{cmd}`.", ""]
    if "maccrobat" not in skip:
        lines += maccrobat_section(args)
    if "discharge" not in skip:
        lines += discharge_section()
    if "throughput" not in skip:
        lines += throughput_section(args)
    text = "\n".join(lines)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(text + "\n", encoding="utf8")
    print(text)


if __name__ == "__main__":
    main()
