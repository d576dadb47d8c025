"""Linking accuracy on gold mentions: our umls_linker vs scispaCy's candidate generator, same KB.

    PYTHONPATH=. python benchmarks/linking_eval.py assets/kb/open [more KB folders] [--reuse-scispacy=benchmarks/results/linking_eval.json]
    PYTHONPATH=. python benchmarks/linking_eval.py assets/kb/open --skip-scispacy=assets/kb/open --exact-max-strings=0 --out=/tmp/pruned

``--exact-max-strings=N`` sets the linker's ``exact_max_strings`` (0: the pruned search for every KB);
``--out=DIR`` writes the results there instead of benchmarks/results.

scispaCy's index is rebuilt by hand (its ``create_tfidf_ann_index`` refuses to run on Python
3.11): its TfidfVectorizer recipe (char_wb 3-grams, min_df=10) + nmslib HNSW
(cosinesimil_sparse); M/efConstruction as given (scispaCy's own 100/2000 are impractical on 2
cores, ENVIRONMENT.md measured the same top-1 with 32/200), efSearch 200. Writes
benchmarks/results/linking_eval.md and .json.
"""

import json
import sys
import time
from pathlib import Path

import numpy as np

import spacy_clinical_ner.linking.component  # noqa: F401
from spacy_clinical_ner.linking.evaluate import evaluate_linking
from spacy_clinical_ner.tokenizer import clinical_blank

SETS = [
    ("BC5CDR dev (Disease)", ["corpus/bc5cdr/CDR_DevelopmentSet.PubTator.txt"], ["Disease"]),
    ("BC5CDR test (Disease)", ["corpus/bc5cdr/CDR_TestSet.PubTator.txt"], ["Disease"]),
    ("NCBI-disease dev", ["corpus/ncbi_disease/NCBIdevelopset_corpus.txt"], None),
]


def scispacy_generator(kb, m=32, efc=200):
    import nmslib
    from scispacy.candidate_generation import CandidateGenerator
    from scispacy.linking_utils import Entity, KnowledgeBase
    from sklearn.feature_extraction.text import TfidfVectorizer

    skb = KnowledgeBase([Entity(c.concept_id, c.canonical_name, c.aliases, c.types, c.definition) for c in kb])
    aliases = list(skb.alias_to_cuis.keys())
    t0 = time.perf_counter()
    vec = TfidfVectorizer(analyzer="char_wb", ngram_range=(3, 3), min_df=10, dtype=np.float32)
    X = vec.fit_transform(aliases)
    keep = np.asarray(X.sum(axis=1)).ravel() != 0
    aliases = [a for a, k in zip(aliases, keep, strict=True) if k]
    X = X[keep]
    index = nmslib.init(method="hnsw", space="cosinesimil_sparse", data_type=nmslib.DataType.SPARSE_VECTOR)
    index.addDataPointBatch(X)
    index.createIndex({"M": m, "efConstruction": efc, "post": 0, "indexThreadQty": 2}, print_progress=False)
    index.setQueryTimeParams({"efSearch": 200})
    build = time.perf_counter() - t0
    gen = CandidateGenerator(ann_index=index, tfidf_vectorizer=vec, ann_concept_aliases_list=aliases, kb=skb)

    def candidates(texts, k=10):
        out = []
        for cands in gen(list(texts), 30):
            scored = sorted(((c.concept_id, max(c.similarities)) for c in cands), key=lambda x: -x[1])
            out.append([cid for cid, _ in scored[:k]])
        return out

    return candidates, build, len(aliases)


def evaluate_kb(kb_dir: str, with_scispacy: bool, exact_max_strings: int | None = None) -> dict:
    from spacy_clinical_ner.linking.candidates import TfidfIndex
    from spacy_clinical_ner.linking.kb import KnowledgeBase

    nlp = clinical_blank()
    config = {"spans_key": "entities"}
    if exact_max_strings is not None:
        config["exact_max_strings"] = exact_max_strings
    linker = nlp.add_pipe("umls_linker", config=config)
    kb = KnowledgeBase.from_disk(kb_dir)
    t0 = time.perf_counter()
    index = TfidfIndex.build(kb.iter_strings())
    ours_build = time.perf_counter() - t0
    linker.set_kb(kb, index)
    rows = {}
    for name, paths, labels in SETS:
        t0 = time.perf_counter()
        rows[name] = {"ours": evaluate_linking(nlp, paths, labels=labels, k=10)}
        rows[name]["ours"]["seconds"] = round(time.perf_counter() - t0, 1)
    info = {"kb_dir": kb_dir, "kb": kb.summary(), "ours_index_seconds": round(ours_build, 1)}
    if with_scispacy:
        cand_fn, sci_build, n_aliases = scispacy_generator(kb)
        info.update({"scispacy_index_seconds": round(sci_build, 1), "scispacy_aliases": n_aliases})
        for name, paths, labels in SETS:
            t0 = time.perf_counter()
            rows[name]["scispacy"] = evaluate_linking(nlp, paths, labels=labels, k=10, candidate_fn=cand_fn)
            rows[name]["scispacy"]["seconds"] = round(time.perf_counter() - t0, 1)
    return {"info": info, "results": rows}


