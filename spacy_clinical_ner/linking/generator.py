"""The candidate generator: normalised mention strings -> ranked KB concepts, as scispaCy's ``CandidateGenerator``.

It searches the character 3-gram TF-IDF index (:class:`~.candidates.TfidfIndex`) for the closest alias strings,
turns strings into the concepts that carry them (each concept with its best string's score, ties broken by
``tie_break``) and caches the answers per string. It applies no threshold, no type filter and no coverage check:
those are the linker's (``umls_linker``), which builds its generator from its own settings. Registered as
``spacy-clinical-ner.candidate_generator.v1`` (``@misc``) for other components and evaluations:

    generator = registry.misc.get("spacy-clinical-ner.candidate_generator.v1")()(kb, index)
    generator(["type 2 diabetes"])  # [[(concept index, score), ...]]
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Callable, Dict, List, Sequence, Tuple

import numpy as np
from spacy.util import registry

from .candidates import TfidfIndex
from .kb import KnowledgeBase


class CandidateGenerator:
    """Ranked ``(concept index, score)`` per normalised mention string (see the module docstring)."""

    def __init__(
        self,
        kb: KnowledgeBase,
        index: TfidfIndex,
        *,
        k: int = 30,
        tie_break: str = "xrefs",
        exact_max_strings: int = 500_000,
        search_budget: int = 4096,
        n_rescore: int = 128,
        cache_size: int = 100_000,
    ) -> None:
        self.kb, self.index = kb, index
        self.k = k
        self.tie_break = tie_break
        self.exact_max_strings = exact_max_strings
        self.search_budget = search_budget
        self.n_rescore = n_rescore
        self.cache_size = cache_size
        self._cache: OrderedDict[str, List[Tuple[int, float]]] = OrderedDict()

    def clear_cache(self) -> None:
        self._cache.clear()

    def search(self, norms: Sequence[str]) -> List[List[Tuple[int, float]]]:
        """Uncached: per normalised text, concepts ``(index, score)`` best first."""
        assert self.index is not None
        exact = self.index.n_strings <= self.exact_max_strings
        found = self.index.search(norms, k=self.k, budget=None if exact else self.search_budget, n_rescore=self.n_rescore)
        return self.to_concepts(found)

    def __call__(self, norms: Sequence[str]) -> List[List[Tuple[int, float]]]:
        """Per normalised text, concepts ``(index, score)`` best first (cached)."""
        assert self.kb is not None and self.index is not None
        cache, size = self._cache, self.cache_size
        missing = list(dict.fromkeys(t for t in norms if t not in cache))
        fresh: Dict[str, List[Tuple[int, float]]] = {}
        if missing:
            fresh = dict(zip(missing, self.search(missing), strict=True))
            if size:
                for text, cands in fresh.items():
                    cache[text] = cands
                    if len(cache) > size:
                        cache.popitem(last=False)
        out = []
        for t in norms:
            if t in cache:
                cache.move_to_end(t)
                out.append(cache[t])
            else:  # no cache, or evicted within this call (cache smaller than the batch)
                out.append(fresh[t])
        return out

    def to_concepts(self, found: Sequence[Tuple[np.ndarray, np.ndarray]]) -> List[List[Tuple[int, float]]]:
        """Per search result, the concepts of the matched strings, each with its best string's
        score, best first (all results of a batch at once).

        Ties (several concepts sharing an alias) go, with ``tie_break = "xrefs"``, to the concept
        with more cross-references ("Hypokalemia" from HPO and "hypokalemia" from Disease
        Ontology with its MeSH, OMIM and SNOMED ids: the latter), then to the smaller concept
        id, as in scispaCy: CUIs sort before prefixed source ids, and a lower CUI is an older,
        more general UMLS concept (measured: +0.7 to +2.3 points accuracy@1 over preferring the
        concept whose canonical name is the matched string, see benchmarks/results/linking_eval.md)."""
        kb = self.kb
        assert kb is not None
        n_q = len(found)
        if not n_q:
            return []
        lens = np.fromiter((len(ids) for ids, _ in found), dtype=np.int64, count=n_q)
        if not lens.sum():
            return [[] for _ in range(n_q)]
        sids = np.concatenate([ids for ids, _ in found]).astype(np.int64)
        scores = np.concatenate([sc for _, sc in found]).astype(np.float64)
        ptr, cidx = kb.arrays["str_cptr"], kb.arrays["str_cidx"]
        c0 = ptr[sids]
        n_c = ptr[sids + 1] - c0
        seg = np.cumsum(n_c) - n_c
        pos = np.repeat(c0 - seg, n_c) + np.arange(int(n_c.sum()), dtype=np.int64)
        concept = cidx[pos].astype(np.int64)
        query = np.repeat(np.repeat(np.arange(n_q, dtype=np.int64), lens), n_c)
        score = np.repeat(scores, n_c)
        # best score per (query, concept)
        o = np.lexsort((-score, concept, query))
        query, concept, score = query[o], concept[o], score[o]
        first = np.ones(len(o), dtype=bool)
        first[1:] = (query[1:] != query[:-1]) | (concept[1:] != concept[:-1])
        query, concept, score = query[first], concept[first], score[first]
        # rank: score rounded to 6 decimals (Python's round, as before), then concept index
        score_list = score.tolist()
        rounded = np.array([round(x, 6) for x in score_list], dtype=np.float64)
        prior = kb.arrays.get("n_xrefs") if self.tie_break == "xrefs" else None
        if prior is not None:
            o = np.lexsort((concept, -np.asarray(prior)[concept], -rounded, query))
        else:
            o = np.lexsort((concept, -rounded, query))
        bounds = np.searchsorted(query[o], np.arange(n_q + 1)).tolist()
        pairs = list(zip(concept[o].tolist(), score[o].tolist(), strict=True))
        return [pairs[bounds[i] : bounds[i + 1]] for i in range(n_q)]


@registry.misc("spacy-clinical-ner.candidate_generator.v1")
def make_candidate_generator(
    k: int = 30,
    tie_break: str = "xrefs",
    exact_max_strings: int = 500_000,
    search_budget: int = 4096,
    n_rescore: int = 128,
    cache_size: int = 100_000,
) -> Callable[[KnowledgeBase, TfidfIndex], CandidateGenerator]:
    """A generator factory: give it the KB and its index."""

    def build(kb: KnowledgeBase, index: TfidfIndex) -> CandidateGenerator:
        return CandidateGenerator(
            kb, index, k=k, tie_break=tie_break, exact_max_strings=exact_max_strings, search_budget=search_budget, n_rescore=n_rescore, cache_size=cache_size
        )

    return build
