"""BM25 scores from posting slices equal the sparse matrix's column sums (the former computation)."""

from __future__ import annotations

import numpy as np

from rlsys.corpus.bm25 import BM25, tokenize

TEXTS = ["Zanness Falls is a waterfall near Zanness.", "Clio Torström was born in Zanness in 1901.",
         "The Glass Orchard is a novel.", "", "zanness zanness ZANNESS falls"]


def test_scores_are_the_column_sums_of_the_query_terms():
    bm25 = BM25(TEXTS)
    for query in ("Where was Clio Torström born?", "zanness falls", "glass orchard novel zanness", "the of",
                  "unseen words only"):
        cols = sorted({bm25.vocab[t] for t in tokenize(query) if t in bm25.vocab})
        expected = (np.asarray(bm25.matrix[:, cols].sum(axis=1)).ravel() if cols
                    else np.zeros(len(TEXTS), dtype=np.float32))
        got = bm25.scores(query)
        assert got.shape == (len(TEXTS),) and np.allclose(got, expected, atol=1e-6), query
    assert bm25.scores("zanness falls").argmax() in (0, 4) and bm25.scores("the of").max() == 0.0
