"""An in-memory Okapi BM25 over a fixed list of texts (a sparse term matrix; ~1 ms per query).

The LanceDB full-text index is the on-disk index; this is the service's fast path over the same
passages, built in a fraction of a second when the service opens.
"""

from __future__ import annotations

import re
import unicodedata

import numpy as np
from scipy import sparse

TOKEN_RE = re.compile(r"\w+", re.UNICODE)
STOPWORDS = frozenset(
    "a an and are as at be by did do does for from had has have he her his in is it its of on or "
    "she that the their them they this to was were what when where which who whom whose why with "
    "how many much into".split()
)


def tokenize(text: str) -> list[str]:
    """Lower-cased word tokens with accents folded (`Fenström` -> `fenstrom`), stopwords dropped."""
    folded = unicodedata.normalize("NFKD", text.lower())
    folded = "".join(c for c in folded if not unicodedata.combining(c))
    return [t for t in TOKEN_RE.findall(folded) if t not in STOPWORDS]


class BM25:
    """BM25 scores of a query against every document, as one sparse column sum."""

    def __init__(self, texts: list[str], k1: float = 1.2, b: float = 0.75):
        vocab: dict[str, int] = {}
        rows: list[int] = []
        cols: list[int] = []
        counts: list[int] = []
        lengths = np.zeros(len(texts), dtype=np.float32)
        for d, text in enumerate(texts):
            tf: dict[int, int] = {}
            tokens = tokenize(text)
            lengths[d] = len(tokens)
            for tok in tokens:
                j = vocab.setdefault(tok, len(vocab))
                tf[j] = tf.get(j, 0) + 1
            rows.extend([d] * len(tf))
            cols.extend(tf.keys())
            counts.extend(tf.values())
        self.vocab = vocab
        n_docs = max(1, len(texts))
        tf_arr = np.asarray(counts, dtype=np.float32)
        row_arr = np.asarray(rows, dtype=np.int64)
        col_arr = np.asarray(cols, dtype=np.int64)
        df = np.bincount(col_arr, minlength=len(vocab)).astype(np.float32)
        idf = np.log1p((n_docs - df + 0.5) / (df + 0.5))
        avgdl = float(lengths.mean()) if len(texts) else 1.0
        norm = k1 * (1 - b + b * lengths[row_arr] / max(avgdl, 1e-9))
        weights = idf[col_arr] * tf_arr * (k1 + 1) / (tf_arr + norm)
        self.matrix = sparse.csc_matrix((weights, (row_arr, col_arr)), shape=(len(texts), len(vocab)),
                                        dtype=np.float32)
        self.matrix.sum_duplicates()  # one entry per (document, term): postings slices hold no repeats
        self.n_docs = len(texts)
        self.idf = idf
        self.max_idf = float(np.log1p((n_docs + 0.5) / 0.5))  # a term no document has

    def term_idf(self, token: str) -> float:
        """IDF of one (already tokenized) term; stopwords 0, unseen terms the highest."""
        if token in STOPWORDS:
            return 0.0
        j = self.vocab.get(token)
        return self.max_idf if j is None else float(self.idf[j])

    def scores(self, query: str) -> np.ndarray:
        """Score of every document (0 where no query term occurs)."""
        cols = sorted({self.vocab[t] for t in tokenize(query) if t in self.vocab})
        out = np.zeros(self.n_docs, dtype=np.float32)
        m = self.matrix  # CSC: a term's postings are one slice (cheaper than scipy's column indexing)
        for c in cols:
            start, end = m.indptr[c], m.indptr[c + 1]
            out[m.indices[start:end]] += m.data[start:end]
        return out
