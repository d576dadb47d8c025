"""Character 3-gram TF-IDF candidate generation over memory-mapped arrays.

The vectors are scispaCy's (sklearn ``TfidfVectorizer(analyzer="char_wb", ngram_range=(3, 3))``:
words padded with spaces, raw counts, smooth idf, L2 norm, cosine similarity), but the search is
an inverted index instead of an HNSW graph: there is no graph to build (the part of scispaCy's
recipe that takes minutes to hours) and nothing to hold in memory — every array is a ``.npy``
file opened with ``mmap_mode="r"``, so loading takes milliseconds and the pages are shared by
all processes that use the same pipeline.

Search, for a batch of mentions (:meth:`TfidfIndex.search`):

- ``budget=None`` (**exact**): one sparse product of the query vectors with the posting lists of
  all their n-grams (scipy), then the top ``k`` per query;
- ``budget=N`` (**pruned**, for UMLS-sized KBs): per query, the rarest n-grams are read while
  their posting lists fit in ``N`` entries; the ``n_rescore`` best strings of that partial score
  are scored exactly from the forward index (string -> n-grams) and the best ``k`` returned.
  Similarities are always exact cosines; only the candidate set is approximate (measured
  against exact search in ``benchmarks/results/linking_scale.md``).
"""

from __future__ import annotations

import hashlib
import logging
from array import array
from pathlib import Path
from typing import Dict, Iterable, List, Sequence, Tuple, Union

import numpy as np
import srsly

from .errors import KnowledgeBaseError, LinkingErrors

logger = logging.getLogger(__name__)

