"""Page retrieval over an opened index: retrievers ("channels") ranked per query, fused into pages.

Channels, each producing a ranked list of pages:
- `vector`   passage embeddings (cosine), a page ranked by its best passage;
- `fulltext` passage BM25, a page ranked by its best passage;
- `title`    title embeddings (what the reference environment searches);
- `title_exact` titles that occur word for word in the query (longest first), so
  "Zanness Falls" beats "Zanness" when the query names the former.

Modes: `hybrid` fuses all four by reciprocal rank fusion, `score = sum(w / (rrf_k + rank))`
(title embeddings get a small weight: on their own they favour pages whose title merely shares a
first name with a query about someone else);
`vector`, `fulltext` and `title` use one channel. The `memory` backend computes channels with
numpy/scipy over arrays loaded once; the `lancedb` backend asks LanceDB (vector search and its
native full-text index) for the two passage channels.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

import numpy as np

from rlsys.corpus.bm25 import BM25, tokenize
from rlsys.corpus.vector_clusters import ClusteredVectors

MODES = ("hybrid", "vector", "fulltext", "title")
WORD_RE = re.compile(r"\w+", re.UNICODE)


@dataclass
class Fusion:
    """How channels are combined (see `CorpusConfig` for the meaning of each)."""

    candidates: int = 50
    rrf_k: float = 10.0
    vector_weight: float = 1.0
    fulltext_weight: float = 1.0
    title_weight: float = 1.0
    title_vector_weight: float = 0.25
    vector_probe: int = 16


def tokenize_all(text: str) -> list[str]:
    """Like `bm25.tokenize` but keeping stopwords (for whole-title matching)."""
    folded = unicodedata.normalize("NFKD", text.lower())
    return WORD_RE.findall("".join(c for c in folded if not unicodedata.combining(c)))


@dataclass
class Hit:
    page: int            # page index
    score: float
    passage: int = -1    # best passage index, -1 when unknown


class PageRetriever:
    """Ranks pages for queries over in-memory arrays of one index (see the module docstring)."""

    def __init__(self, *, page_titles: list[str], title_vectors: np.ndarray, passage_page: np.ndarray,
                 passage_ids: list[str], passage_texts: list[str], passage_vectors: np.ndarray, fusion: Fusion,
                 lance_passages=None):
        self.page_titles = page_titles
        self.title_vectors = title_vectors
        self.passage_page = passage_page
        self.passage_texts = passage_texts
        self.passage_vectors = passage_vectors
        self.fusion = fusion
        self.bm25 = BM25(passage_texts)
        self.passage_index = ClusteredVectors(passage_vectors, n_probe=fusion.vector_probe)
        self._titles_by_first_word: dict[str, list[tuple[str, int]]] = {}
        for i, title in enumerate(page_titles):
            words = tokenize_all(title)
            if words and len(" ".join(words)) > 1:
                self._titles_by_first_word.setdefault(words[0], []).append((" " + " ".join(words) + " ", i))
        self.lance_passages = lance_passages  # LanceDB table for the `lancedb` backend, else None
        self._passage_row = {pid: i for i, pid in enumerate(passage_ids)}

    # -- channels: each returns [(page index, best passage index)] best first ------------------
    def _by_passage(self, order: np.ndarray) -> list[tuple[int, int]]:
        seen: dict[int, int] = {}
        for p in order:
            page = int(self.passage_page[p])
            if page not in seen:
                seen[page] = int(p)
        return list(seen.items())

    def _top(self, scores: np.ndarray, n: int, positive: bool = False) -> np.ndarray:
        n = min(n, len(scores))
        if n <= 0:
            return np.zeros(0, dtype=np.int64)
        idx = np.argpartition(-scores, n - 1)[:n]
        idx = idx[np.argsort(-scores[idx], kind="stable")]
        return idx[scores[idx] > 0] if positive else idx

    def vector_channel(self, qvecs: np.ndarray) -> list[list[tuple[int, int]]]:
        if self.lance_passages is not None:
            return [self._lance_vector(q) for q in qvecs]
        return [self._by_passage(rows) for rows, _ in self.passage_index.search(qvecs, self.fusion.candidates)]

    def fulltext_channel(self, query: str) -> list[tuple[int, int]]:
        if self.lance_passages is not None:
            return self._lance_fulltext(query)
        return self._by_passage(self._top(self.bm25.scores(query), self.fusion.candidates, positive=True))

    def title_channel(self, qvecs: np.ndarray) -> list[list[tuple[int, int]]]:
        sims = qvecs @ self.title_vectors.T
        return [[(int(i), -1) for i in self._top(row, self.fusion.candidates)] for row in sims]

    def title_exact_channel(self, query: str) -> list[tuple[int, int]]:
        words = tokenize_all(query)
        folded = " " + " ".join(words) + " "
        found = {(phrase, i) for w in set(words) for phrase, i in self._titles_by_first_word.get(w, ())
                 if phrase in folded}
        return [(i, -1) for phrase, i in sorted(found, key=lambda x: (-len(x[0]), x[1]))][:10]

    # -- LanceDB backend ------------------------------------------------------------------------
    def _lance_vector(self, qvec: np.ndarray) -> list[tuple[int, int]]:
        table = (self.lance_passages.search(qvec, vector_column_name="vector").limit(self.fusion.candidates)
                 .select(["passage_id", "_distance"]).to_arrow())
        return self._by_passage(self._rows(table))

    def _rows(self, table) -> np.ndarray:
        ids = table.column("passage_id").to_pylist()
        return np.asarray([self._passage_row[p] for p in ids if p in self._passage_row], dtype=np.int64)

    def _lance_fulltext(self, query: str) -> list[tuple[int, int]]:
        text = " ".join(tokenize(query))
        if not text:
            return []
        table = (self.lance_passages.search(text, query_type="fts").limit(self.fusion.candidates)
                 .select(["passage_id", "_score"]).to_arrow())
        return self._by_passage(self._rows(table))

    # -- fusion --------------------------------------------------------------------------------
    def search(self, queries: list[str], qvecs: np.ndarray | None, k: int, mode: str) -> list[list[Hit]]:
        """Top-k pages per query (`qvecs` may be None for the `fulltext` mode)."""
        if mode not in MODES:
            raise ValueError(f"unknown search mode {mode!r} (one of {', '.join(MODES)})")
        f = self.fusion
        vec = self.vector_channel(qvecs) if mode in ("hybrid", "vector") else None
        ttl = self.title_channel(qvecs) if mode in ("hybrid", "title") else None
        out: list[list[Hit]] = []
        for n, query in enumerate(queries):
            if mode == "vector":
                channels = [(vec[n], 1.0)]
            elif mode == "title":
                channels = [(ttl[n], 1.0)]
            elif mode == "fulltext":
                channels = [(self.fulltext_channel(query), 1.0)]
            else:
                channels = [(vec[n], f.vector_weight), (self.fulltext_channel(query), f.fulltext_weight),
                            (ttl[n], f.title_vector_weight), (self.title_exact_channel(query), f.title_weight)]
            out.append(self._fuse(channels, k))
        return out

    def _fuse(self, channels: list[tuple[list[tuple[int, int]], float]], k: int) -> list[Hit]:
        scores: dict[int, float] = {}
        best: dict[int, int] = {}
        for ranked, weight in channels:
            if weight == 0:
                continue
            for rank, (page, passage) in enumerate(ranked, 1):
                scores[page] = scores.get(page, 0.0) + weight / (self.fusion.rrf_k + rank)
                if passage >= 0 and page not in best:
                    best[page] = passage
        top = sorted(scores.items(), key=lambda kv: (-kv[1], kv[0]))[:k]
        return [Hit(page, score, best.get(page, -1)) for page, score in top]
