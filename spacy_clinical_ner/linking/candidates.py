"""Character 3-gram TF-IDF candidate generation over memory-mapped arrays.

The vectors are scispaCy's (sklearn ``TfidfVectorizer(analyzer="char_wb", ngram_range=(3, 3))``:
words padded with spaces, raw counts, smooth idf, L2 norm, cosine similarity), but the search is
an inverted index instead of an HNSW graph: there is no graph to build (the part of scispaCy's
recipe that takes minutes to hours) and nothing to hold in memory — every array is a ``.npy``
file, memory-mapped (random-access arrays) or read by runs with ``pread`` (posting lists; see
:mod:`.storage`), so loading takes milliseconds and the pages are shared, through the page cache,
by all processes that use the same pipeline.

Search, for a batch of mentions (:meth:`TfidfIndex.search`):

- ``budget=None`` (**exact**): one sparse product of the query vectors with the posting lists of
  all their n-grams (scipy), then the top ``k`` per query;
- ``budget=N`` (**pruned**, for UMLS-sized KBs): per query, the rarest n-grams are read while
  their posting lists fit in ``N`` entries; the ``n_rescore`` best strings of that partial score
  are scored exactly from the forward index (string -> n-grams) and the best ``k`` returned.
  Similarities are always exact cosines; only the candidate set is approximate (measured
  against exact search in ``benchmarks/results/linking_scale.md``).

Partial scores of a batch are summed by scipy's sparse-product kernel (called directly, with a
bound on the output instead of scipy's counting pass), except for batches that read few posting
entries compared with the KB's size: the kernel's accumulators are as long as the KB, so those are
summed by sorting the entries read. Everything after the product (top-k per query, whole-word
candidates, exact-string lookup, re-scoring, ranking) is vectorised over the batch.
"""

from __future__ import annotations

import hashlib
import logging
from array import array
from pathlib import Path
from typing import Dict, Iterable, Iterator, List, Sequence, Tuple, Union

import numpy as np
import srsly

from .errors import KnowledgeBaseError, LinkingErrors
from .storage import HAS_PREAD, RunArray, load_npy, read_info, save_npy, take_runs

logger = logging.getLogger(__name__)

