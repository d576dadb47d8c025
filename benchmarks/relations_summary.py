"""README-ready summary of the relation benchmarks: one table of F per label for every
system and setting, from the JSON files of ``relations_eval.py`` (and ``relations_speed.py``).

    python benchmarks/relations_summary.py benchmarks/results/relations_cpu.json \
        benchmarks/results/relations_trf.json --speed benchmarks/results/relations_speed.json \
        --out benchmarks/results/relations.md
"""

import argparse
import json
from pathlib import Path
from typing import Dict, List

LABEL_ORDER = ["MODIFY", "OVERLAP", "BEFORE", "SUB_PROCEDURE", "IDENTICAL", "AFTER", "CAUSE"]
TYPED_ORDER = [
    "result_of",
    "location_of",
    "site_of",
    "severity_of",
    "dosage_of",
    "place_of",
    "size_of",
    "route_of",
    "appearance_of",
    "duration_of",
    "frequency_of",
    "MODIFY",
]


TASK_NOTES = [
    "What is scored (choices documented in `spacy_clinical_ner/relations/gold.py`):",
    "",
    "- BRAT `R` relations as annotated and directed (head = Arg1, tail = Arg2): MODIFY, BEFORE, AFTER, SUB_PROCEDURE, "
    "IDENTICAL, CAUSE. CO-OCCURRENCE (5 in train, 0 in dev) is dropped.",
    "- The n-ary `OVERLAP` groups become binary OVERLAP pairs: every pair of group members *in the same sentence* "
    "(head = earlier mention; 7,640 train / 1,891 dev pairs); cross-sentence membership stays in `doc._.brat`.",
    "- Gold offsets are those of the entity as placed on tokens (the span an NER can predict).",
    "- The extractor reads `doc.ents` (non-overlapping; what an NER produces); about 2% of gold relation arguments are "
    "overlapping entities outside `doc.ents` and count as misses in every row below.",
    "- Candidates: both directions of every entity pair at most 30 tokens apart whose (head type, tail type) occurs in a "
    "train relation. They hold 94.7% of the dev gold pairs with gold entities (the recall ceiling).",
]


def f(x) -> str:
    return "–" if x is None else f"{100 * x:.1f}"


