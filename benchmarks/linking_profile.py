"""Where the umls_linker's time goes: cProfile of one workload over the BC5CDR mentions.

    PYTHONPATH=. python benchmarks/linking_profile.py /tmp/synpipe distinct   # distinct mentions, no cache
    PYTHONPATH=. python benchmarks/linking_profile.py /tmp/synpipe stream     # all mentions, 256 at a time, LRU cache
    PYTHONPATH=. python benchmarks/linking_profile.py models/linker_open docs # nlp.pipe over the documents

Prints the profiled seconds, the share of the main groups (sparse-product kernel, rest of the
index search, the component, spaCy/scispaCy) and the top functions by own time. The profiler
slows Python-level code more than C code, so shares are indicative; throughput comes from
benchmarks/linking_scale.py.
"""

import cProfile
import pstats
import sys

WORKLOADS = ("distinct", "stream", "docs")


def main(pipe_dir: str, workload: str = "distinct", n_top: str = "15") -> None:
    import spacy

    import spacy_clinical_ner.linking.component  # noqa: F401
    from spacy_clinical_ner.linking.kb import normalize_alias
    from spacy_clinical_ner.readers.pubtator import pubtator_to_doc, read_pubtator

    if workload not in WORKLOADS:
        raise SystemExit(f"workload must be one of {WORKLOADS}")
    nlp = spacy.load(pipe_dir)
    linker = nlp.get_pipe("umls_linker")
    files = [f"corpus/bc5cdr/CDR_{s}.PubTator.txt" for s in ("TrainingSet", "DevelopmentSet", "TestSet")]
    pdocs = [d for f in files for d in read_pubtator(f)]
    mentions = [m.text for d in pdocs for m in d.mentions]
    uniq = list(dict.fromkeys(normalize_alias(m) for m in mentions))
    docs = [pubtator_to_doc(d, nlp.make_doc) for d in pdocs] if workload == "docs" else []

    def run() -> int:
        linker.generator.clear_cache()
        if workload == "distinct":
            for i in range(0, len(uniq), 256):
                linker.link_texts(uniq[i : i + 256])
                linker.generator.clear_cache()
            return len(uniq)
        if workload == "stream":
            for i in range(0, len(mentions), 256):
                linker.link_texts(mentions[i : i + 256])
            return len(mentions)
        for _ in nlp.pipe(docs, batch_size=128):
            pass
        return sum(len(d.ents) for d in docs)

    linker.link_texts(uniq[:256])  # first touch of the memory-mapped arrays
    prof = cProfile.Profile()
    prof.enable()
    n = run()
    prof.disable()
    stats = pstats.Stats(prof)
    total = sum(v[2] for v in stats.stats.values())

    def cumulative(file_suffix: str, names: tuple) -> float:
        return sum(v[3] for (path, _, func), v in stats.stats.items() if path.endswith(file_suffix) and func in names)

    def own(fragment: str) -> float:
        return sum(v[2] for (_, _, func), v in stats.stats.items() if fragment in func)

    search = cumulative("candidates.py", ("search",))
    kernel = own("csr_matmat") + own("csr_plus_csr")
    concepts = cumulative("generator.py", ("to_concepts",))
    abbreviations = cumulative("component.py", ("find_abbreviations",))
    print(f"{workload}: {n} mentions, {total:.2f} profiled seconds ({n / total:.0f} mentions/s under the profiler)")
    for name, secs in (
        ("index search (TfidfIndex.search)", search),
        ("  of which scipy's sparse-product kernel", kernel),
        ("string -> concept aggregation (CandidateGenerator.to_concepts)", concepts),
        ("abbreviation detection (find_abbreviations)", abbreviations),
        ("everything else (normalisation, cache, type filter, spans, extensions, spaCy)", total - search - concepts - abbreviations),
    ):
        print(f"  {secs / total:6.1%}  {secs:6.2f} s  {name}")
    stats.sort_stats("tottime").print_stats(int(n_top))


if __name__ == "__main__":
    main(*sys.argv[1:])
