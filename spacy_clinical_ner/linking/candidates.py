"""Character 3-gram TF-IDF candidate generation over memory-mapped arrays.

The vectors are scispaCy's (sklearn ``TfidfVectorizer(analyzer="char_wb", ngram_range=(3, 3))``:
words padded with spaces, raw counts, smooth idf, L2 norm, cosine similarity), but the search is
an inverted index instead of an HNSW graph, so there is no graph to build (the part of
scispaCy's recipe that takes minutes to hours) and nothing to hold in memory: every array is a
``.npy`` file opened with ``mmap_mode="r"``.

Search, for a batch of mentions:

1. alias strings are numbered by size (number of n-grams), so every posting list (the strings
   that contain an n-gram, ascending ids) is also sorted by size. A string whose cosine with
   the query can reach ``min_similarity`` has a size within ``[q * s^2, q / s^2]`` (the bound
   for sets), so each posting list is cut to that window by binary search;
2. the query's n-grams are visited from rarest to most common and each may read at most its
   share of ``budget`` postings (rare n-grams read everything; a very common one such as
   ``"ion"`` reads the part of its window nearest to the query's size). Their TF-IDF products
   give a partial score per string;
3. the ``n_rescore`` best strings of that partial score are scored exactly (full cosine) from
   the forward index, and the best ``k`` are returned.

With ``budget`` at least the total posting length the result is exact; measured agreement with
exact search and speed are in ``benchmarks/results/linking_scale.md``.
"""

from __future__ import annotations

import logging
from array import array
from pathlib import Path
from typing import Dict, Iterable, List, Sequence, Tuple, Union

import numpy as np
import srsly

from .errors import KnowledgeBaseError, LinkingErrors

logger = logging.getLogger(__name__)

INDEX_FORMAT_VERSION = 2
NGRAM = 3


def char_ngrams(norm_text: str, n: int = NGRAM) -> List[str]:
    """sklearn's ``char_wb`` n-grams of an already normalised string."""
    grams: List[str] = []
    for w in norm_text.split():
        w = f" {w} "
        if len(w) <= n:
            grams.append(w)
        else:
            grams.extend(w[i : i + n] for i in range(len(w) - n + 1))
    return grams


