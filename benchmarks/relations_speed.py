"""Speed of clinical_relation_extractor on CPU (MACCROBAT dev docs with gold entities).

    python benchmarks/relations_speed.py --rel training/rel_cpu/model-best --out benchmarks/results/relations_speed.json

Measures, best of ``--repeats`` runs after a warm-up:
* candidate generation alone (pairs/s);
* the relation component alone, on docs whose token vectors the upstream tok2vec /
  transformer has already computed (pairs/s, words/s);
* the whole relation pipeline (embedding + relation component) (pairs/s, words/s).
"""

import argparse
import json
import os
import platform
import time
from pathlib import Path
from typing import Callable, List, Tuple

import spacy
from spacy.tokens import Doc

from spacy_clinical_ner.relations.corpus import relation_examples


def best_of(repeats: int, fn: Callable[[], object]) -> Tuple[float, float]:
    """Best wall-clock seconds and best CPU seconds (all threads of this process) over ``repeats`` runs.

    On a shared machine the wall clock includes time other processes held the cores; the
    CPU time does not, so words per CPU-second is the steadier number to compare.
    """
    walls, cpus = [], []
    for _ in range(repeats):
        t0, c0 = time.perf_counter(), time.process_time()
        fn()
        walls.append(time.perf_counter() - t0)
        cpus.append(time.process_time() - c0)
    return min(walls), min(cpus)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rel", required=True)
    parser.add_argument("--dev", default="corpus/spacy/maccrobat/dev.spacy")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--out", required=True)
    args = parser.parse_args()

    nlp = spacy.load(args.rel)
    rel = nlp.get_pipe("clinical_relation_extractor")
    embed_names = [name for name, _ in nlp.pipeline if name != "clinical_relation_extractor"]
    docs: List[Doc] = [eg.predicted for eg in relation_examples(nlp, args.dev, gold_entities=True)]
    n_words = sum(len(d) for d in docs)
    n_ents = sum(len(d.ents) for d in docs)
    n_pairs = sum(len(rel.candidates.pairs(d)[1]) for d in docs)

    def embed(batch: List[Doc]) -> List[Doc]:
        for name in embed_names:
            batch = list(nlp.get_pipe(name).pipe(batch, batch_size=args.batch_size))
        return batch

    def full() -> None:
        list(rel.pipe(embed([d.copy() for d in docs]), batch_size=args.batch_size))

    embedded = embed([d.copy() for d in docs])

    def component_only() -> None:
        list(rel.pipe(embedded, batch_size=args.batch_size))

    def candidates_only() -> None:
        for d in docs:
            rel.candidates.pairs(d)

    full()  # warm-up
    load_before = os.getloadavg()[0]
    t_full, c_full = best_of(args.repeats, full)
    t_rel, c_rel = best_of(args.repeats, component_only)
    t_cand, c_cand = best_of(args.repeats, candidates_only)
    report = {
        "pipeline": args.rel,
        "components": nlp.pipe_names,
        "docs": len(docs),
        "words": n_words,
        "entities": n_ents,
        "candidate_pairs": n_pairs,
        "relations_predicted": sum(len(d._.relations) for d in embedded),
        "machine": f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
        f"1-min load average {load_before:.1f} before / {os.getloadavg()[0]:.1f} after (shared machine)",
        "threads": os.environ.get("OMP_NUM_THREADS", "default"),
        "full_pipeline": {
            "seconds": t_full,
            "cpu_seconds": c_full,
            "words_per_s": n_words / t_full,
            "pairs_per_s": n_pairs / t_full,
            "words_per_cpu_s": n_words / c_full,
            "pairs_per_cpu_s": n_pairs / c_full,
        },
        "component_only": {
            "seconds": t_rel,
            "cpu_seconds": c_rel,
            "words_per_s": n_words / t_rel,
            "pairs_per_s": n_pairs / t_rel,
            "words_per_cpu_s": n_words / c_rel,
            "pairs_per_cpu_s": n_pairs / c_rel,
        },
        "candidates_only": {"seconds": t_cand, "cpu_seconds": c_cand, "pairs_per_s": n_pairs / t_cand, "pairs_per_cpu_s": n_pairs / c_cand},
        "command": f"python benchmarks/relations_speed.py --rel {args.rel} --out {args.out}",
    }
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=2), encoding="utf8")
    md = [
        f"# Relation extractor speed ({', '.join(nlp.pipe_names)})",
        "",
        f"{len(docs)} MACCROBAT dev docs, {n_words} words, {n_ents} gold entities, {n_pairs} candidate pairs; {report['machine']}; best of {args.repeats}.",
        "",
        "| what | wall s | words/s | pairs/s | CPU s | words/CPU-s | pairs/CPU-s |",
        "|---|---|---|---|---|---|---|",
        f"| embedding + relation component | {t_full:.2f} | {n_words / t_full:,.0f} | {n_pairs / t_full:,.0f} | "
        f"{c_full:.2f} | {n_words / c_full:,.0f} | {n_pairs / c_full:,.0f} |",
        f"| relation component alone (token vectors given) | {t_rel:.2f} | {n_words / t_rel:,.0f} | {n_pairs / t_rel:,.0f} | "
        f"{c_rel:.2f} | {n_words / c_rel:,.0f} | {n_pairs / c_rel:,.0f} |",
        f"| candidate generation alone | {t_cand:.2f} | – | {n_pairs / t_cand:,.0f} | {c_cand:.2f} | – | {n_pairs / c_cand:,.0f} |",
        "",
        f"Command: `{report['command']}`",
        "",
    ]
    out.with_suffix(".md").write_text("\n".join(md), encoding="utf8")
    print("\n".join(md))


if __name__ == "__main__":
    main()
