"""Transformer NER at inference: accuracy and speed of other wordpiece windows and strides.

spacy-transformers cuts each document into windows of ``window`` wordpieces that start every
``stride`` wordpieces, and averages the features of a token seen by several windows. This script
loads a trained transformer NER once per setting with spaCy's own config override (the same call
a user makes) and scores it on the gold DocBin with ``evaluate-ner``'s strict scorer:

    nlp = spacy.load(path, config={"components": {"transformer": {"model":
                     {"get_spans": {"window": 128, "stride": 64}}}}})

Usage:
    python benchmarks/trf_windows.py training/ner_trf_anneal/model-best \
        --data corpus/spacy/maccrobat/dev.spacy --settings 128/96 128/64 128/32 192/144 256/192 \
        --output benchmarks/results/trf_windows.md

The model was trained with the setting its config names (128/96 for ner_trf.cfg); windows wider
than that are positions the model was not fine-tuned on. Times are single runs on a shared CPU.
"""

import argparse
import json
import platform
from pathlib import Path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("model", help="A trained transformer NER pipeline (transformer + ner)")
    parser.add_argument("--data", default="corpus/spacy/maccrobat/dev.spacy")
    parser.add_argument("--settings", nargs="+", default=["128/96", "128/64", "128/32", "192/144", "256/192"], help="window/stride pairs")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--output", default="benchmarks/results/trf_windows.md")
    args = parser.parse_args()

    import spacy
    import torch
    from spacy.tokens import DocBin

    from spacy_clinical_ner.cli.evaluate import ner_report

    torch.set_num_threads(args.threads)
    rows = []
    for setting in args.settings:
        window, stride = (int(x) for x in setting.split("/"))
        if not 0 < stride <= window:
            parser.error(f"{setting}: need 0 < stride <= window")
        overrides = {"components": {"transformer": {"model": {"get_spans": {"window": window, "stride": stride}}}}}
        nlp = spacy.load(args.model, config=overrides)
        docs = list(DocBin().from_disk(args.data).get_docs(nlp.vocab))
        list(nlp.pipe([d.text for d in docs[:2]]))  # warm-up
        report = ner_report(nlp, docs)
        rows.append(
            {"window": window, "stride": stride, **{k: report[k] for k in ("ents_p", "ents_r", "ents_f", "words_per_second", "seconds")}}
        )
        print(json.dumps(rows[-1]), flush=True)

    base = rows[0]
    lines = [
        f"## Transformer NER: wordpiece windows at inference (`{args.model}`)",
        "",
        f"Produced by `python benchmarks/trf_windows.py {args.model} --data {args.data} --settings {' '.join(args.settings)}`",
        f"({len(docs)} documents of `{args.data}`, strict span + label; CPU, {args.threads} threads, {platform.processor() or platform.machine()}).",
        "",
        "| window / stride | P | R | **F1** | ΔF1 | words/s | time vs first row |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        lines.append(
            f"| {r['window']} / {r['stride']} | {r['ents_p']:.3f} | {r['ents_r']:.3f} | **{r['ents_f']:.3f}** | "
            f"{r['ents_f'] - base['ents_f']:+.3f} | {r['words_per_second']:,} | {r['seconds'] / base['seconds']:.2f}x |"
        )
    Path(args.output).parent.mkdir(parents=True, exist_ok=True)
    Path(args.output).write_text("\n".join(lines) + "\n", encoding="utf8")
    print(f"-> {args.output}")


if __name__ == "__main__":
    main()
