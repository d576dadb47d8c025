"""Could the exact search skip posting lists and stay exact? Measures two upper bounds.

    PYTHONPATH=. python benchmarks/linking_bounds.py assets/kb/open/index 10

For every ``step``-th distinct BC5CDR mention string: read the rarest n-grams within a budget,
re-score the 128 best strings of that partial score exactly, and take the 30th best exact score
``theta`` (the linker keeps 30 strings). Strings outside that set score at most their partial score
plus a bound on the unread n-grams; when that is below ``theta`` for every string, the budgeted
search is provably exact.

- *per-n-gram bound*: sum over unread n-grams of query weight x the n-gram's largest weight in any
  string (capped by the unread part's norm, Cauchy-Schwarz). Reported: share of queries certified.
- *per-size bound*: the same with the largest weight among strings of each size; strings of sizes
  whose bound stays below ``theta`` are skipped, the others read in full. Reported: share of
  posting entries that must still be read (1.0 = no saving).
"""

import sys

import numpy as np
import scipy.sparse as sp


def main(index_dir: str, step: str = "10", budgets: str = "256,1024,4096,16384,65536") -> None:
    from spacy_clinical_ner.linking.candidates import TfidfIndex
    from spacy_clinical_ner.linking.kb import normalize_alias
    from spacy_clinical_ner.readers.pubtator import read_pubtator

    idx = TfidfIndex.from_disk(index_dir)
    files = [f"corpus/bc5cdr/CDR_{s}.PubTator.txt" for s in ("TrainingSet", "DevelopmentSet", "TestSet")]
    uniq = list(dict.fromkeys(normalize_alias(m.text) for f in files for d in read_pubtator(f) for m in d.mentions))[:: int(step)]
    a = idx.arrays
    post_ptr, post_idx = np.array(a["post_ptr"]), np.array(a["post_idx"])
    n_grams = len(post_ptr) - 1
    # TF-IDF weight of each posting: idf x the string's inv_norm, repeated entries summed to counts
    gram_of = np.repeat(np.arange(n_grams), np.diff(post_ptr))
    w_all = np.asarray(a["idf"])[gram_of] * np.asarray(a["inv_norm"])[post_idx]
    postings = sp.csr_matrix((w_all, post_idx, post_ptr), shape=(n_grams, idx.n_strings))
    postings.sum_duplicates()
    post_w, post_ptr, post_idx = postings.data, postings.indptr, postings.indices
    size_start = np.asarray(a["size_start"])
    n_sizes = len(size_start) - 1
    size_of = np.repeat(np.arange(n_sizes), np.diff(size_start))
    gram_of = np.repeat(np.arange(n_grams), np.diff(post_ptr))
    per_size = np.zeros(n_grams * n_sizes, np.float32)
    np.maximum.at(per_size, gram_of * n_sizes + size_of[post_idx], post_w)
    per_size = per_size.reshape(n_grams, n_sizes)
    per_gram = per_size.max(axis=1)
    df = np.diff(post_ptr)
    k, width = 30, 128
    qrow, feat, w, _ = idx._featurize(uniq)

    def scores(f, ww):
        return (sp.csr_matrix((ww, f, [0, len(f)]), shape=(1, idx.n_features)) @ postings).toarray().ravel()

    print(
        f"{len(uniq)} queries; mean posting entries of a query (exact search): {np.mean([df[feat[qrow == q]].sum() for q in range(len(uniq))]):.0f}"
    )
    for budget in [int(b) for b in budgets.split(",")]:
        certified, read_share, n = 0, [], 0
        for q in range(len(uniq)):
            f, ww = feat[qrow == q], w[qrow == q]
            if not len(f):
                continue
            n += 1
            o = np.argsort(df[f], kind="stable")
            f, ww = f[o], ww[o]
            cum = np.cumsum(df[f])
            n_read = max(1, int(np.searchsorted(cum, budget, side="right")))
            part, full = scores(f[:n_read], ww[:n_read]), scores(f, ww)
            top = np.argpartition(-part, width)[: width + 1]
            top = top[np.argsort(-part[top])]
            next_partial = part[top[width]]
            theta = np.sort(full[top[:width]])[-k]
            unread, unread_w = f[n_read:], ww[n_read:]
            norm = np.sqrt((unread_w**2).sum())
            certified += next_partial + min(norm, (unread_w * per_gram[unread]).sum()) < theta
            live = np.flatnonzero(next_partial + np.minimum((unread_w[:, None] * per_size[unread]).sum(0), norm) >= theta)
            extra = sum(int(np.isin(size_of[post_idx[post_ptr[g] : post_ptr[g + 1]]], live).sum()) for g in unread)
            read_share.append((cum[n_read - 1] + extra) / cum[-1])
        print(
            f"budget {budget}: per-n-gram bound certifies {certified / n:.3f} of queries; "
            f"per-size bound still reads {np.mean(read_share):.3f} of the posting entries (median {np.median(read_share):.3f})"
        )


if __name__ == "__main__":
    main(*sys.argv[1:])
