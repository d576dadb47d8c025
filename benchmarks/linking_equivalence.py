"""Compare the linker's outputs between two versions of the code (e.g. before/after a speed-up).

    PYTHONPATH=<old checkout> python benchmarks/linking_equivalence.py dump /tmp/old.pkl assets/kb/open /tmp/synkb
    PYTHONPATH=. python benchmarks/linking_equivalence.py dump /tmp/new.pkl assets/kb/open /tmp/synkb
    python benchmarks/linking_equivalence.py compare /tmp/old.pkl /tmp/new.pkl

``dump`` writes, for the 5,023 distinct BC5CDR mention strings: index search results (open KB:
exact, budgets 4096 and 256; the 3M KB, budget 4096, if given), ``link_texts`` (no type filter and
a type filter), ``candidates``, and, for the 1,500 BC5CDR documents, ``nlp.pipe`` annotations
(kb_id, kb_ents, kb_name) and the abbreviations found. ``compare`` counts differences: search
results must have the same similarities, and the same strings above the k-th similarity (ties at
the cut may go either way); a pruned result that differs is reported as better or worse.
"""

import pickle
import sys

import numpy as np


def dump(out: str, open_kb: str = "assets/kb/open", big_kb: str = "") -> None:
    import spacy_clinical_ner.linking.component  # noqa: F401
    from spacy_clinical_ner.linking.candidates import TfidfIndex
    from spacy_clinical_ner.linking.kb import KnowledgeBase, normalize_alias
    from spacy_clinical_ner.readers.pubtator import pubtator_to_doc, read_pubtator
    from spacy_clinical_ner.tokenizer import clinical_blank

    files = [f"corpus/bc5cdr/CDR_{s}.PubTator.txt" for s in ("TrainingSet", "DevelopmentSet", "TestSet")]
    pdocs = [d for f in files for d in read_pubtator(f)]
    uniq = list(dict.fromkeys(normalize_alias(m.text) for d in pdocs for m in d.mentions))
    res = {}

    def search(idx, budget):
        found = []
        for i in range(0, len(uniq), 256):
            found += idx.search(uniq[i : i + 256], k=30, budget=budget, n_rescore=128)
        return found

    idx = TfidfIndex.from_disk(f"{open_kb}/index")
    for name, budget in (("exact", None), ("b4096", 4096), ("b256", 256)):
        res[f"search open {name}"] = search(idx, budget)
    if big_kb:
        res["search 3M b4096"] = search(TfidfIndex.from_disk(f"{big_kb}/index"), 4096)
    nlp = clinical_blank()
    linker = nlp.add_pipe("umls_linker", config={"spans_key": "entities", "type_filter": {"Chemical": ["CHEM"]}})
    linker.set_kb(KnowledgeBase.from_disk(open_kb), idx)
    res["link_texts"] = linker.link_texts(uniq, ["Disease"] * len(uniq))
    res["link_texts type filter"] = linker.link_texts(uniq, ["Chemical"] * len(uniq))
    res["candidates"] = linker.candidates(uniq, k=10)
    docs = list(linker.pipe([pubtator_to_doc(d, nlp.make_doc) for d in pdocs]))
    res["pipe"] = [[(s.start_char, s.end_char, s.label_, s.kb_id_, s._.kb_ents, s._.kb_name) for s in d.spans["entities"]] for d in docs]
    res["abbreviations"] = [linker.find_abbreviations(d) for d in docs]
    with open(out, "wb") as f:
        pickle.dump(res, f)


def same_up_to_ties(a, b, atol=1e-6) -> bool:
    (ids_a, sc_a), (ids_b, sc_b) = a, b
    if len(sc_a) != len(sc_b) or not np.allclose(sc_a, sc_b, atol=atol):
        return False
    if not len(sc_a):
        return True
    low = float(sc_a[-1]) + 1e-5
    return {i for i, s in zip(ids_a.tolist(), sc_a) if s > low} == {i for i, s in zip(ids_b.tolist(), sc_b) if s > low}


def compare(path_a: str, path_b: str) -> None:
    with open(path_a, "rb") as f:
        old = pickle.load(f)
    with open(path_b, "rb") as f:
        new = pickle.load(f)
    for key, a in old.items():
        b = new[key]
        if key.startswith("search"):
            differ = better = worse = 0
            for x, y in zip(a, b, strict=True):
                if same_up_to_ties(x, y):
                    continue
                differ += 1
                n = min(len(x[1]), len(y[1]))
                if len(y[1]) >= len(x[1]) and np.all(y[1][:n] >= x[1][:n] - 1e-6):
                    better += 1
                elif len(y[1]) <= len(x[1]) and np.all(y[1][:n] <= x[1][:n] + 1e-6):
                    worse += 1
            print(f"{key}: {len(a)} queries, {differ} differ ({better} better, {worse} worse)")
        else:
            print(f"{key}: {len(a)} items, {sum(x != y for x, y in zip(a, b, strict=True))} differ")


if __name__ == "__main__":
    {"dump": dump, "compare": compare}[sys.argv[1]](*sys.argv[2:])