class TfidfIndex:
    """Char-n-gram TF-IDF cosine search over size-ordered, memory-mapped posting lists.

    Arrays (``.npy``): ``idf`` per n-gram; ``order`` (internal string id -> KB string id);
    ``size_start`` (first internal id of each size); ``inv_norm`` per string; ``post_ptr`` /
    ``post_idx`` (per n-gram, the internal ids of the strings containing it, ascending);
    ``fwd_ptr`` / ``fwd_idx`` (per string, its n-grams, repeated for counts).
    """

    ARRAYS = ("idf", "order", "size_start", "inv_norm", "post_ptr", "post_idx", "post_w", "fwd_ptr", "fwd_idx")

    def __init__(self, vocab: Dict[str, int], arrays: Dict[str, np.ndarray], info: dict) -> None:
        missing = [a for a in self.ARRAYS if a not in arrays]
        if missing:
            raise KnowledgeBaseError(LinkingErrors.E401.format(path="(in memory)", what=", ".join(missing)))
        self.vocab = vocab
        self.arrays = arrays
        self.info = dict(info)
        self.n_strings = int(info["n_strings"])
        self.n_features = len(vocab)
        self._df: np.ndarray | None = None
        self._scratch: np.ndarray | None = None
        self._qdense: np.ndarray | None = None
        self._postings = None

    # ------------------------------------------------------------------ building
    @classmethod
    def build(cls, strings: Iterable[str], log_every: int = 1_000_000) -> TfidfIndex:
        """Index normalised strings (the ``i``-th string of the iterable is KB string ``i``)."""
        import scipy.sparse as sp

        vocab: Dict[str, int] = {}
        feats = array("i")
        ptr = array("q", [0])
        get = vocab.setdefault
        for i, s in enumerate(strings):
            ids = sorted(get(g, len(vocab)) for g in char_ngrams(s))
            feats.extend(ids)
            ptr.append(len(feats))
            if log_every and (i + 1) % log_every == 0:
                logger.info("featurised %d strings", i + 1)
        n_strings, n_feat = len(ptr) - 1, len(vocab)
        fwd_ptr_kb = np.frombuffer(ptr, dtype=np.int64)
        fwd_idx_kb = np.frombuffer(feats, dtype=np.int32)
        sizes = np.diff(fwd_ptr_kb)
        order = np.argsort(sizes, kind="stable").astype(np.int32)
        sorted_sizes = sizes[order]
        max_size = int(sorted_sizes[-1]) if n_strings else 0
        size_start = np.searchsorted(sorted_sizes, np.arange(max_size + 2), side="left").astype(np.int64)
        idx_t = np.int64 if len(fwd_idx_kb) >= 2**31 - 1 else np.int32
        ones = np.ones(len(fwd_idx_kb), dtype=np.float32)
        fwd = sp.csr_matrix((ones, fwd_idx_kb.astype(idx_t), fwd_ptr_kb.astype(idx_t)), shape=(n_strings, n_feat))
        del ones
        fwd = fwd[order]  # rows in internal (size) order, repeats kept
        fwd_ptr = fwd.indptr.astype(np.int64)
        fwd_idx = fwd.indices.astype(np.uint16 if n_feat < 2**16 else np.int32)
        canon = fwd.copy()
        del fwd
        canon.sum_duplicates()  # unique n-grams per string, data = counts
        df = np.diff(canon.tocsc().indptr) if n_strings else np.zeros(n_feat, dtype=np.int64)
        idf = (np.log((1.0 + n_strings) / (1.0 + df)) + 1.0).astype(np.float32)
        w = canon.data * idf[canon.indices]
        rows = np.repeat(np.arange(n_strings, dtype=np.int64), np.diff(canon.indptr))
        norms = np.sqrt(np.bincount(rows, weights=w.astype(np.float64) ** 2, minlength=n_strings)).astype(np.float32)
        del w, rows
        norms[norms == 0] = 1.0
        inv_norm = (1.0 / norms).astype(np.float32)
        canon.data = canon.data * idf[canon.indices] * inv_norm[np.repeat(np.arange(n_strings), np.diff(canon.indptr))]
        post = canon.tocsc()  # per n-gram, ascending internal ids, data = TF-IDF weight
        del canon
        arrays = {
            "idf": idf,
            "order": order,
            "size_start": size_start,
            "inv_norm": inv_norm,
            "post_ptr": post.indptr.astype(np.int64),
            "post_idx": post.indices.astype(np.int32),
            "post_w": post.data.astype(np.float32),
            "fwd_ptr": fwd_ptr,
            "fwd_idx": fwd_idx,
        }
        info = {
            "format_version": INDEX_FORMAT_VERSION,
            "n_strings": n_strings,
            "n_features": n_feat,
            "ngram": NGRAM,
            "forward_nnz": int(len(fwd_idx)),
            "postings_nnz": int(len(post.indices)),
        }
        return cls(vocab, arrays, info)

    # ------------------------------------------------------------------ search
    @property
    def df(self) -> np.ndarray:
        if self._df is None:
            self._df = np.diff(np.asarray(self.arrays["post_ptr"]))
        return self._df

    def _featurize(self, norm_texts: Sequence[str]) -> Tuple[List[np.ndarray], List[np.ndarray], np.ndarray]:
        """Per text: known n-gram ids, their normalised TF-IDF weights, and the text's size."""
        vocab, idf = self.vocab, self.arrays["idf"]
        feats, weights = [], []
        sizes = np.zeros(len(norm_texts), dtype=np.int64)
        for i, text in enumerate(norm_texts):
            grams = char_ngrams(text)
            sizes[i] = len(grams)
            local: Dict[int, int] = {}
            for g in grams:
                f = vocab.get(g)
                if f is not None:
                    local[f] = local.get(f, 0) + 1
            f_arr = np.fromiter(local.keys(), dtype=np.int64, count=len(local))
            w = np.fromiter(local.values(), dtype=np.float32, count=len(local)) * idf[f_arr] if len(local) else np.zeros(0, np.float32)
            norm = float(np.sqrt(np.dot(w, w))) if len(w) else 1.0
            feats.append(f_arr)
            weights.append(w / norm)
        return feats, weights, sizes

    def _postings_matrix(self):
        import scipy.sparse as sp

        if self._postings is None:
            a = self.arrays
            m = sp.csc_matrix((self.n_strings, self.n_features), dtype=np.float32)
            m.data, m.indices, m.indptr = a["post_w"], a["post_idx"], a["post_ptr"]
            self._postings = m.T  # (V x S) CSR view of the memory-mapped arrays, no copy
        return self._postings

    def search(
        self,
        norm_texts: Sequence[str],
        k: int = 10,
        budget: int | None = 8192,
        n_rescore: int = 128,
        min_score: float = 0.0,
    ) -> List[Tuple[np.ndarray, np.ndarray]]:
        """For each normalised text: (KB string ids, cosine similarities), best first, at most ``k``,
        only those >= ``min_score``.

        ``budget=None``: exact (every posting list of the query's n-grams is read). Otherwise the
        rarest n-grams are read while their posting lists fit in ``budget`` entries, the
        ``n_rescore`` best strings of that partial score are scored exactly, and the best ``k``
        returned (similarities are always exact; the *set* of candidates is approximate)."""
        empty = (np.zeros(0, np.int64), np.zeros(0, np.float32))
        if not norm_texts:
            return []
        if self.n_strings == 0:
            return [empty for _ in norm_texts]
        feats, weights, _ = self._featurize(norm_texts)
        df = self.df
        live = [q for q in range(len(feats)) if len(feats[q])]
        results: List[Tuple[np.ndarray, np.ndarray]] = [empty] * len(feats)
        if not live:
            return results
        read_f, read_w = [], []
        for q in live:
            f, w = feats[q], weights[q]
            if budget is not None:
                o = np.argsort(df[f], kind="stable")  # rarest first
                n = max(1, int(np.searchsorted(np.cumsum(df[f[o]]), budget, side="right")))
                f, w = f[o[:n]], w[o[:n]]
            read_f.append(f)
            read_w.append(w)
        partial = self._partial(read_f, read_w)
        width = k if budget is None else max(k, n_rescore)
        shortlists, partial_scores = [], []
        for i in range(len(live)):
            r0, r1 = partial.indptr[i], partial.indptr[i + 1]
            cols, vals = partial.indices[r0:r1], partial.data[r0:r1]
            if len(vals) > width:
                top = np.argpartition(-vals, width - 1)[:width]
                cols, vals = cols[top], vals[top]
            shortlists.append(np.asarray(cols, dtype=np.int64))
            partial_scores.append(np.asarray(vals, dtype=np.float32))
        if budget is None:
            scores = partial_scores  # every n-gram was read: the partial score is the cosine
        else:
            scores = self._exact_scores(shortlists, [feats[q] for q in live], [weights[q] for q in live])
        order = self.arrays["order"]
        for i, q in enumerate(live):
            sc, ids = scores[i], shortlists[i]
            best = np.argsort(-sc, kind="stable")[:k]
            sc, ids = sc[best], ids[best]
            keep = sc >= min_score
            results[q] = (np.asarray(order[ids[keep]]).astype(np.int64), np.minimum(sc[keep], 1.0).astype(np.float32))
        return results

    def _partial(self, feats: List[np.ndarray], weights: List[np.ndarray]):
        """Scores over the given n-grams only: one sparse product with the posting lists."""
        import scipy.sparse as sp

        counts = [len(f) for f in feats]
        q = sp.csr_matrix(
            (np.concatenate(weights), np.concatenate(feats), np.concatenate([[0], np.cumsum(counts)])),
            shape=(len(feats), self.n_features),
        )
        return (q @ self._postings_matrix()).tocsr()

    def _exact_scores(self, shortlist: List[np.ndarray], feats: List[np.ndarray], weights: List[np.ndarray]) -> List[np.ndarray]:
        """Full cosine of each query with its shortlisted strings, from the forward index."""
        a = self.arrays
        fwd_ptr, fwd_idx, inv_norm, idf = a["fwd_ptr"], a["fwd_idx"], a["inv_norm"], a["idf"]
        out: List[np.ndarray] = [np.zeros(0, np.float32)] * len(shortlist)
        chunk = max(1, min(256, 4_000_000 // max(1, self.n_features)))
        if self._qdense is None or self._qdense.shape != (chunk, self.n_features):
            self._qdense = np.zeros((chunk, self.n_features), dtype=np.float32)
        qd = self._qdense
        for c0 in range(0, len(shortlist), chunk):
            qs = range(c0, min(c0 + chunk, len(shortlist)))
            for r, q in enumerate(qs):
                qd[r, feats[q]] = weights[q] * idf[feats[q]]
            lens = np.array([len(shortlist[q]) for q in qs], dtype=np.int64)
            if lens.sum():
                strings = np.concatenate([shortlist[q] for q in qs])
                rows = np.repeat(np.arange(len(qs)), lens)
                a0, a1 = np.asarray(fwd_ptr[strings]), np.asarray(fwd_ptr[strings + 1])
                n = a1 - a0
                e_row = np.repeat(rows, n)
                offs = np.arange(int(n.sum()), dtype=np.int64) - np.repeat(np.cumsum(n) - n, n)
                grams = np.asarray(fwd_idx[np.repeat(a0, n) + offs]).astype(np.int64)
                seg = np.concatenate([[0], np.cumsum(n)[:-1]])
                sums = np.add.reduceat(qd[e_row, grams], seg) if len(grams) else np.zeros(len(strings), np.float32)
                sums = sums * inv_norm[strings]
                pos = 0
                for r, q in enumerate(qs):
                    out[q] = sums[pos : pos + lens[r]].astype(np.float32)
                    pos += lens[r]
            for r, q in enumerate(qs):
                qd[r, feats[q]] = 0.0
        return out

    # ------------------------------------------------------------------ serialisation
    def to_disk(self, path: Union[str, Path]) -> None:
        path = Path(path)
        path.mkdir(parents=True, exist_ok=True)
        for name in self.ARRAYS:
            np.save(path / f"{name}.npy", np.ascontiguousarray(self.arrays[name]), allow_pickle=False)
        # n-grams in id order: a list is smaller and faster to load than a dict
        srsly.write_msgpack(path / "vocab.msg", self.vocab_list())
        srsly.write_json(path / "index.json", self.info)

    def vocab_list(self) -> List[str]:
        return sorted(self.vocab, key=self.vocab.__getitem__)

    @classmethod
    def from_disk(cls, path: Union[str, Path], mmap: bool = True) -> TfidfIndex:
        path = Path(path)
        for f in ("index.json", "vocab.msg", *(f"{n}.npy" for n in cls.ARRAYS)):
            if not (path / f).exists():
                raise KnowledgeBaseError(LinkingErrors.E401.format(path=path, what=f))
        info = srsly.read_json(path / "index.json")
        if info.get("format_version") != INDEX_FORMAT_VERSION:
            raise KnowledgeBaseError(LinkingErrors.E406.format(found=info.get("format_version"), path=path, expected=INDEX_FORMAT_VERSION))
        grams = srsly.read_msgpack(path / "vocab.msg")
        vocab = dict(zip(grams, range(len(grams)), strict=False))
        arrays = {n: _load_npy(path / f"{n}.npy", mmap) for n in cls.ARRAYS}
        return cls(vocab, arrays, info)

    def to_bytes(self) -> bytes:
        from .kb import _array_to_msg

        return srsly.msgpack_dumps(
            {"info": self.info, "vocab": self.vocab_list(), "arrays": {k: _array_to_msg(v) for k, v in self.arrays.items()}}
        )

    @classmethod
    def from_bytes(cls, data: bytes) -> TfidfIndex:
        from .kb import _array_from_msg

        msg = srsly.msgpack_loads(data)
        vocab = dict(zip(msg["vocab"], range(len(msg["vocab"])), strict=False))
        return cls(vocab, {k: _array_from_msg(v) for k, v in msg["arrays"].items()}, msg["info"])


def _load_npy(path: Path, mmap: bool) -> np.ndarray:
    """Load a ``.npy`` file, memory-mapped as a plain ndarray view (``np.memmap.__getitem__`` is a
    Python-level method and costs microseconds per indexing call)."""
    arr = np.load(path, mmap_mode="r" if mmap else None, allow_pickle=False)
    return arr.view(np.ndarray) if isinstance(arr, np.memmap) else arr