def main(kb_dirs, skip_scispacy, reuse=None, exact_max_strings=None, out_dir="benchmarks/results") -> None:
    previous = {r["info"]["kb_dir"]: r for r in json.loads(Path(reuse).read_text())} if reuse else {}
    runs = []
    for d in kb_dirs:
        run = evaluate_kb(d, d not in skip_scispacy and d not in previous, exact_max_strings)
        if d in previous:  # scispaCy's numbers from an earlier run of this script (its index takes minutes)
            for key in ("scispacy_index_seconds", "scispacy_aliases"):
                run["info"][key] = previous[d]["info"][key]
            for name, r in run["results"].items():
                r["scispacy"] = previous[d]["results"][name]["scispacy"]
        runs.append(run)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    (out / "linking_eval.json").write_text(json.dumps(runs, indent=2))
    lines = [
        "# Linking accuracy on gold mentions",
        "",
        "Gold mentions are given (no NER errors). A hit: the predicted concept carries the gold MeSH/OMIM id "
        "(as a cross-reference or as its own id). *In KB*: share of mentions whose gold id some KB concept carries "
        "(the ceiling). Accuracy@1 and recall@10 rank candidates with no threshold; P / R / F use the default "
        "threshold 0.7 (NIL counts as a miss). scispaCy = its CandidateGenerator (TF-IDF min_df=10 + nmslib HNSW "
        "M=32, efC=200, efSearch=200) over the same KB, ranked the same way.",
        "",
        "| KB | data | mentions | in KB | ours acc@1 | ours recall@10 | ours P / R / F (0.7) | scispaCy acc@1 | scispaCy recall@10 |",
        "|---|---|---:|---:|---:|---:|---|---:|---:|",
    ]
    for run in runs:
        kb_name = Path(run["info"]["kb_dir"]).name
        for name, r in run["results"].items():
            o, s = r["ours"], r.get("scispacy")
            sci = f"{s['acc@1']:.3f} | {s['recall@10']:.3f}" if s else "– | –"
            lines.append(
                f"| {kb_name} | {name} | {o['mentions']:,} | {o['in_kb']:.3f} | {o['acc@1']:.3f} | {o['recall@10']:.3f} | "
                f"{o['nel_micro_p']:.3f} / {o['nel_micro_r']:.3f} / {o['nel_micro_f']:.3f} | {sci} |"
            )
    lines += ["", "| KB | concepts | distinct aliases | our index build | scispaCy index build (aliases) |", "|---|---:|---:|---:|---:|"]
    for run in runs:
        i = run["info"]
        sci = f"{i['scispacy_index_seconds']} s ({i['scispacy_aliases']:,})" if "scispacy_index_seconds" in i else "–"
        lines.append(
            f"| {Path(i['kb_dir']).name} | {i['kb']['n_concepts']:,} | {i['kb']['n_strings']:,} | {i['ours_index_seconds']} s | {sci} |"
        )
    lines += [
        "",
        "KBs: built by `python -m spacy_clinical_ner build-kb <folder>` (Disease Ontology + MONDO->UMLS + HPO 2025 + "
        "drug-named-entity-recognition, merged by CUI and exact cross-references); `spacy project run build-kb` adds the mention "
        "texts of the BC5CDR and NCBI-disease *training* sets as aliases (`--pubtator-aliases corpus/bc5cdr/CDR_TrainingSet.PubTator.txt "
        "--pubtator-aliases corpus/ncbi_disease/NCBItrainset_corpus.txt`; no dev/test text). Before/after issue 19: linking.md.",
        f"Command: `PYTHONPATH=. python benchmarks/linking_eval.py {' '.join(kb_dirs)}`. Machine: 2 shared cores.",
    ]
    (out / "linking_eval.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    args = sys.argv[1:] or ["assets/kb/open"]
    known = ("--skip-scispacy=", "--reuse-scispacy=", "--exact-max-strings=", "--out=")
    unknown = [a for a in args if a.startswith("-") and not a.startswith(known)]
    if unknown:  # --help included: print the usage and write nothing over the stored results
        sys.exit(__doc__ + (f"\nunknown option(s): {' '.join(unknown)}" if unknown != ["--help"] else ""))
    skip = {a.split("=", 1)[1] for a in args if a.startswith("--skip-scispacy=")}
    reuse = next((a.split("=", 1)[1] for a in args if a.startswith("--reuse-scispacy=")), None)
    emax = next((int(a.split("=", 1)[1]) for a in args if a.startswith("--exact-max-strings=")), None)
    out_dir = next((a.split("=", 1)[1] for a in args if a.startswith("--out=")), "benchmarks/results")
    main([a for a in args if not a.startswith("--")], skip, reuse, emax, out_dir)
