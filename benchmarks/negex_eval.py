"""ConText on the NegEx/ConText test kit (development half), scored the way ConText papers do.

    python benchmarks/negex_eval.py [--label Disease_disorder] [--out benchmarks/results/negex_eval.md]
    python benchmarks/negex_eval.py --assertion-model training/context_assertion/model-best --decide all \
        --skip-medspacy --out benchmarks/results/negex_eval_classifier.md

Each row of ``corpus/negex_dev/rsAnnotations-dev-half.txt`` (1,151 sentences, Apache-2.0, see its SOURCE.md)
is one sentence and one condition. The condition is located in the sentence (case-insensitively, any run of
whitespace matching any other or none) and placed as the *only* entity of the Doc (``doc.ents = [span]``); the
systems then read that entity's attributes:

* **ours** – the shipped pipeline's rule part: ``clinical_sectionizer`` -> ``clinical_sentencizer`` ->
  ``clinical_context`` with their default settings and shipped rules (no ``clinical_assertion`` classifier),
  on the project's clinical tokenizer;
* ours without ``clinical_sectionizer`` (what the section headers add);
* with ``--assertion-model``: that trained pipeline (sectionizer, sentencizer, ConText and the
  ``clinical_assertion`` classifier), deciding the attributes given with ``--decide`` (``shipped`` = as saved,
  ``all`` = every attribute the classifier has an output for). A trained pipeline uses the ConText rules saved in it;
  ``--context-rules default`` puts the package's current rules in their place;
* **medspaCy 1.3.1 default** – ``medspacy.load()`` (its tokenizer, PyRuSH sentences, ConText with its
  default rules).

Gold -> attribute: ``negation_status == Negated`` -> ``is_negated``; ``temporality == Historical`` ->
``is_historical``; ``temporality == Not particular`` (ConText's "hypothetical") -> ``is_hypothetical``;
``experiencer != Patient`` -> ``is_family``. P/R/F1 per attribute over all rows (a row counts as a false
positive when the system sets the attribute and the gold does not). Three rows whose condition runs past the
sentence given (it spans two sentences) cannot be placed; they count with no attribute set.

The set is for measuring only: rules are not written from its sentences and none of them is copied into
tests or rules. This script prints no sentence, only counts.
"""

import argparse
import json
import logging
import re
import sys
import time
from pathlib import Path
from typing import Callable, Dict, List, Tuple

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from spacy.language import Language  # noqa: E402

from spacy_clinical_ner.tokenizer import clinical_blank  # noqa: E402

DATA = REPO / "corpus/negex_dev/rsAnnotations-dev-half.txt"
ATTRS = ("is_negated", "is_historical", "is_hypothetical", "is_family")
ATTR_NAMES = {"is_negated": "negated", "is_historical": "historical", "is_hypothetical": "hypothetical", "is_family": "experiencer (other)"}
logger = logging.getLogger("negex_eval")


def read_kit(path: Path = DATA) -> List[Dict]:
    """Rows of the kit: condition, sentence and the four gold booleans."""
    lines = path.read_text(encoding="utf8").splitlines()
    rows = []
    for line in lines[1:]:
        if not line.strip():
            continue
        cols = line.split("\t")
        if len(cols) < 6:
            raise ValueError(f"{path}: a row with {len(cols)} columns (6 expected): {line[:80]!r}")
        _, condition, sentence, negation, temporality, experiencer = (c.strip() for c in cols[:6])
        rows.append(
            {
                "condition": condition,
                "sentence": sentence,
                "gold": {
                    "is_negated": negation.lower() == "negated",
                    "is_historical": temporality.lower() == "historical",
                    "is_hypothetical": temporality.lower() == "not particular",
                    "is_family": experiencer.lower() != "patient",
                },
            }
        )
    return rows


