"""Linking errors on gold mentions, for error analysis: the mentions whose top-ranked concept misses.

    PYTHONPATH=. python benchmarks/linking_errors.py assets/kb/open corpus/ncbi_disease/NCBIdevelopset_corpus.txt --n 30
    PYTHONPATH=. python benchmarks/linking_errors.py assets/kb/open corpus/bc5cdr/CDR_DevelopmentSet.PubTator.txt --labels Disease

Same protocol as ``evaluate-linker`` (``evaluate_linking``, the corpus label as the NER label).
Prints a markdown table of ``--n`` misses at accuracy@1, spread evenly over all of them (every
k-th in document order, so the sample does not come from a few documents): the mention, the query
text after abbreviation expansion, the gold ids with the KB's name for them (or "not in KB"), the
top-ranked concept, the rank of the first hit in the top 10 and what is linked at the threshold.
Never run it on a reserved test split (NCBI-disease test).
"""

import argparse
import sys
from pathlib import Path

import spacy_clinical_ner.linking.component  # noqa: F401
from spacy_clinical_ner.linking.evaluate import DEFAULT_NAMESPACES, evaluate_linking
from spacy_clinical_ner.tokenizer import clinical_blank


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("kb", help="KB folder (with index/)")
    ap.add_argument("data", nargs="+", type=Path, help="PubTator file(s)")
    ap.add_argument("--labels", nargs="*", default=None, help="Mention types (default: all)")
    ap.add_argument("--n", type=int, default=30, help="How many misses to show")
    ap.add_argument("--out", type=Path, default=None, help="Also write the table here")
    args = ap.parse_args(argv)
    if any("test" in p.name.lower() and "ncbi" in p.name.lower() for p in args.data):
        sys.exit("NCBI-disease test is reserved: not used for error analysis")

    nlp = clinical_blank()
    linker = nlp.add_pipe("umls_linker", config={"spans_key": "entities"})
    linker.initialize(kb=args.kb)
    kb = linker.kb
    details: list = []
    scores = evaluate_linking(nlp, args.data, labels=args.labels, k=10, details=details)
    owners = {}
    for ns in DEFAULT_NAMESPACES:
        owners.update(kb.xref_index(ns))

    def describe(concept_id: str | None) -> str:
        if not concept_id:
            return "NIL"
        c = kb.get(concept_id)
        ids = sorted(set().union(*(c.ids(ns) for ns in DEFAULT_NAMESPACES)))
        return f"{c.canonical_name} [{concept_id}; {','.join(c.types)}{'; ' + ' '.join(ids[:2]) if ids else ''}]"

    def gold_names(gold) -> str:
        out = []
        for g in gold:
            idx = owners.get(g)
            out.append(f"{g} = {kb.name(idx[0])}" + (f" (+{len(idx) - 1})" if len(idx) > 1 else "") if idx else f"{g} (not in KB)")
        return "; ".join(out)

    misses = [d for d in details if d["hit_rank"] != 1]
    step = max(1, len(misses) // args.n) if args.n else 1
    sample = misses[::step][: args.n]
    lines = [
        f"{len(misses)} misses at accuracy@1 of {scores['mentions']} mentions (acc@1 {scores['acc@1']:.3f}); every {step}th shown",
        "",
        "| # | doc | mention | query | gold | top-1 | gold rank | linked |",
        "|---:|---|---|---|---|---|---:|---|",
    ]
    for i, d in enumerate(sample, 1):
        query = d["query"] if d["query"] != d["text"] else ""
        top1 = describe(d["ranked"][0]) if d["ranked"] else "(no candidate)"
        linked = "= top-1" if d["linked"] and d["ranked"] and d["linked"] == d["ranked"][0] else describe(d["linked"])
        row = [str(i), d["doc"], d["text"], query, gold_names(d["gold"]), top1, str(d["hit_rank"] or "–"), linked]
        lines.append("| " + " | ".join(c.replace("|", "/") for c in row) + " |")
    text = "\n".join(lines) + "\n"
    print(text)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(text)


if __name__ == "__main__":
    main()