INDEX_FORMAT_VERSION = 5
SKIP = 1024  # posting entries per skip block (4 KB of ids)
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
    ``df`` per n-gram (strings that contain it);
    ``size_start`` (first internal id of each size); ``inv_norm`` per string; ``post_ptr`` /
    ``post_idx`` (per n-gram, the internal ids of the strings containing it, ascending, repeated
    for counts); ``skip_ptr`` / ``skip_idx`` (per n-gram, every ``SKIP``-th id of its posting
    list, to find a position in a long list with one read); ``fwd_ptr`` / ``fwd_idx`` (per
    string, its n-grams, repeated for counts).

    No weight is stored per posting: the TF-IDF weight of n-gram ``f`` in string ``s`` is
    ``count * idf[f] * inv_norm[s]``, and a string repeated in a posting list counts it. That
    halves the index on disk and the pages a search keeps resident (the weights were as large
    as the posting ids).
    """

    ARRAYS = (
        "idf",
        "df",
        "order",
        "size_start",
        "inv_norm",
        "post_ptr",
        "post_idx",
        "skip_ptr",
        "skip_idx",
        "fwd_ptr",
        "fwd_idx",
        "hash_keys",
        "hash_ids",
        "word_ptr",
        "word_idx",
    )
    # read as contiguous runs only (see storage.RunArray)
    RUN_ARRAYS = ("post_idx", "word_idx")

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
        self._qdense: np.ndarray | None = None
        self._scratch_arrays: Dict[Tuple[str, str], np.ndarray] = {}

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
            for wd in dict.fromkeys(s.split()):  # not a set: word ids must not depend on the hash seed
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
        ptr_t = np.int32 if len(fwd.indices) < 2**31 - 1 else np.int64
        fwd_ptr = fwd.indptr.astype(ptr_t)
        fwd_idx = fwd.indices.astype(np.uint16 if n_feat < 2**16 else np.int32)
        # per n-gram, ascending internal ids, a string repeated once per occurrence
        post = fwd.tocsc()
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
        del canon
        arrays = {
            "idf": idf,
            "df": df.astype(np.int32),
            "order": order,
            "size_start": size_start,
            "inv_norm": inv_norm,
            "post_ptr": post.indptr.astype(np.int64),
            "post_idx": post.indices.astype(np.int32),
            **_skip_arrays(post.indptr, post.indices),
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

    def search(
        self,
        norm_texts: Sequence[str],
        k: int = 10,
        budget: int | None = 8192,
        n_rescore: int = 128,
        min_score: float = 0.0,
    ) -> List[Tuple[np.ndarray, np.ndarray]]:
        """For each normalised text: (KB string ids, cosine similarities), best first, at most ``k``,
        only those >= ``min_score``. Equal similarities go to the shorter string (the smaller
        internal id).

        ``budget=None``: exact (every posting list of the query's n-grams is read). Otherwise the
        rarest n-grams are read while their posting lists fit in ``budget`` entries (at least
        one is always read), the ``n_rescore`` best strings of that partial score are scored
        exactly, and the best ``k`` returned (similarities are always exact cosines; the *set*
        of candidates is approximate)."""
        empty = (np.zeros(0, np.int64), np.zeros(0, np.float32))
        n_q = len(norm_texts)
        if not n_q:
            return []
        if self.n_strings == 0:
            return [empty] * n_q
        qrow, feat, w, sizes = self._featurize(norm_texts)
        if budget is None:
            # every n-gram read: the partial scores are the exact cosines
            cand_q, cands, scores = self._product_top(qrow, feat, w, n_q, k)
        else:
            cand_q, cands = self._pruned_candidates(norm_texts, qrow, feat, w, sizes, budget, n_rescore, k)
            scores = self._exact_scores(cands, cand_q, qrow, feat, w)
        # best first; equal scores: smaller internal id (shorter string) first
        o = np.lexsort((cands, -scores, cand_q))
        cand_q, cands, scores = cand_q[o], cands[o], np.minimum(scores[o], 1.0)
        bounds = np.searchsorted(cand_q, np.arange(n_q + 1))
        rank = np.arange(len(cand_q)) - bounds[cand_q]
        keep = (rank < k) & (scores >= min_score)
        cand_q, ids, scores = cand_q[keep], np.asarray(self.arrays["order"][cands[keep]]).astype(np.int64), scores[keep].astype(np.float32)
        bounds = np.searchsorted(cand_q, np.arange(n_q + 1)).tolist()
        return [
            (ids[bounds[i] : bounds[i + 1]], scores[bounds[i] : bounds[i + 1]]) if bounds[i] < bounds[i + 1] else empty for i in range(n_q)
        ]

    def _product_top(
        self, qrow: np.ndarray, feat: np.ndarray, w: np.ndarray, n_q: int, width: int
    ) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(query, string, partial score) of the ``width`` best partial scores of each query (ties
        with the ``width``-th kept), the partial scores being the product of the given (query,
        n-gram, weight) entries (sorted by query) with the posting lists.

        A sparse product costs time proportional to the number of KB strings on every call
        (scipy's accumulators are that long), so batches that read few posting entries compared
        with the KB's size are summed by sorting the entries instead; the others go through the
        sparse product in groups of rows with a bounded output, each group reduced to its best
        entries before the next is computed."""
        post_ptr = self.arrays["post_ptr"]
        lens = post_ptr[feat + 1] - post_ptr[feat]
        if int(lens.sum()) * 8 <= self.n_strings:
            return self._row_top(self._sum_sorted(qrow, feat, lens, w, n_q), n_q, width)
        parts = [
            (q + r0, c, v)
            for r0, r1, group in self._spmm_groups(qrow, feat, w, n_q, lens)
            for q, c, v in [self._row_top(group, r1 - r0, width)]
        ]
        return tuple(np.concatenate([p[i] for p in parts]) for i in range(3))  # type: ignore[return-value]

    def _sum_sorted(
        self, qrow: np.ndarray, feat: np.ndarray, lens: np.ndarray, w: np.ndarray, n_q: int
    ) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Sum the posting lists of ``feat`` (times the query weights ``w``) per (query, string), by sorting."""
        a = self.arrays
        p0 = a["post_ptr"][feat]
        n = int(lens.sum())
        indptr = np.zeros(n_q + 1, dtype=np.int64)
        if not n:
            return indptr, np.zeros(0, np.int64), np.zeros(0, np.float32)
        strings = take_runs(a["post_idx"], p0, lens)
        keys = np.repeat(qrow.astype(np.int64) * self.n_strings, lens) + strings
        vals = np.repeat((w * a["idf"][feat]).astype(np.float32), lens) * a["inv_norm"][strings]
        o = np.argsort(keys)
        keys, vals = keys[o], vals[o]
        first = np.ones(n, dtype=bool)
        first[1:] = keys[1:] != keys[:-1]
        starts = np.flatnonzero(first)
        sums = np.add.reduceat(vals, starts)
        keys = keys[starts]
        rows = keys // self.n_strings
        np.cumsum(np.bincount(rows, minlength=n_q), out=indptr[1:])
        return indptr, keys - rows * self.n_strings, sums

    def _spmm(
        self, qrow: np.ndarray, feat: np.ndarray, w: np.ndarray, n_q: int, lens: np.ndarray, max_out: int = 4_000_000
    ) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The whole sparse product as CSR arrays ``(indptr, string ids, scores)``."""
        groups = list(self._spmm_groups(qrow, feat, w, n_q, lens, max_out))
        offsets = np.cumsum([0] + [int(g[0][-1]) for _, _, g in groups])
        indptr = np.concatenate([[0]] + [g[0][1:].astype(np.int64) + off for (_, _, g), off in zip(groups, offsets[:-1], strict=True)])
        return indptr, np.concatenate([g[1] for _, _, g in groups]), np.concatenate([g[2] for _, _, g in groups])

    def _spmm_groups(
        self, qrow: np.ndarray, feat: np.ndarray, w: np.ndarray, n_q: int, lens: np.ndarray, max_out: int = 4_000_000
    ) -> Iterator[Tuple[int, int, Tuple[np.ndarray, np.ndarray, np.ndarray]]]:
        """``(first row, end row, CSR arrays)`` of the sparse product, in groups of rows whose
        posting entries read (a bound on their output) stay under ``max_out``.

        Per group, the posting lists of its n-grams are gathered into a small (n-grams x strings)
        matrix of ones (repeated ids sum to counts), the queries carry ``weight * idf``, and the
        product is scaled by each string's ``inv_norm``. scipy's kernel is called directly with the
        output bound instead of scipy's counting pass; through scipy's ``@`` when it cannot be."""
        import scipy.sparse as sp

        a = self.arrays
        post_ptr, post_idx, inv_norm = a["post_ptr"], a["post_idx"], a["inv_norm"]
        row_len = np.bincount(qrow, minlength=n_q)
        q_ptr = np.zeros(n_q + 1, dtype=np.int64)
        np.cumsum(row_len, out=q_ptr[1:])
        row_read = np.bincount(qrow, weights=lens, minlength=n_q).astype(np.int64)
        row_bound = np.minimum(row_read, self.n_strings)
        qw = (w * a["idf"][feat]).astype(np.float32)
        r0 = 0
        while r0 < n_q:
            r1 = r0 + max(1, int(np.searchsorted(np.cumsum(row_read[r0:]), max_out, side="right")))
            f0, f1 = int(q_ptr[r0]), int(q_ptr[r1])
            grams, local = np.unique(feat[f0:f1], return_inverse=True)
            g0 = post_ptr[grams]
            glen = (post_ptr[grams + 1] - g0).astype(np.int64)
            gptr = np.zeros(len(grams) + 1, dtype=np.int64)
            np.cumsum(glen, out=gptr[1:])
            total = int(gptr[-1])
            bj = take_runs(post_idx, g0, glen).astype(np.int32, copy=False)
            bx = self._ones(total)
            ap = q_ptr[r0 : r1 + 1] - q_ptr[r0]
            bound = int(row_bound[r0:r1].sum())
            if _sparsetools is None or total >= 2**31 - 1 or bound >= 2**31 - 1:
                prod = sp.csr_matrix((qw[f0:f1], local, ap), shape=(r1 - r0, len(grams))) @ sp.csr_matrix(
                    (bx, bj, gptr), shape=(len(grams), self.n_strings)
                )
                prod = prod.tocsr()
                cp, cj, cx = prod.indptr, prod.indices, prod.data.astype(np.float32)
            else:
                cp = np.empty(r1 - r0 + 1, dtype=np.int32)
                cj = np.empty(bound, dtype=np.int32)
                cx = np.empty(bound, dtype=np.float32)
                _sparsetools.csr_matmat(
                    r1 - r0,
                    self.n_strings,
                    ap.astype(np.int32),
                    local.astype(np.int32),
                    qw[f0:f1],
                    gptr.astype(np.int32),
                    bj,
                    bx,
                    cp,
                    cj,
                    cx,
                )
                cj, cx = cj[: cp[-1]], cx[: cp[-1]]
            cx *= inv_norm[cj]
            yield r0, r1, (cp, cj, cx)
            r0 = r1

    @staticmethod
    def _row_top(partial, n_q: int, width: int) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(query, string, partial score) of the ``width`` best entries of each row (all entries
        tied with the ``width``-th are kept)."""
        indptr, indices, data = partial
        qs, ids, vals = [], [], []
        for i in range(n_q):
            r0, r1 = int(indptr[i]), int(indptr[i + 1])
            n = r1 - r0
            if not n:
                continue
            v = data[r0:r1]
            if n > width:
                # the width-th largest of a subsample is a lower bound of the row's width-th
                # largest: filter with it before the exact selection
                if n > 16 * width:
                    sub = v[:: n // (8 * width)]
                    keep = np.flatnonzero(v >= np.partition(sub, len(sub) - width)[len(sub) - width])
                    vk = v[keep]
                else:
                    keep, vk = None, v
                kth = np.partition(vk, len(vk) - width)[len(vk) - width]
                sel = np.flatnonzero(vk >= kth)
                if keep is not None:
                    sel = keep[sel]
                c, v = indices[r0:r1][sel], v[sel]
            else:
                c = indices[r0:r1]
            qs.append(np.full(len(c), i, dtype=np.int64))
            ids.append(c)
            vals.append(v)
        if not qs:
            return np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(0, np.float32)
        return np.concatenate(qs), np.concatenate(ids).astype(np.int64), np.concatenate(vals).astype(np.float32)

    def _pruned_candidates(
        self,
        norm_texts: Sequence[str],
        qrow: np.ndarray,
        feat: np.ndarray,
        w: np.ndarray,
        sizes: np.ndarray,
        budget: int,
        n_rescore: int,
        k: int,
    ) -> Tuple[np.ndarray, np.ndarray]:
        """Candidate (query, internal string id) pairs of the pruned search, sorted, unique."""
        n_q = len(norm_texts)
        a = self.arrays
        parts_q: List[np.ndarray] = []
        parts_s: List[np.ndarray] = []
        if len(qrow):
            df = self.arrays["df"][feat].astype(np.int64)
            o = np.lexsort((df, qrow))  # per query, rarest n-gram first
            qrow, feat, w, df = qrow[o], feat[o], w[o], df[o]
            starts = np.searchsorted(qrow, np.arange(n_q))
            cum = np.cumsum(df)
            before = np.concatenate([[0], cum])[starts][qrow]
            rank = np.arange(len(qrow)) - starts[qrow]
            read = (cum - before <= budget) | (rank == 0)
            # a query whose rarest n-gram alone exceeds the budget reads only `budget` entries of
            # that list (and nothing else): ids are numbered by string size, so these are the
            # shortest strings with that n-gram (from half the query's size on), the ones where
            # it weighs most
            trunc = (rank == 0) & (df > budget)
            read &= ~trunc
            width = max(k, n_rescore)
            if read.any():
                rq, rs, _ = self._product_top(qrow[read], feat[read], w[read], n_q, width)
                parts_q.append(rq)
                parts_s.append(rs)
            if trunc.any():
                size_start, max_size = a["size_start"], len(a["size_start"]) - 2
                post_ptr, post_idx, inv_norm = a["post_ptr"], a["post_idx"], a["inv_norm"]
                for f, q, wq in zip(feat[trunc].tolist(), qrow[trunc].tolist(), w[trunc].tolist(), strict=True):
                    p0, p1 = int(post_ptr[f]), int(post_ptr[f + 1])
                    lo = self._lower_bound(f, int(size_start[min(int(sizes[q]) // 2, max_size + 1)])) - p0
                    p0 += min(lo, p1 - p0 - budget)
                    # one n-gram read: the partial score is its weight, the row's best `width`
                    # (count x inv_norm: the n-gram's idf is the same for all)
                    ids, counts = np.unique(post_idx[p0 : p0 + budget], return_counts=True)
                    v = counts * inv_norm[ids]
                    sel = np.argpartition(-v, width - 1)[:width] if len(v) > width else slice(None)
                    parts_s.append(ids[sel].astype(np.int64))
                    parts_q.append(np.full(len(parts_s[-1]), q, dtype=np.int64))
                    del wq
        wq, ws = self._word_candidates(norm_texts, budget, n_rescore)
        parts_q.append(wq)
        parts_s.append(ws)
        # a query that is exactly a KB string always has that string among its candidates
        hk, hid = a["hash_keys"], a["hash_ids"]
        qh = np.array([_hash64(t) for t in norm_texts], dtype=np.uint64)
        at = np.minimum(np.searchsorted(hk, qh), max(0, len(hk) - 1))
        hit = np.flatnonzero(hk[at] == qh)
        parts_q.append(hit.astype(np.int64))
        parts_s.append(np.asarray(hid[at[hit]]).astype(np.int64))
        keys = np.unique(np.concatenate(parts_q) * self.n_strings + np.concatenate(parts_s))
        return keys // self.n_strings, keys % self.n_strings

    def _lower_bound(self, f: int, value: int) -> int:
        """First position in n-gram ``f``'s posting list whose string id is >= ``value``: the skip
        entries (every ``SKIP``-th id) give the block, one read of that block the position."""
        a = self.arrays
        p0, p1 = int(a["post_ptr"][f]), int(a["post_ptr"][f + 1])
        s0, s1 = int(a["skip_ptr"][f]), int(a["skip_ptr"][f + 1])
        b = int(np.searchsorted(a["skip_idx"][s0:s1], value))
        if b == 0:
            return p0
        b0 = p0 + (b - 1) * SKIP
        b1 = min(b0 + SKIP, p1)
        return b0 + int(np.searchsorted(a["post_idx"][b0:b1], value))

    def _word_candidates(self, norm_texts: Sequence[str], budget: int, n_words: int) -> Tuple[np.ndarray, np.ndarray]:
        """(query, internal string id) pairs: per query, up to ``n_words`` strings that share the
        query's rarest whole words (those whose posting lists fit in ``budget``), most shared
        words first, then shortest. Word posting lists are far shorter than n-gram ones, so this
        finds the long strings that contain a mention (``"interictal epileptiform activity"``
        for ``"epileptiform activity"``) which the n-gram budget alone can miss."""
        none = (np.zeros(0, np.int64), np.zeros(0, np.int64))
        if not self.words:
            return none
        words = self.words
        qs: List[int] = []
        ws: List[int] = []
        for i, text in enumerate(norm_texts):
            for wd in set(text.split()):
                wid = words.get(wd)
                if wid is not None:
                    qs.append(i)
                    ws.append(wid)
        if not qs:
            return none
        ptr, idx = self.arrays["word_ptr"], self.arrays["word_idx"]
        q, wid = np.asarray(qs, dtype=np.int64), np.asarray(ws, dtype=np.int64)
        p0 = ptr[wid]
        df = ptr[wid + 1] - p0
        o = np.lexsort((wid, df, q))  # per query, rarest word first
        q, p0, df = q[o], p0[o], df[o]
        starts = np.searchsorted(q, q)  # first entry of each entry's query
        cum = np.cumsum(df)
        within = cum - np.concatenate([[0], cum])[starts]
        chosen = within <= budget
        q, p0, df = q[chosen], p0[chosen], df[chosen]
        if not len(q):
            return none
        keys, counts = np.unique(np.repeat(q, df) * self.n_strings + take_runs(idx, p0, df).astype(np.int64), return_counts=True)
        hq, hs = keys // self.n_strings, keys % self.n_strings
        # queries with more than `n_words` hits keep the most shared words, then the shortest
        # strings (hits are sorted by id = by size within a query; a stable sort by count keeps that)
        big = np.bincount(hq, minlength=len(norm_texts))[hq] > n_words
        if big.any():
            c_max = int(counts.max())
            o = np.flatnonzero(big)
            o = o[np.argsort(hq[o] * (c_max + 1) + (c_max - counts[o]), kind="stable")]
            bq, bs = hq[o], hs[o]
            rank = np.arange(len(bq)) - np.searchsorted(bq, bq)
            keep = rank < n_words
            hq = np.concatenate([hq[~big], bq[keep]])
            hs = np.concatenate([hs[~big], bs[keep]])
        return hq, hs

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
                # 32-bit positions where they fit: half the memory traffic of this gather
                it = np.int32 if len(fwd_idx) < 2**31 - 1 and chunk * n_feat < 2**31 - 1 else np.int64
                a0 = fwd_ptr[strings]
                n = (fwd_ptr[strings + 1] - a0).astype(it)
                seg = np.cumsum(n, dtype=np.int64) - n
                total = int(seg[-1] + n[-1])
                pos = np.repeat((a0 - seg).astype(it), n)
                pos += self._arange(total, it)
                slot = np.repeat(((cand_q[p0:p1] - c0) * n_feat).astype(it), n)
                slot += fwd_idx[pos]
                out[p0:p1] = np.add.reduceat(qd[slot], seg) * inv_norm[strings]
            qd[slots] = 0.0
        return out

    def _arange(self, n: int, dtype) -> np.ndarray:
        """``np.arange(n, dtype=dtype)``, sliced from a cached, growing array."""
        return self._growing("arange", n, dtype)

    def _ones(self, n: int) -> np.ndarray:
        """``np.ones(n, float32)``, sliced from a cached, growing array."""
        return self._growing("ones", n, np.float32)

    def _growing(self, kind: str, n: int, dtype) -> np.ndarray:
        key = (kind, np.dtype(dtype).str)
        cached = self._scratch_arrays.get(key)
        if cached is None or len(cached) < n:
            size = max(n, 2 * len(cached) if cached is not None else n)
            cached = self._scratch_arrays[key] = np.arange(size, dtype=dtype) if kind == "arange" else np.ones(size, dtype=dtype)
        return cached[:n]

    # ------------------------------------------------------------------ serialisation
    def to_disk(self, path: Union[str, Path]) -> None:
        path = Path(path)
        path.mkdir(parents=True, exist_ok=True)
        for stale in path.glob("*.npy"):  # arrays of an older index format written here before
            if stale.stem not in self.ARRAYS:
                stale.unlink()
        for name in self.ARRAYS:
            save_npy(path / f"{name}.npy", self.arrays[name])
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
        info = read_info(path, "index.json", INDEX_FORMAT_VERSION)
        try:
            grams = srsly.read_msgpack(path / "vocab.msg")
            words = srsly.read_msgpack(path / "words.msg") if (path / "words.msg").exists() else []
        except ValueError as err:
            raise KnowledgeBaseError(LinkingErrors.E410.format(path=path, reason=f"vocab.msg / words.msg: {err}")) from None
        vocab = dict(zip(grams, range(len(grams)), strict=False))
        # posting lists are only read as runs: by pread, so that they stay out of the resident set
        arrays = {
            n: RunArray(path / f"{n}.npy") if mmap and HAS_PREAD and n in cls.RUN_ARRAYS else load_npy(path / f"{n}.npy", mmap)
            for n in cls.ARRAYS
        }
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


try:  # scipy's sparse-product kernel (private; the public ``@`` is used when it is missing)
    from scipy.sparse import _sparsetools
except ImportError:  # pragma: no cover
    _sparsetools = None


def _hash64(text: str) -> int:
    """A stable 64-bit hash of a string (Python's ``hash`` is salted per process)."""
    return int.from_bytes(hashlib.blake2b(text.encode("utf8"), digest_size=8).digest(), "little")


def _skip_arrays(post_ptr: np.ndarray, post_idx: np.ndarray) -> Dict[str, np.ndarray]:
    """Every ``SKIP``-th entry of each posting list (from its first), with per-list pointers."""
    lens = np.diff(post_ptr).astype(np.int64)
    n_skip = (lens + SKIP - 1) // SKIP
    skip_ptr = np.zeros(len(lens) + 1, dtype=np.int64)
    np.cumsum(n_skip, out=skip_ptr[1:])
    seg = skip_ptr[:-1]
    k = np.arange(int(skip_ptr[-1]), dtype=np.int64) - np.repeat(seg, n_skip)
    pos = np.repeat(np.asarray(post_ptr[:-1], dtype=np.int64), n_skip) + k * SKIP
    return {"skip_ptr": skip_ptr, "skip_idx": np.asarray(post_idx[pos], dtype=np.int32)}
