"""Linking evaluation on gold mentions of PubTator corpora (BC5CDR, NCBI-disease).

Gold mentions are given (no NER errors); each is linked by the pipeline's ``umls_linker`` and a
prediction counts as a hit when one of the predicted concept's ids in the gold namespace
(``MESH:D...``/``OMIM:...`` cross-references, or the concept id itself) is among the mention's
gold ids. Reported: accuracy@1 and recall@k (ranking, no threshold), the share of mentions
whose gold concept is in the KB (the ceiling), and micro P/R/F at the linker's threshold
(a NIL prediction is a miss, not a false positive).
"""

from pathlib import Path
from typing import Dict, Iterable, List, Sequence, Set, Union

from spacy.language import Language

from ..readers.pubtator import pubtator_to_doc, read_pubtator

DEFAULT_NAMESPACES = ("MESH", "OMIM")

#: NCBI-disease's mention types are all diseases: they play the NER label "Disease" (the linker's
#: type compatibility, ``type_filter``); BC5CDR's "Disease"/"Chemical" are used as they are.
PUBTATOR_LABELS = {"SpecificDisease": "Disease", "DiseaseClass": "Disease", "Modifier": "Disease", "CompositeMention": "Disease"}


def concept_gold_ids(linker, concept_id: str, namespaces: Sequence[str], memo: Dict[str, Set[str]]) -> Set[str]:
    if concept_id not in memo:
        concept = linker.kb.get(concept_id)
        memo[concept_id] = set().union(*(concept.ids(ns) for ns in namespaces)) if concept else set()
    return memo[concept_id]


def evaluate_linking(
    nlp: Language,
    paths: Iterable[Union[str, Path]],
    labels: Sequence[str] | None = ("Disease",),
    k: int = 10,
    namespaces: Sequence[str] = DEFAULT_NAMESPACES,
    linker_name: str = "umls_linker",
    candidate_fn=None,
    typed: bool = True,
    details: List[dict] | None = None,
) -> Dict[str, float]:
    """Accuracy@1, recall@k, in-KB share and P/R/F of ``nlp``'s linker on gold mentions.

    ``candidate_fn(texts) -> [[concept_id, ...], ...]`` replaces the linker's own ranking (used
    by the benchmark to score scispaCy's candidate generator with the same protocol). ``typed``:
    the corpus label (Disease, Chemical; NCBI's types as Disease) plays the NER label's part, so
    the linker's type compatibility applies to the ranking too (``False``: the raw ranking, as
    before the type-aware linker, for accuracy@1/recall@k; linking always sees the label).
    ``details``: a list that receives one record per mention (document, offsets, text, query
    text, label, gold ids, the ranked concept ids, the rank of the first hit or ``None``, the
    linked concept or ``None``), for error analysis."""
    linker = nlp.get_pipe(linker_name)
    in_kb_ids: Set[str] = set()
    for ns in namespaces:
        in_kb_ids.update(linker.kb.xref_index(ns))
    memo: Dict[str, Set[str]] = {}
    n = hit1 = hitk = in_kb = tp = fp = 0
    for path in paths:
        for pdoc in read_pubtator(path):
            doc = pubtator_to_doc(pdoc, nlp.make_doc)
            mentions = [s for s in doc.spans["entities"] if (not labels or s.label_ in labels)]
            golds = {}
            for m in pdoc.mentions:
                if (not labels or m.label in labels) and m.ids:
                    golds[(m.start, m.end)] = set(m.ids)
            mentions = [s for s in mentions if _gold_for(s, golds, pdoc) is not None]
            if not mentions:
                continue
            abbrs = linker.find_abbreviations(doc) if linker.cfg["resolve_abbreviations"] else {}
            texts = [linker._query_text(s, abbrs) for s in mentions]
            span_labels = [PUBTATOR_LABELS.get(s.label_, s.label_) for s in mentions] if typed else None
            if candidate_fn:
                ranked = candidate_fn(texts)
            else:
                ranked = [[c for c, _ in cands] for cands in linker.candidates(texts, k=k, labels=span_labels)]
            linked = linker.link_texts(texts, span_labels or [s.label_ for s in mentions])
            for span, query, cands, best in zip(mentions, texts, ranked, linked, strict=False):
                gold = _gold_for(span, golds, pdoc)
                n += 1
                in_kb += bool(gold & in_kb_ids)
                hits = [bool(concept_gold_ids(linker, c, namespaces, memo) & gold) for c in cands[:k]]
                hit1 += bool(hits[:1] and hits[0])
                hitk += any(hits)
                if best and candidate_fn is None:
                    if concept_gold_ids(linker, best[0][0], namespaces, memo) & gold:
                        tp += 1
                    else:
                        fp += 1
                if details is not None:
                    details.append(
                        {
                            "doc": pdoc.pmid,
                            "start": span.start_char,
                            "end": span.end_char,
                            "text": span.text,
                            "query": query,
                            "label": span.label_,
                            "gold": sorted(gold),
                            "ranked": list(cands[:k]),
                            "hit_rank": hits.index(True) + 1 if any(hits) else None,
                            "linked": best[0][0] if best and candidate_fn is None else None,
                        }
                    )
    p = tp / (tp + fp) if tp + fp else 0.0
    r = tp / n if n else 0.0
    return {
        "mentions": n,
        "in_kb": in_kb / n if n else 0.0,
        "acc@1": hit1 / n if n else 0.0,
        f"recall@{k}": hitk / n if n else 0.0,
        "nel_micro_p": p,
        "nel_micro_r": r,
        "nel_micro_f": 2 * p * r / (p + r) if p + r else 0.0,
    }


def _gold_for(span, golds: Dict, pdoc) -> Set[str] | None:
    """Gold ids of a span (its offsets may have been snapped outwards to token boundaries)."""
    key = (span.start_char, span.end_char)
    if key in golds:
        return golds[key]
    for (s, e), ids in golds.items():
        if span.start_char <= s and e <= span.end_char and span.kb_id_ in ids:
            return ids
    return None


def mention_texts(paths: Iterable[Union[str, Path]], labels: Sequence[str] | None = None) -> List[str]:
    return [m.text for p in paths for d in read_pubtator(p) for m in d.mentions if not labels or m.label in labels]