def prf(s: Dict) -> str:
    return f"{f(s['p'])} / {f(s['r'])} / {f(s['f'])}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("reports", nargs="+")
    parser.add_argument("--speed", nargs="*", default=[])
    parser.add_argument("--out", required=True)
    args = parser.parse_args()
    reports = [json.loads(Path(p).read_text(encoding="utf8")) for p in args.reports]
    first = reports[0]
    counts = first["gold_counts"]
    lines: List[str] = ["# Relation extraction on MACCROBAT dev: model vs baseline", ""]
    lines.append(
        f"{first['dev_docs']} dev documents, {first['dev_words']} tokens, {first['gold_total']} gold relations. "
        "Scorer `spacy-clinical-ner.relation_scorer.v1`: head and tail matched by character offsets over the union of "
        "gold and predicted pairs (a gold pair that was never proposed is a miss). Baseline: for every entity and "
        "relation label, link the nearest entity in the same sentence whose (head type, tail type) most often carries "
        "that label in train (no learning beyond that count table)."
    )
    lines.append("")
    lines.extend(TASK_NOTES)
    lines.append("")
    for rep in reports:
        ner = rep.get("ner_scores")
        ner_text = f"; end-to-end behind `{rep['ner_model']}` (NER dev F {f(ner['ents_f'])})" if ner else ""
        lines.append(f"- **{rep['name']}**: `{rep['rel_model']}`, threshold {rep['threshold']}, {rep['candidates']}{ner_text}")
    lines.append("")
    settings = [("gold", "gold entities"), ("end_to_end", "end-to-end after NER")]
    for key, title in settings:
        if not any(key in rep["settings"] for rep in reports):
            continue
        lines.append(f"## F1 per relation label, {title}")
        lines.append("")
        cols = [(rep["name"], rep["settings"][key]["model"]) for rep in reports if key in rep["settings"]]
        base = next(rep["settings"][key]["baseline_sentence"] for rep in reports if key in rep["settings"])
        lines.append("| label | dev support | " + " | ".join(f"{name} P / R / F" for name, _ in cols) + " | baseline P / R / F |")
        lines.append("|" + "---|" * (3 + len(cols)))
        for label in LABEL_ORDER:
            if label not in counts:
                continue
            cells = [prf(res["rel_per_type"][label]) if label in res["rel_per_type"] else "–" for _, res in cols]
            b = prf(base["rel_per_type"][label]) if label in base["rel_per_type"] else "–"
            lines.append(f"| {label} | {counts[label]} | " + " | ".join(cells) + f" | {b} |")
        micro = [f"**{f(res['rel_micro_p'])} / {f(res['rel_micro_r'])} / {f(res['rel_micro_f'])}**" for _, res in cols]
        bm = f"**{f(base['rel_micro_p'])} / {f(base['rel_micro_r'])} / {f(base['rel_micro_f'])}**"
        lines.append(f"| **micro** | {first['gold_total']} | " + " | ".join(micro) + f" | {bm} |")
        n_r = sum(c for label, c in counts.items() if label != "OVERLAP")
        wo = [res["without_overlap"] for _, res in cols] + [base["without_overlap"]]
        lines.append(
            f"| micro without OVERLAP | {n_r} | "
            + " | ".join(f"{f(s['rel_micro_p'])} / {f(s['rel_micro_r'])} / {f(s['rel_micro_f'])}" for s in wo)
            + " |"
        )
        lines.append("| macro F | | " + " | ".join(f(res["rel_macro_f"]) for _, res in cols) + f" | {f(base['rel_macro_f'])} |")
        lines.append(
            "| gold pairs among candidates | | "
            + " | ".join(f"{f(res['coverage']['ALL'])}%" for _, res in cols)
            + f" | {f(base['coverage']['ALL'])}% |"
        )
        lines.append("")
        lines.append(f"### MODIFY by argument types, {title} (P / R / F)")
        lines.append("")
        lines.append("| readable label | " + " | ".join(name for name, _ in cols) + " | baseline |")
        lines.append("|" + "---|" * (2 + len(cols)))
        for label in TYPED_ORDER:
            cells = [prf(res["rel_typed_per_type"][label]) if label in res["rel_typed_per_type"] else "–" for _, res in cols]
            b = prf(base["rel_typed_per_type"][label]) if label in base["rel_typed_per_type"] else "–"
            shown = "MODIFY (other type pairs)" if label == "MODIFY" else label
            lines.append(f"| {shown} | " + " | ".join(cells) + f" | {b} |")
        lines.append("")
    for path in args.speed:
        sp = json.loads(Path(path).read_text(encoding="utf8"))
        lines.append(f"## Speed on CPU ({', '.join(sp['components'])})")
        lines.append("")
        lines.append(
            f"{sp['docs']} dev docs, {sp['words']} words, {sp['candidate_pairs']} candidate pairs; {sp['machine']}; best of 3 runs."
        )
        lines.append("")
        lines.append("| what | words/s (wall) | pairs/s (wall) | words per CPU-second | pairs per CPU-second |")
        lines.append("|---|---|---|---|---|")
        for key, what in (
            ("full_pipeline", "embedding + relation component"),
            ("component_only", "relation component alone (token vectors given)"),
        ):
            r = sp[key]
            lines.append(
                f"| {what} | {r['words_per_s']:,.0f} | {r['pairs_per_s']:,.0f} | {r['words_per_cpu_s']:,.0f} | {r['pairs_per_cpu_s']:,.0f} |"
            )
        r = sp["candidates_only"]
        lines.append(f"| candidate generation alone | – | {r['pairs_per_s']:,.0f} | – | {r['pairs_per_cpu_s']:,.0f} |")
        lines.append("")
        lines.append(f"`{sp['command']}`")
        lines.append("")
    lines.append("Commands:")
    lines.append("")
    for rep in reports:
        lines.append(f"- `{rep['command']}`")
    lines.append(
        f"- `python benchmarks/relations_summary.py {' '.join(args.reports)}"
        + (f" --speed {' '.join(args.speed)}" if args.speed else "")
        + f" --out {args.out}`"
    )
    lines.append("")
    Path(args.out).write_text("\n".join(lines), encoding="utf8")


if __name__ == "__main__":
    main()