def locate(condition: str, sentence: str) -> Tuple[int, int] | None:
    """Character offsets of the condition in the sentence (its upper-cased occurrence preferred)."""
    words = condition.split()
    if not words:
        return None
    pattern = re.compile(r"\s*".join(re.escape(w) for w in words), flags=re.IGNORECASE)
    matches = list(pattern.finditer(sentence))
    if not matches:
        return None
    upper = [m for m in matches if m.group(0) == m.group(0).upper()]
    m = (upper or matches)[0]
    return m.start(), m.end()


def ours() -> Language:
    nlp = clinical_blank()
    nlp.add_pipe("clinical_sectionizer")
    nlp.add_pipe("clinical_sentencizer")
    nlp.add_pipe("clinical_context")
    return nlp


def ours_without_sections() -> Language:
    nlp = clinical_blank()
    nlp.add_pipe("clinical_sentencizer")
    nlp.add_pipe("clinical_context")
    return nlp


def ours_with_classifier(model: str, decide: str, context_rules: str = "saved") -> Callable[[], Language]:
    def build() -> Language:
        import spacy

        import spacy_clinical_ner  # noqa: F401

        nlp = spacy.load(model)
        if context_rules != "saved":
            from spacy_clinical_ner.context.rules import load_rules

            # a trained pipeline carries the rules it was saved with; this measures other ones without retraining
            nlp.get_pipe("clinical_context").set_rules(load_rules(context_rules))
        assertion = nlp.get_pipe("clinical_assertion")
        if decide == "all":
            assertion.cfg["decide"] = [a for a in assertion.labels if a not in ("present", "negated", "uncertain")] or [
                "is_negated",
                "is_uncertain",
            ]
        elif decide != "shipped":
            assertion.cfg["decide"] = decide.split(",")
        return nlp

    return build


def medspacy_default() -> Language:
    from loguru import logger as loguru_logger

    loguru_logger.disable("PyRuSH")
    import medspacy

    nlp = medspacy.load()
    return nlp


def evaluate(nlp: Language, rows: List[Dict], label: str, cue_counts: Dict | None = None) -> Tuple[Dict[str, List[int]], int]:
    """(tp, fp, fn) per attribute, and the number of rows whose condition could not be placed.

    ``cue_counts`` (ours only): filled with {(attribute, "tp"/"fp"): {rule: n}} – which rules
    decide the true and the false positives, as counts (no sentence is kept).
    """
    counts = {a: [0, 0, 0] for a in ATTRS}
    unplaced = 0
    for row in rows:
        doc = nlp.make_doc(row["sentence"])
        where = locate(row["condition"], row["sentence"])
        span = doc.char_span(*where, label=label, alignment_mode="expand") if where else None
        if span is None or not len(span):
            unplaced += 1
            pred = {a: False for a in ATTRS}
        else:
            doc.ents = [span]
            for name, proc in nlp.pipeline:
                if name == "medspacy_target_matcher":
                    continue  # the condition is given; the matcher would only add (no) entities
                doc = proc(doc)
            ent = doc.ents[0]
            pred = {a: bool(getattr(ent._, a, False)) for a in ATTRS}
            if cue_counts is not None and ent.has_extension("context_cues"):
                for cue in ent._.context_cues:
                    a = cue.get("attribute")
                    if a in pred and pred[a]:
                        key = (a, "tp" if row["gold"][a] else "fp")
                        bucket = cue_counts.setdefault(key, {})
                        bucket[cue["rule"]] = bucket.get(cue["rule"], 0) + 1
        for a in ATTRS:
            g, p = row["gold"][a], pred[a]
            counts[a][0] += g and p
            counts[a][1] += p and not g
            counts[a][2] += g and not p
    return counts, unplaced


