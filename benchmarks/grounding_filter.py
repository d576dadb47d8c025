"""What ``clinical_grounding_filter`` buys on the held-out dev splits: strict and any-overlap P/R/F1 of an
assembled pipeline's entities with the filter off and at several settings.

    python benchmarks/grounding_filter.py --model training/assembled/cnn_dev \
        --output benchmarks/results/grounding_filter

The pipeline runs once per corpus up to the filter (assertions and relations are not needed); the filter
component itself is then applied to copies of the docs at each setting.
"""

import argparse
import json
from pathlib import Path

import spacy
from spacy.scorer import Scorer
from spacy.tokens import DocBin
from spacy.training import Example

from spacy_clinical_ner.cli.evaluate import COARSE_TYPES, overlap_scores

CORPORA = {"notes dev": "corpus/spacy/notes/dev.spacy", "MACCROBAT dev": "corpus/spacy/maccrobat/dev.spacy"}
PROBLEM = ["Sign_symptom", "Disease_disorder"]
SETTINGS = [("off", PROBLEM, 0.0)] + [(f"problem, < {c}", PROBLEM, c) for c in (0.3, 0.4, 0.5, 0.6)]


def scores(predicted, gold) -> dict:
    strict = Scorer.score_spans([Example(p, g) for p, g in zip(predicted, gold)], "ents")
    return {
        "strict": {k: round(strict[f"ents_{k}"] or 0.0, 4) for k in "prf"},
        "overlap": overlap_scores(zip(predicted, gold))["micro"],
        "coarse_overlap": overlap_scores(zip(predicted, gold), COARSE_TYPES)["micro"],
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--model", default="training/assembled/cnn_dev")
    ap.add_argument("--output", default="benchmarks/results/grounding_filter")
    args = ap.parse_args()
    nlp = spacy.load(args.model)
    filt = nlp.get_pipe("clinical_grounding_filter")
    upto = nlp.pipe_names[: nlp.pipe_names.index("clinical_grounding_filter")]
    skip = {"clinical_context", "clinical_assertion"}
    results = {}
    for name, path in CORPORA.items():
        gold = list(DocBin().from_disk(path).get_docs(nlp.vocab))
        with nlp.select_pipes(enable=[p for p in upto if p not in skip]):
            docs = list(nlp.pipe([g.text for g in gold], batch_size=16))
        rows = {}
        for label, labels, c in SETTINGS:
            filt.labels, filt.min_confidence = frozenset(labels), c
            out = [filt(d.copy()) for d in docs]
            rows[label] = scores(out, gold) | {"dropped": sum(len(d.spans["ungrounded"]) for d in out)}
        filt.labels, filt.min_confidence = frozenset(PROBLEM), 0.5
        examples = []
        for d, g in zip(docs, gold):
            gold_keys = {(e.start_char, e.end_char, e.label_) for e in g.ents}
            kept = filt(d.copy())
            for s in kept.spans["ungrounded"]:
                examples.append({"text": s.text, "label": s.label_, "right": (s.start_char, s.end_char, s.label_) in gold_keys})
        results[name] = {"documents": len(gold), "gold_entities": sum(len(g.ents) for g in gold), "settings": rows, "dropped_at_0.5": examples}
    out = Path(args.output)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.with_suffix(".json").write_text(json.dumps({"model": args.model, "results": results}, indent=1))
    lines = [
        "# Grounding filter (`clinical_grounding_filter`) on the held-out dev splits",
        "",
        f"Pipeline `{args.model}` (train-only models); strict = exact span and label, overlap = any overlap with the same label,",
        "coarse = any overlap of problem / treatment / test. \"problem, < c\": a Sign_symptom or Disease_disorder without",
        "any KB concept and with confidence below c is dropped. Command: `python benchmarks/grounding_filter.py --model MODEL`.",
        "",
    ]
    for name, r in results.items():
        lines += [f"## {name} ({r['documents']} documents, {r['gold_entities']} gold entities)", "",
                  "| setting | dropped | strict P | strict R | strict F1 | overlap F1 | coarse P | coarse R | coarse F1 |",
                  "|---|---:|---:|---:|---:|---:|---:|---:|---:|"]
        for label, s in r["settings"].items():
            lines.append(
                f"| {label} | {s['dropped']} | {s['strict']['p']:.3f} | {s['strict']['r']:.3f} | {s['strict']['f']:.3f} | {s['overlap']['f']:.3f} | "
                f"{s['coarse_overlap']['p']:.3f} | {s['coarse_overlap']['r']:.3f} | {s['coarse_overlap']['f']:.3f} |"
            )
        wrong = [e["text"] for e in r["dropped_at_0.5"] if not e["right"]]
        right = [e["text"] for e in r["dropped_at_0.5"] if e["right"]]
        lines += ["", f"Dropped at 0.5: {len(wrong)} wrong entities ({', '.join(wrong[:25])}{', ...' if len(wrong) > 25 else ''}); "
                  f"{len(right)} right ones ({', '.join(right[:15])}{', ...' if len(right) > 15 else ''}).", ""]
    out.with_suffix(".md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