INDEX_FORMAT_VERSION = 4
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

    ARRAYS = (
        "idf",
        "order",
        "size_start",
        "inv_norm",
        "post_ptr",
        "post_idx",
        "post_w",
        "fwd_ptr",
        "fwd_idx",
        "hash_keys",
        "hash_ids",
        "word_ptr",
        "word_idx",
    )

    def __init__(self, vocab: Dict[str, int], arrays: Dict[str, np.ndarray], info: dict, words: Dict[str, int] | None = None) -> None:
        missing = [a for a in self.ARRAYS if a not in arrays]
        if missing:
            raise KnowledgeBaseError(LinkingErrors.E401.format(path="(in memory)", what=", ".join(missing)))
        self.vocab = vocab
        self.words = words or {}
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
        hashes = array("Q")
        words: Dict[str, int] = {}
        w_ids = array("i")
        w_rows = array("i")
        get_w = words.setdefault
        for i, s in enumerate(strings):
            hashes.append(_hash64(s))
            for wd in set(s.split()):
                w_ids.append(get_w(wd, len(words)))
                w_rows.append(i)
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
        # exact-string lookup: 64-bit hashes of the strings, sorted, with their internal ids
        rank = np.empty(n_strings, dtype=np.int32)
        rank[order] = np.arange(n_strings, dtype=np.int32)
        h = np.frombuffer(hashes, dtype=np.uint64)
        h_order = np.argsort(h, kind="stable")
        hash_keys, hash_ids = h[h_order], rank[h_order]
        # word -> strings that contain it (internal ids, ascending)
        wi = np.frombuffer(w_ids, dtype=np.int32)
        wr = rank[np.frombuffer(w_rows, dtype=np.int32)] if len(w_rows) else np.zeros(0, np.int32)
        w_order = np.lexsort((wr, wi))
        word_idx = wr[w_order].astype(np.int32)
        word_ptr = np.zeros(len(words) + 1, dtype=np.int64)
        if len(wi):
            np.cumsum(np.bincount(wi, minlength=len(words)), out=word_ptr[1:])
        del wi, wr, w_order
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
            "hash_keys": hash_keys,
            "hash_ids": hash_ids,
            "word_ptr": word_ptr,
            "word_idx": word_idx,
        }
        info = {
            "format_version": INDEX_FORMAT_VERSION,
            "n_strings": n_strings,
            "n_features": n_feat,
            "ngram": NGRAM,
            "forward_nnz": int(len(fwd_idx)),
            "postings_nnz": int(len(post.indices)),
        }
        return cls(vocab, arrays, info, words)

    # ------------------------------------------------------------------ search
    @property
    def df(self) -> np.ndarray:
        if self._df is None:
            self._df = np.diff(np.asarray(self.arrays["post_ptr"]))
        return self._df

    def _featurize(self, norm_texts: Sequence[str]) -> Tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """Flat query vectors: (query index, n-gram id, normalised TF-IDF weight), sorted by query,
        and each text's size (number of n-grams).
        N-grams unknown to the index are ignored, as in sklearn."""
        get = self.vocab.get
        rows: List[int] = []
        grams: List[int] = []
        sizes = np.zeros(len(norm_texts), dtype=np.int64)
        for i, text in enumerate(norm_texts):
            all_grams = char_ngrams(text)
            sizes[i] = len(all_grams)
            for g in all_grams:
                f = get(g)
                if f is not None:
                    rows.append(i)
                    grams.append(f)
        n_feat = max(1, self.n_features)
        keys, tf = np.unique(np.asarray(rows, dtype=np.int64) * n_feat + np.asarray(grams, dtype=np.int64), return_counts=True)
        qrow, feat = keys // n_feat, keys % n_feat
        w = tf.astype(np.float32) * self.arrays["idf"][feat]
        norms = np.sqrt(np.bincount(qrow, weights=w.astype(np.float64) ** 2, minlength=len(norm_texts))).astype(np.float32)
        norms[norms == 0] = 1.0
        return qrow, feat, w / norms[qrow], sizes

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
        rarest n-grams are read while their posting lists fit in ``budget`` entries (at least
        one is always read), the ``n_rescore`` best strings of that partial score are scored
        exactly, and the best ``k`` returned (similarities are always exact cosines; the *set*
        of candidates is approximate)."""
        import scipy.sparse as sp

        empty = (np.zeros(0, np.int64), np.zeros(0, np.float32))
        n_q = len(norm_texts)
        if not n_q:
            return []
        if self.n_strings == 0:
            return [empty] * n_q
        qrow, feat, w, sizes = self._featurize(norm_texts)
        if budget is not None and len(qrow):
            df = self.df[feat]
            o = np.lexsort((df, qrow))  # per query, rarest n-gram first
            qrow, feat, w, df = qrow[o], feat[o], w[o], df[o]
            starts = np.searchsorted(qrow, np.arange(n_q))
            cum = np.cumsum(df)
            before = np.concatenate([[0], cum])[starts][qrow]
            rank = np.arange(len(qrow)) - starts[qrow]
            read = (cum - before <= budget) | (rank == 0)
            # a query whose rarest n-gram alone exceeds the budget reads only the first `budget`
            # entries of that list: ids are numbered by string size, so these are the shortest
            # strings with that n-gram, the ones where it weighs most
            trunc = (rank == 0) & (df > budget)
            read &= ~trunc
        else:
            read = np.ones(len(qrow), dtype=bool)
            trunc = np.zeros(len(qrow), dtype=bool)
        r_rows = qrow[read]
        indptr = np.concatenate([[0], np.cumsum(np.bincount(r_rows, minlength=n_q))])
        q_read = sp.csr_matrix((w[read], feat[read], indptr), shape=(n_q, self.n_features))
        partial = q_read @ self._postings_matrix()
        if trunc.any():
            n_t, a = int(trunc.sum()), self.arrays
            # start at strings of at least half the query's size (shorter ones cannot match well)
            starts_t = []
            size_start, max_size = a["size_start"], len(a["size_start"]) - 2
            for f, q in zip(feat[trunc].tolist(), qrow[trunc].tolist(), strict=True):
                p0, p1 = int(a["post_ptr"][f]), int(a["post_ptr"][f + 1])
                lo = int(np.searchsorted(a["post_idx"][p0:p1], size_start[min(int(sizes[q]) // 2, max_size + 1)]))
                starts_t.append(p0 + min(lo, p1 - p0 - budget))
            pos = (np.asarray(starts_t, dtype=np.int64)[:, None] + np.arange(budget)[None, :]).ravel()
            prefixes = sp.csr_matrix(
                (a["post_w"][pos], a["post_idx"][pos], np.arange(0, n_t * budget + 1, budget)), shape=(n_t, self.n_strings)
            )
            q_t = sp.csr_matrix((w[trunc], (qrow[trunc], np.arange(n_t))), shape=(n_q, n_t))
            partial = partial + q_t @ prefixes
        partial = partial.tocsr()
        width = k if budget is None else max(k, n_rescore)
        short_ids, short_q, short_partial = [], [], []
        for i in range(n_q):
            r0, r1 = partial.indptr[i], partial.indptr[i + 1]
            cols, vals = partial.indices[r0:r1], partial.data[r0:r1]
            if len(vals) > width:
                top = np.argpartition(-vals, width - 1)[:width]
                cols, vals = cols[top], vals[top]
            short_ids.append(cols)
            short_q.append(np.full(len(cols), i, dtype=np.int64))
            short_partial.append(vals)
        if budget is not None:
            self._add_word_candidates(norm_texts, short_ids, short_q, budget, n_rescore)
            # a query that is exactly a KB string always has that string among its candidates
            hk, hid = self.arrays["hash_keys"], self.arrays["hash_ids"]
            qh = np.array([_hash64(t) for t in norm_texts], dtype=np.uint64)
            at = np.minimum(np.searchsorted(hk, qh), max(0, len(hk) - 1))
            for i in np.flatnonzero(hk[at] == qh).tolist():
                sid = int(hid[at[i]])
                if sid not in short_ids[i]:
                    short_ids[i] = np.append(short_ids[i], sid)
                    short_q[i] = np.full(len(short_ids[i]), i, dtype=np.int64)
        cands = np.concatenate(short_ids).astype(np.int64)
        cand_q = np.concatenate(short_q)
        if budget is None:
            scores = np.concatenate(short_partial).astype(np.float32)  # every n-gram read: exact
        else:
            scores = self._exact_scores(cands, cand_q, qrow, feat, w)
        order = self.arrays["order"]
        out: List[Tuple[np.ndarray, np.ndarray]] = []
        bounds = np.searchsorted(cand_q, np.arange(n_q + 1))
        for i in range(n_q):
            sc, ids = scores[bounds[i] : bounds[i + 1]], cands[bounds[i] : bounds[i + 1]]
            best = np.argsort(-sc, kind="stable")[:k]
            sc, ids = sc[best], ids[best]
            keep = sc >= min_score
            out.append((np.asarray(order[ids[keep]]).astype(np.int64), np.minimum(sc[keep], 1.0).astype(np.float32)) if len(ids) else empty)
        return out

    def _add_word_candidates(self, norm_texts: Sequence[str], short_ids: list, short_q: list, budget: int, n_words: int) -> None:
        """Add, per query, up to ``n_words`` strings that share the query's rarest whole words
        (those whose posting lists fit in ``budget``), most shared words first. Word posting
        lists are far shorter than n-gram ones, so this finds the long strings that contain a
        mention (``"interictal epileptiform activity"`` for ``"epileptiform activity"``) which
        the n-gram budget alone can miss."""
        if not self.words:
            return
        ptr, idx = self.arrays["word_ptr"], self.arrays["word_idx"]
        for i, text in enumerate(norm_texts):
            wids = [self.words[w] for w in set(text.split()) if w in self.words]
            if not wids:
                continue
            dfs = [int(ptr[w + 1] - ptr[w]) for w in wids]
            chosen, total = [], 0
            for d, w in sorted(zip(dfs, wids, strict=True)):
                if total + d > budget:
                    break
                chosen.append(w)
                total += d
            if not chosen:
                continue
            hits = np.concatenate([idx[ptr[w] : ptr[w + 1]] for w in chosen])
            ids, counts = np.unique(hits, return_counts=True)
            if len(ids) > n_words:
                ids = ids[np.lexsort((ids, -counts))[:n_words]]  # most shared words, then shortest
            merged = np.union1d(short_ids[i], ids)
            short_ids[i] = merged
            short_q[i] = np.full(len(merged), i, dtype=np.int64)

    def _exact_scores(self, cands: np.ndarray, cand_q: np.ndarray, qrow: np.ndarray, feat: np.ndarray, w: np.ndarray) -> np.ndarray:
        """Full cosine of each (query, candidate string) pair, from the forward index."""
        a = self.arrays
        fwd_ptr, fwd_idx, inv_norm, idf = a["fwd_ptr"], a["fwd_idx"], a["inv_norm"], a["idf"]
        out = np.zeros(len(cands), dtype=np.float32)
        if not len(cands):
            return out
        n_feat = self.n_features
        chunk = max(1, 4_000_000 // max(1, n_feat))
        if self._qdense is None or self._qdense.size != chunk * n_feat:
            self._qdense = np.zeros(chunk * n_feat, dtype=np.float32)
        qd = self._qdense
        qw = w * idf[feat]
        n_q = int(cand_q[-1]) + 1
        for c0 in range(0, n_q, chunk):
            c1 = min(c0 + chunk, n_q)
            f0, f1 = np.searchsorted(qrow, [c0, c1])
            slots = (qrow[f0:f1] - c0) * n_feat + feat[f0:f1]
            qd[slots] = qw[f0:f1]
            p0, p1 = np.searchsorted(cand_q, [c0, c1])
            strings = cands[p0:p1]
            if len(strings):
                a0 = fwd_ptr[strings]
                n = fwd_ptr[strings + 1] - a0
                seg = np.cumsum(n) - n
                pos = np.repeat(a0 - seg, n) + np.arange(int(n.sum()), dtype=np.int64)
                base = np.repeat((cand_q[p0:p1] - c0) * n_feat, n)
                vals = qd[base + fwd_idx[pos]]
                out[p0:p1] = np.add.reduceat(vals, seg) * inv_norm[strings]
            qd[slots] = 0.0
        return out

    # ------------------------------------------------------------------ serialisation
    def to_disk(self, path: Union[str, Path]) -> None:
        path = Path(path)
        path.mkdir(parents=True, exist_ok=True)
        for name in self.ARRAYS:
            np.save(path / f"{name}.npy", np.ascontiguousarray(self.arrays[name]), allow_pickle=False)
        # n-grams in id order: a list is smaller and faster to load than a dict
        srsly.write_msgpack(path / "vocab.msg", self.vocab_list())
        srsly.write_msgpack(path / "words.msg", sorted(self.words, key=self.words.__getitem__))
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
        words = srsly.read_msgpack(path / "words.msg") if (path / "words.msg").exists() else []
        arrays = {n: _load_npy(path / f"{n}.npy", mmap) for n in cls.ARRAYS}
        return cls(vocab, arrays, info, dict(zip(words, range(len(words)), strict=False)))

    def to_bytes(self) -> bytes:
        from .kb import _array_to_msg

        return srsly.msgpack_dumps(
            {
                "info": self.info,
                "vocab": self.vocab_list(),
                "words": sorted(self.words, key=self.words.__getitem__),
                "arrays": {k: _array_to_msg(v) for k, v in self.arrays.items()},
            }
        )

    @classmethod
    def from_bytes(cls, data: bytes) -> TfidfIndex:
        from .kb import _array_from_msg

        msg = srsly.msgpack_loads(data)
        vocab = dict(zip(msg["vocab"], range(len(msg["vocab"])), strict=False))
        words = dict(zip(msg["words"], range(len(msg["words"])), strict=False))
        return cls(vocab, {k: _array_from_msg(v) for k, v in msg["arrays"].items()}, msg["info"], words)


def _hash64(text: str) -> int:
    """A stable 64-bit hash of a string (Python's ``hash`` is salted per process)."""
    return int.from_bytes(hashlib.blake2b(text.encode("utf8"), digest_size=8).digest(), "little")


def _load_npy(path: Path, mmap: bool) -> np.ndarray:
    """Load a ``.npy`` file, memory-mapped as a plain ndarray view (``np.memmap.__getitem__`` is a
    Python-level method and costs microseconds per indexing call)."""
    arr = np.load(path, mmap_mode="r" if mmap else None, allow_pickle=False)
    return arr.view(np.ndarray) if isinstance(arr, np.memmap) else arr