def prf(tp: int, fp: int, fn: int) -> Tuple[float, float, float]:
    p = tp / (tp + fp) if tp + fp else 0.0
    r = tp / (tp + fn) if tp + fn else 0.0
    return p, r, (2 * p * r / (p + r) if p + r else 0.0)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--label", default="Disease_disorder", help="entity label given to the condition")
    ap.add_argument("--out", default=str(REPO / "benchmarks/results/negex_eval.md"))
    ap.add_argument("--cues", action="store_true", help="log which of our rules decide true/false positives (counts only)")
    ap.add_argument("--title", default="", help="a heading line for this run (e.g. 'after the rule revision')")
    ap.add_argument("--assertion-model", default="", help="also score this trained pipeline with its clinical_assertion classifier")
    ap.add_argument("--decide", default="shipped", help="with --assertion-model: 'shipped', 'all' or a comma-separated list")
    ap.add_argument("--skip-medspacy", action="store_true", help="leave out the medspaCy row (it is in negex_eval.md)")
    ap.add_argument(
        "--context-rules",
        default="saved",
        help="with --assertion-model: 'saved' (the rules saved in the pipeline) or 'default' / a rules file to use instead",
    )
    args = ap.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    rows = read_kit()
    n_gold = {a: sum(r["gold"][a] for r in rows) for a in ATTRS}
    systems: List[Tuple[str, Callable[[], Language]]] = [
        ("medspaCy 1.3.1 default ConText", medspacy_default),
        ("**ours**: clinical_sectionizer + clinical_sentencizer + clinical_context (rules)", ours),
        ("ours without the sectionizer (clinical_sentencizer + clinical_context)", ours_without_sections),
    ]
    if args.skip_medspacy:
        systems = systems[1:]
    if args.assertion_model:
        systems.append(
            (
                f"ours + clinical_assertion ({args.assertion_model}, decide: {args.decide}"
                + (f", context rules: {args.context_rules}" if args.context_rules != "saved" else "")
                + ")",
                ours_with_classifier(args.assertion_model, args.decide, args.context_rules),
            )
        )
    results = {"data": str(DATA.relative_to(REPO)), "rows": len(rows), "gold": n_gold, "label": args.label, "systems": {}}
    table = []
    for name, build in systems:
        t0 = time.perf_counter()
        cue_counts: Dict | None = {} if args.cues and build is ours else None
        counts, unplaced = evaluate(build(), rows, args.label, cue_counts)
        for key, bucket in sorted((cue_counts or {}).items()):
            logger.info("  %s %s: %s", *key, sorted(bucket.items(), key=lambda kv: -kv[1]))
        logger.info("%s: %s (%d unplaced, %.1fs)", name, counts, unplaced, time.perf_counter() - t0)
        cells = []
        entry = {"unplaced": unplaced}
        for a in ATTRS:
            p, r, f = prf(*counts[a])
            cells.append(f"{p:.3f} | {r:.3f} | **{f:.3f}**")
            entry[a] = {"tp": counts[a][0], "fp": counts[a][1], "fn": counts[a][2], "p": round(p, 4), "r": round(r, 4), "f": round(f, 4)}
        results["systems"][name.replace("*", "")] = entry
        table.append(f"| {name} | " + " | ".join(cells) + " |")
    lines = [
        f"## NegEx/ConText test kit, development half{(' – ' + args.title) if args.title else ''}",
        "",
        f"Produced by `python benchmarks/negex_eval.py` ({len(rows)} sentences, the condition placed as the only entity, "
        f"label `{args.label}`). Gold: " + ", ".join(f"{ATTR_NAMES[a]} {n_gold[a]}" for a in ATTRS) + ".",
        "",
        "| system | " + " | ".join(f"{ATTR_NAMES[a]} P | R | F1" for a in ATTRS) + " |",
        "|---|" + "---|---|---|" * len(ATTRS),
        *table,
        "",
    ]
    text = "\n".join(lines)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(text, encoding="utf8")
    out.with_suffix(".json").write_text(json.dumps(results, indent=2) + "\n", encoding="utf8")
    print(text)


if __name__ == "__main__":
    main()
