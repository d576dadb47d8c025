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
from typing import Callable, List

import spacy
from spacy.tokens import Doc

from spacy_clinical_ner.relations.corpus import relation_examples


def best_of(repeats: int, fn: Callable[[], object]) -> float:
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


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
    t_full = best_of(args.repeats, full)
    t_rel = best_of(args.repeats, component_only)
    t_cand = best_of(args.repeats, candidates_only)
    report = {
        "pipeline": args.rel,
        "components": nlp.pipe_names,
        "docs": len(docs),
        "words": n_words,
        "entities": n_ents,
        "candidate_pairs": n_pairs,
        "relations_predicted": sum(len(d._.relations) for d in embedded),
        "machine": f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f} at the end",
        "threads": os.environ.get("OMP_NUM_THREADS", "default"),
        "full_pipeline": {"seconds": t_full, "words_per_s": n_words / t_full, "pairs_per_s": n_pairs / t_full},
        "component_only": {"seconds": t_rel, "words_per_s": n_words / t_rel, "pairs_per_s": n_pairs / t_rel},
        "candidates_only": {"seconds": t_cand, "pairs_per_s": n_pairs / t_cand},
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
        "| what | seconds | words/s | pairs/s |",
        "|---|---|---|---|",
        f"| embedding + relation component | {t_full:.2f} | {n_words / t_full:,.0f} | {n_pairs / t_full:,.0f} |",
        f"| relation component alone (token vectors given) | {t_rel:.2f} | {n_words / t_rel:,.0f} | {n_pairs / t_rel:,.0f} |",
        f"| candidate generation alone | {t_cand:.2f} | – | {n_pairs / t_cand:,.0f} |",
        "",
        f"Command: `{report['command']}`",
        "",
    ]
    out.with_suffix(".md").write_text("\n".join(md), encoding="utf8")
    print("\n".join(md))


if __name__ == "__main__":
    main()
