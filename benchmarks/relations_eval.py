"""Dev-split relation scores: trained model vs the nearest-compatible-entity baseline,
with gold entities and end-to-end behind a trained NER, all measured by one scorer.

    python benchmarks/relations_eval.py --rel training/rel_cpu/model-best --name cpu \
        --ner /work/main/training/ner_cpu/model-best --out benchmarks/results/relations_cpu.json

Writes a JSON file with every score (micro, per label, typed per label, candidate
coverage) and a Markdown file beside it with README-ready tables.
"""

import argparse
import json
import logging
from pathlib import Path
from typing import Dict, List, Optional

import spacy
from spacy.language import Language
from spacy.tokens import Doc
from spacy.training import Example

from spacy_clinical_ner.extensions import RELATIONS_ATTR, install_doc_extensions
from spacy_clinical_ner.relations.baseline import apply_baseline, learn_type_table
from spacy_clinical_ner.relations.corpus import relation_examples
from spacy_clinical_ner.relations.instances import RelationCandidates
from spacy_clinical_ner.relations.records import pair_key
from spacy_clinical_ner.relations.scorer import score_relations
from spacy_clinical_ner.tokenizer import clinical_blank

logger = logging.getLogger("relations_eval")
SWEEP = (0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9)
R_LABELS = ["MODIFY", "BEFORE", "SUB_PROCEDURE", "IDENTICAL", "AFTER", "CAUSE"]
LABEL_ORDER = ["MODIFY", "OVERLAP", "BEFORE", "SUB_PROCEDURE", "IDENTICAL", "AFTER", "CAUSE"]


def run_pipeline(nlp: Language, docs: List[Doc], skip=("ner",), batch_size: int = 16) -> List[Doc]:
    """Run ``nlp``'s components (not its tokenizer) over docs that already exist."""
    for name, proc in nlp.pipeline:
        if name in skip:
            continue
        docs = list(proc.pipe(docs, batch_size=batch_size)) if hasattr(proc, "pipe") else [proc(d) for d in docs]
    return docs


def coverage(examples: List[Example], docs: List[Doc], candidates: RelationCandidates) -> Dict[str, float]:
    """Share of gold relations whose (head, tail) is among the candidate pairs (the recall ceiling)."""
    hit: Dict[str, int] = {}
    total: Dict[str, int] = {}
    for eg, doc in zip(examples, docs, strict=True):
        ents, heads, tails = candidates.pairs(doc)
        spans = [(e.start_char, e.end_char) for e in ents]
        pairs = {spans[h] + spans[t] for h, t in zip(heads.tolist(), tails.tolist(), strict=True)}
        for record in getattr(eg.reference._, RELATIONS_ATTR):
            label = record["label"]
            total[label] = total.get(label, 0) + 1
            hit[label] = hit.get(label, 0) + (pair_key(record) in pairs)
    out = {label: hit[label] / total[label] for label in total}
    out["ALL"] = sum(hit.values()) / max(sum(total.values()), 1)
    return out


def _micro(scores: Dict) -> Dict[str, float]:
    return {k: v for k, v in scores.items() if k.startswith("rel_micro")}


def evaluate_setting(
    examples: List[Example],
    entity_docs: List[Doc],
    rel_nlp: Language,
    table: Dict,
    baseline_candidates: Dict[str, RelationCandidates],
) -> Dict[str, Dict]:
    """Scores of the model and the baselines on docs that carry the entities to use."""
    results: Dict[str, Dict] = {}
    rel = rel_nlp.get_pipe("clinical_relation_extractor")
    threshold = rel.threshold
    # predict once with a low threshold; the scorer's min_score then gives any higher threshold
    rel.threshold = min(SWEEP[0], threshold)
    try:
        model_docs = run_pipeline(rel_nlp, [d.copy() for d in entity_docs])
    finally:
        rel.threshold = threshold
    model_egs = [Example(d, eg.reference) for d, eg in zip(model_docs, examples, strict=True)]
    results["model"] = score_relations(model_egs, min_score=threshold)
    results["model"]["without_overlap"] = _micro(score_relations(model_egs, min_score=threshold, labels=R_LABELS, typed=False))
    results["model"]["threshold_sweep"] = {
        str(t): {k: v for k, v in score_relations(model_egs, min_score=t, typed=False).items() if k.startswith("rel_micro")} for t in SWEEP
    }
    results["model"]["coverage"] = coverage(examples, entity_docs, rel.candidates)
    sentencizer = clinical_blank().add_pipe("sentencizer")
    for name, cands in baseline_candidates.items():
        docs = [d.copy() for d in entity_docs]
        if cands.scope == "sentence":
            docs = [sentencizer(d) for d in docs]
        docs = apply_baseline(docs, table, cands)
        egs = [Example(d, eg.reference) for d, eg in zip(docs, examples, strict=True)]
        results[name] = score_relations(egs)
        results[name]["without_overlap"] = _micro(score_relations(egs, labels=R_LABELS, typed=False))
        results[name]["coverage"] = coverage(examples, docs, cands)
    return results


