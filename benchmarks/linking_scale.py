"""Scale benchmark: a synthetic UMLS-sized KB (about 3 million aliases).

    PYTHONPATH=. python benchmarks/linking_scale.py build /tmp/synkb     # KB + index build, peak RSS
    PYTHONPATH=. python benchmarks/linking_scale.py pipeline /tmp/synkb /tmp/synpipe
    PYTHONPATH=. python benchmarks/linking_scale.py query /tmp/synpipe   # fresh process: cold load, RSS, mentions/s
    PYTHONPATH=. python benchmarks/linking_scale.py query models/linker_open   # the same for the open KB

No real UMLS release is available here, so the KB is synthetic (benchmarks/linking_synthetic.py:
the open KB plus UMLS-like variants of its names). Each phase prints one JSON line; the
results are collected in benchmarks/results/linking_scale.md.
"""

import json
import resource
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))


def rss_gb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e6


def current_rss_gb(field: str = "VmRSS") -> float:
    """Current resident memory (``RssAnon``: private memory; ``RssFile``: pages of mapped files,
    here mostly the memory-mapped KB and index, shared with other processes and reclaimable)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1e6
    return 0.0


def mapped_npy_rss_mb(top: int = 6) -> dict:
    """Resident MB per memory-mapped ``.npy`` file of this process (from /proc/self/smaps), largest first."""
    rss: dict = {}
    name = None
    for line in Path("/proc/self/smaps").read_text().splitlines():
        parts = line.split()
        if parts and "-" in parts[0] and len(parts) >= 5 and not parts[0].endswith(":"):
            name = parts[5] if len(parts) > 5 else None
        elif parts and parts[0] == "Rss:" and name and name.endswith(".npy"):
            rss[name] = rss.get(name, 0) + int(parts[1]) / 1024
    return {"/".join(Path(k).parts[-2:]): round(v) for k, v in sorted(rss.items(), key=lambda kv: -kv[1])[:top]}


def build(out: str, base: str = "assets/kb/open") -> None:
    from linking_synthetic import synthetic_concepts

    from spacy_clinical_ner.linking.candidates import TfidfIndex
    from spacy_clinical_ner.linking.kb import KnowledgeBase

    t0, c0 = time.perf_counter(), time.process_time()
    kb = KnowledgeBase.from_concepts(synthetic_concepts(KnowledgeBase.from_disk(base), target_strings=3_000_000))
    kb.to_disk(out)
    t1, c1 = time.perf_counter(), time.process_time()
    TfidfIndex.build(kb.iter_strings()).to_disk(Path(out) / "index")
    t2, c2 = time.perf_counter(), time.process_time()
    size = sum(f.stat().st_size for f in Path(out).rglob("*") if f.is_file())
    print(
        json.dumps(
            {
                "phase": "build",
                **kb.summary(),
                "kb_seconds": round(t1 - t0, 1),
                "index_seconds": round(t2 - t1, 1),
                "kb_cpu_seconds": round(c1 - c0, 1),
                "index_cpu_seconds": round(c2 - c1, 1),
                "load_average": round(__import__("os").getloadavg()[0], 1),
                "disk_mb": round(size / 1e6),
                "peak_rss_gb": round(rss_gb(), 2),
            }
        )
    )


def pipeline(kb_dir: str, out: str) -> None:
    import spacy_clinical_ner.linking.component  # noqa: F401
    from spacy_clinical_ner.tokenizer import clinical_blank

    nlp = clinical_blank()
    nlp.add_pipe("umls_linker").initialize(kb=kb_dir)
    t0 = time.perf_counter()
    nlp.to_disk(out)
    print(json.dumps({"phase": "pipeline", "save_seconds": round(time.perf_counter() - t0, 1)}))


def query(pipe_dir: str) -> None:
    t0 = time.perf_counter()
    import spacy

    import spacy_clinical_ner.linking.component  # noqa: F401
    from spacy_clinical_ner.linking.kb import normalize_alias
    from spacy_clinical_ner.readers.pubtator import read_pubtator

    t_import = time.perf_counter() - t0
    from spacy_clinical_ner.linking.candidates import TfidfIndex
    from spacy_clinical_ner.linking.kb import KnowledgeBase

    t1 = time.perf_counter()
    KnowledgeBase.from_disk(Path(pipe_dir) / "umls_linker" / "kb")
    TfidfIndex.from_disk(Path(pipe_dir) / "umls_linker" / "index")
    t_component = time.perf_counter() - t1
    t1 = time.perf_counter()
    nlp = spacy.load(pipe_dir)
    t_load = time.perf_counter() - t1
    rss_loaded = current_rss_gb()
    rss_loaded_anon = current_rss_gb("RssAnon")
    linker = nlp.get_pipe("umls_linker")
    files = [f"corpus/bc5cdr/CDR_{s}.PubTator.txt" for s in ("TrainingSet", "DevelopmentSet", "TestSet")]
    mentions = [m.text for f in files for d in read_pubtator(f) for m in d.mentions]
    t2 = time.perf_counter()
    first = linker.link_texts(mentions[:1])
    t_first = time.perf_counter() - t2
    linker.generator.clear_cache()
    res = {}
    t3, c3 = time.perf_counter(), time.process_time()
    for i in range(0, len(mentions), 256):
        linker.link_texts(mentions[i : i + 256])
    res["stream_cached"] = len(mentions) / (time.perf_counter() - t3)
    res["stream_cached_cpu"] = len(mentions) / (time.process_time() - c3)
    uniq = list(dict.fromkeys(normalize_alias(m) for m in mentions))
    linker.cfg["cache_size"] = 0
    linker.generator.clear_cache()
    t4, c4 = time.perf_counter(), time.process_time()
    for i in range(0, len(uniq), 256):
        linker.link_texts(uniq[i : i + 256])
        linker.generator.clear_cache()
    res["unique_uncached"] = len(uniq) / (time.perf_counter() - t4)
    res["unique_uncached_cpu"] = len(uniq) / (time.process_time() - c4)
    peak_linking, rss_linking = rss_gb(), (current_rss_gb(), current_rss_gb("RssAnon"), current_rss_gb("RssFile"))
    mapped = mapped_npy_rss_mb()
    # whole documents through nlp.pipe: abbreviation detection, search, writing doc.ents and
    # the span extensions (documents made before the clock starts; fresh cache)
    from spacy_clinical_ner.readers.pubtator import pubtator_to_doc

    linker.cfg["cache_size"] = 100_000
    linker.generator.clear_cache()
    docs = [pubtator_to_doc(d, nlp.make_doc) for f in files for d in read_pubtator(f)]
    n_ents = sum(len(d.ents) for d in docs)
    t5, c5 = time.perf_counter(), time.process_time()
    for _ in nlp.pipe(docs, batch_size=128):
        pass
    res["docs"] = n_ents / (time.perf_counter() - t5)
    res["docs_cpu"] = n_ents / (time.process_time() - c5)
    print(
        json.dumps(
            {
                "phase": "query",
                "import_seconds": round(t_import, 2),
                "kb_and_index_open_seconds": round(t_component, 3),
                "spacy_load_seconds": round(t_load, 2),
                "first_mention_seconds": round(t_first, 3),
                "rss_after_load_gb": round(rss_loaded, 3),
                "rss_anon_after_load_gb": round(rss_loaded_anon, 3),
                "mentions": len(mentions),
                "unique": len(uniq),
                "mentions_per_s_stream_cached": round(res["stream_cached"]),
                "mentions_per_s_unique_uncached": round(res["unique_uncached"]),
                "mentions_per_cpu_s_stream_cached": round(res["stream_cached_cpu"]),
                "mentions_per_cpu_s_unique_uncached": round(res["unique_uncached_cpu"]),
                "doc_mentions": n_ents,
                "mentions_per_s_docs_pipe": round(res["docs"]),
                "mentions_per_cpu_s_docs_pipe": round(res["docs_cpu"]),
                "load_average": round(__import__("os").getloadavg()[0], 1),
                "peak_rss_gb": round(peak_linking, 2),
                "rss_after_linking_gb": round(rss_linking[0], 3),
                "rss_anon_after_linking_gb": round(rss_linking[1], 3),
                "rss_file_after_linking_gb": round(rss_linking[2], 3),
                "peak_rss_gb_with_docs_in_memory": round(rss_gb(), 2),
                "resident_mb_of_mapped_arrays_after_linking": mapped,
                "first": first[0][:1],
            }
        )
    )


def quality(index_dir: str, step: str = "17", budgets: str = "1024,4096,16384", rescore: str = "128") -> None:
    """Pruned search vs exact search on every ``step``-th distinct BC5CDR mention string."""
    import numpy as np

    from spacy_clinical_ner.linking.candidates import TfidfIndex
    from spacy_clinical_ner.linking.kb import normalize_alias
    from spacy_clinical_ner.readers.pubtator import read_pubtator

    idx = TfidfIndex.from_disk(index_dir)
    files = [f"corpus/bc5cdr/CDR_{s}.PubTator.txt" for s in ("TrainingSet", "DevelopmentSet", "TestSet")]
    uniq = list(dict.fromkeys(normalize_alias(m.text) for f in files for d in read_pubtator(f) for m in d.mentions))
    sample = uniq[:: int(step)]
    t0 = time.perf_counter()
    exact = []
    for i in range(0, len(sample), 64):
        exact += idx.search(sample[i : i + 64], k=10, budget=None)
    rows = [{"budget": None, "unique_per_s": round(len(sample) / (time.perf_counter() - t0), 1), "top1_same": 1.0, "top10_overlap": 1.0}]
    for b in [int(x) for x in budgets.split(",")]:
        for r in [int(x) for x in rescore.split(",")]:
            t0 = time.perf_counter()
            res = []
            for i in range(0, len(uniq), 256):
                res += idx.search(uniq[i : i + 256], k=10, budget=b, n_rescore=r)
            dt = time.perf_counter() - t0
            res = res[:: int(step)]
            top1 = np.mean(
                [
                    (not len(e[1]) and not len(p[1])) or (len(e[1]) > 0 and len(p[1]) > 0 and abs(e[1][0] - p[1][0]) < 1e-4)
                    for e, p in zip(exact, res, strict=True)
                ]
            )
            top10 = np.mean(
                [
                    len(set(e[0][:10].tolist()) & set(p[0][:10].tolist())) / max(1, min(10, len(e[0])))
                    for e, p in zip(exact, res, strict=True)
                ]
            )
            rows.append(
                {
                    "budget": b,
                    "n_rescore": r,
                    "unique_per_s": round(len(uniq) / dt),
                    "top1_same": round(float(top1), 4),
                    "top10_overlap": round(float(top10), 4),
                }
            )
    print(json.dumps({"phase": "quality", "sample": len(sample), "rows": rows}))


if __name__ == "__main__":
    phase = sys.argv[1]
    {"build": build, "pipeline": pipeline, "query": query, "quality": quality}[phase](*sys.argv[2:])
