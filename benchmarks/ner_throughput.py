"""NER throughput on CPU: words/second and peak RSS of trained pipelines on clinical notes.

Usage:
    python benchmarks/ner_throughput.py training/ner_cpu/model-best training/ner_trf/model-best \
        --notes corpus/notes/aci_bench/valid.csv --output benchmarks/results/ner_throughput.md

Each pipeline is measured in a fresh subprocess (so peak RSS is its own), after one warm-up
batch, over the `note` column of the ACI-BENCH CSV (visit notes, unlabelled).
"""

import argparse
import csv
import json
import platform
import resource
import subprocess
import sys
import time
from pathlib import Path


def measure(model: str, notes: str, batch_size: int, n_threads: int) -> dict:
    import spacy
    import torch

    torch.set_num_threads(n_threads)
    with open(notes, newline="", encoding="utf8") as f:
        texts = [row["note"] for row in csv.DictReader(f) if row.get("note")]
    t0 = time.perf_counter()
    nlp = spacy.load(model)
    load_s = time.perf_counter() - t0
    list(nlp.pipe(texts[:2], batch_size=batch_size))  # warm-up
    t0 = time.perf_counter()
    docs = list(nlp.pipe(texts, batch_size=batch_size))
    seconds = time.perf_counter() - t0
    words = sum(len(d) for d in docs)
    return {
        "model": model,
        "pipeline": nlp.pipe_names,
        "notes": len(texts),
        "words": words,
        "entities": sum(len(d.ents) for d in docs),
        "seconds": round(seconds, 2),
        "words_per_second": round(words / seconds),
        "load_seconds": round(load_s, 2),
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
        "threads": n_threads,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("models", nargs="+")
    parser.add_argument("--notes", default="corpus/notes/aci_bench/valid.csv")
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--output", default="benchmarks/results/ner_throughput.md")
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        print(json.dumps(measure(args.models[0], args.notes, args.batch_size, args.threads)))
        return
    rows = []
    for model in args.models:
        out = subprocess.run(
            [
                sys.executable,
                __file__,
                model,
                "--notes",
                args.notes,
                "--batch-size",
                str(args.batch_size),
                "--threads",
                str(args.threads),
                "--worker",
            ],
            check=True,
            capture_output=True,
            text=True,
        )
        rows.append(json.loads(out.stdout.strip().splitlines()[-1]))
        print(rows[-1], file=sys.stderr)
    lines = [
        "# NER throughput (CPU)",
        "",
        f"Machine: {platform.processor() or platform.machine()}, {args.threads} threads; notes: `{args.notes}` "
        f"({rows[0]['notes']} ACI-BENCH visit notes, {rows[0]['words']} words); batch size {args.batch_size}.",
        f"Command: `python benchmarks/ner_throughput.py {' '.join(args.models)} --notes {args.notes}`",
        "",
        "| pipeline | components | words/s | entities | load (s) | peak RSS (MB) |",
        "|---|---|---:|---:|---:|---:|",
    ]
    for r in rows:
        lines.append(
            f"| `{r['model']}` | {', '.join(r['pipeline'])} | {r['words_per_second']:,} | {r['entities']:,} | {r['load_seconds']} | {r['peak_rss_mb']:,} |"
        )
    Path(args.output).parent.mkdir(parents=True, exist_ok=True)
    Path(args.output).write_text("\n".join(lines) + "\n", encoding="utf8")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