def ner_docs(ner_nlp: Language, examples: List[Example]) -> List[Doc]:
    return list(ner_nlp.pipe((eg.reference.text for eg in examples), batch_size=16))


def ner_scores(examples: List[Example], docs: List[Doc]) -> Dict[str, float]:
    from spacy.scorer import Scorer

    egs = [Example(d, eg.reference) for d, eg in zip(docs, examples, strict=True)]
    s = Scorer.score_spans(egs, "ents")
    return {"ents_p": s["ents_p"], "ents_r": s["ents_r"], "ents_f": s["ents_f"]}


def fmt(x: Optional[float]) -> str:
    return "–" if x is None else f"{100 * x:.1f}"


def prf_cell(s) -> str:
    """'P / R / F' of one per-label score dict, '–' when the label is absent."""
    return "–" if s is None else f"{fmt(s['p'])} / {fmt(s['r'])} / {fmt(s['f'])}"


def markdown(report: Dict) -> str:
    lines = [f"# Relation extraction on MACCROBAT dev ({report['name']})", ""]
    lines.append(f"Relation pipeline: `{report['rel_model']}`; NER for end-to-end: `{report.get('ner_model')}`")
    if report.get("ner_scores"):
        ns = report["ner_scores"]
        lines.append(f"(NER on dev: P {fmt(ns['ents_p'])} / R {fmt(ns['ents_r'])} / F {fmt(ns['ents_f'])}).")
    lines.append(
        "Scorer: `spacy-clinical-ner.relation_scorer.v1` – head and tail matched by character offsets, "
        "over the union of gold and predicted pairs (gold pairs never proposed count as misses). "
        f"Gold: {report['gold_total']} dev relations ({report['gold_counts']})."
    )
    lines.append("")
    systems = [("model", "model"), ("baseline_sentence", "baseline (sentence)"), ("baseline_window", "baseline (window)")]
    for setting, title in (("gold", "Gold entities"), ("end_to_end", "End-to-end (after NER)")):
        if setting not in report["settings"]:
            continue
        res = report["settings"][setting]
        lines.append(f"## {title} – P / R / F per label")
        lines.append("")
        header = "| label | support | " + " | ".join(f"{t} P / R / F" for _, t in systems) + " |"
        lines.append(header)
        lines.append("|" + "---|" * (2 + len(systems)))
        labels = [label for label in LABEL_ORDER if label in report["gold_counts"]]
        for label in labels:
            cells = [prf_cell(res[key]["rel_per_type"].get(label)) for key, _ in systems]
            lines.append(f"| {label} | {report['gold_counts'][label]} | " + " | ".join(cells) + " |")
        cells = [f"**{fmt(res[k]['rel_micro_p'])} / {fmt(res[k]['rel_micro_r'])} / {fmt(res[k]['rel_micro_f'])}**" for k, _ in systems]
        lines.append(f"| **micro** | {report['gold_total']} | " + " | ".join(cells) + " |")
        n_r = sum(report["gold_counts"].get(label, 0) for label in R_LABELS)
        cells = [
            f"{fmt(res[k]['without_overlap']['rel_micro_p'])} / {fmt(res[k]['without_overlap']['rel_micro_r'])} / "
            f"{fmt(res[k]['without_overlap']['rel_micro_f'])}"
            for k, _ in systems
        ]
        lines.append(f"| micro without OVERLAP (BRAT R relations only) | {n_r} | " + " | ".join(cells) + " |")
        cells = [f"F {fmt(res[k]['rel_macro_f'])}" for k, _ in systems]
        lines.append("| macro | | " + " | ".join(cells) + " |")
        cells = [f"{fmt(res[k]['coverage']['ALL'])}% of gold" for k, _ in systems]
        lines.append("| candidate coverage | | " + " | ".join(cells) + " |")
        lines.append("")
        lines.append(f"### {title} – MODIFY by argument types (P / R / F)")
        lines.append("")
        typed_labels = sorted(
            {label for k, _ in systems for label in res[k]["rel_typed_per_type"] if label not in LABEL_ORDER or label == "MODIFY"}
        )
        lines.append("| typed label | " + " | ".join(t for _, t in systems) + " |")
        lines.append("|" + "---|" * (1 + len(systems)))
        for label in typed_labels:
            cells = [prf_cell(res[key]["rel_typed_per_type"].get(label)) for key, _ in systems]
            lines.append(f"| {label} | " + " | ".join(cells) + " |")
        lines.append("")
    lines.append(
        f"Threshold {report['threshold']} (configured, not tuned on dev). Micro F of the model at other thresholds (information only):"
    )
    lines.append("")
    lines.append("| setting | " + " | ".join(str(t) for t in SWEEP) + " |")
    lines.append("|" + "---|" * (1 + len(SWEEP)))
    for setting, res in report["settings"].items():
        sweep = res["model"]["threshold_sweep"]
        lines.append(f"| {setting} | " + " | ".join(fmt(sweep[str(t)]["rel_micro_f"]) for t in SWEEP) + " |")
    lines.append("")
    lines.append(f"Command: `{report['command']}`")
    lines.append("")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rel", required=True, help="trained relation pipeline (e.g. training/rel_cpu/model-best)")
    parser.add_argument("--ner", default=None, help="trained NER pipeline for end-to-end scores")
    parser.add_argument("--name", default="cpu")
    parser.add_argument("--train", default="corpus/spacy/maccrobat/train.spacy")
    parser.add_argument("--dev", default="corpus/spacy/maccrobat/dev.spacy")
    parser.add_argument("--overlap", default="sentence")
    parser.add_argument("--baseline-window", type=int, default=None, help="token window of the window baseline (default: the model's)")
    parser.add_argument("--out", required=True, help="JSON output; a .md with the tables is written beside it")
    parser.add_argument("--limit", type=int, default=0)
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    install_doc_extensions()

    rel_nlp = spacy.load(args.rel)
    rel = rel_nlp.get_pipe("clinical_relation_extractor")
    base_nlp = clinical_blank()
    train = list(relation_examples(base_nlp, args.train, overlap=args.overlap))
    table = learn_type_table((r for eg in train for r in eg.reference._.relations), min_count=2)
    window = args.baseline_window if args.baseline_window is not None else rel.candidates.max_distance
    baselines = {
        "baseline_sentence": RelationCandidates(max_distance=10_000, scope="sentence"),
        "baseline_window": RelationCandidates(max_distance=window, scope="window"),
    }
    gold_examples = list(relation_examples(rel_nlp, args.dev, gold_entities=True, overlap=args.overlap, limit=args.limit))
    counts: Dict[str, int] = {}
    for eg in gold_examples:
        for r in eg.reference._.relations:
            counts[r["label"]] = counts.get(r["label"], 0) + 1
    report: Dict = {
        "name": args.name,
        "rel_model": args.rel,
        "ner_model": args.ner,
        "dev_docs": len(gold_examples),
        "dev_words": sum(len(eg.reference) for eg in gold_examples),
        "gold_counts": counts,
        "gold_total": sum(counts.values()),
        "threshold": rel.threshold,
        "candidates": repr(rel.candidates),
        "baseline_table_size": len(table),
        "settings": {},
        "command": "python benchmarks/relations_eval.py "
        + " ".join(f"--{k.replace('_', '-')} {v}" for k, v in vars(args).items() if v not in (None, 0) and k != "overlap"),
    }
    logger.info("gold-entity evaluation on %d docs", len(gold_examples))
    report["settings"]["gold"] = evaluate_setting(gold_examples, [eg.predicted for eg in gold_examples], rel_nlp, table, baselines)
    if args.ner:
        ner_nlp = spacy.load(args.ner)
        logger.info("end-to-end evaluation behind %s", args.ner)
        docs = ner_docs(ner_nlp, gold_examples)
        report["ner_scores"] = ner_scores(gold_examples, docs)
        report["settings"]["end_to_end"] = evaluate_setting(gold_examples, docs, rel_nlp, table, baselines)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=2), encoding="utf8")
    out.with_suffix(".md").write_text(markdown(report), encoding="utf8")
    for setting, res in report["settings"].items():
        logger.info(
            "%s: model F %.3f | baseline(sentence) F %.3f | baseline(window) F %.3f",
            setting,
            res["model"]["rel_micro_f"],
            res["baseline_sentence"]["rel_micro_f"],
            res["baseline_window"]["rel_micro_f"],
        )


if __name__ == "__main__":
    main()
