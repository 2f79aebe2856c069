"""Page retrieval over an opened index: retrievers ("channels") ranked per query, fused into pages.

Channels, each producing a ranked list of pages with a raw score:
- `vector`      passage embeddings (cosine), a page ranked by its best passage;
- `fulltext`    passage BM25 over the page title, section name and passage text (the title is
                part of every passage's terms, as it is part of what is embedded), best passage;
- `title`       title embeddings (what the reference environment searches);
- `title_exact` page titles (and aliases: the page's `# heading`, the title without a trailing
                `(disambiguation)`) found word for word in the query; the score is the title's
                specificity, the summed IDF of its words (over passages) relative to
                `title_idf_full` x the largest IDF, capped at 1: "Zanness Falls" beats "Zanness"
                when the query names the former, and a title that is a common word ("Time")
                counts for less than a rare name.

Modes: `hybrid` fuses the four (`fusion.py`: calibrated score fusion by default, RRF on request)
and ranks in pages the best results link to (`second_hop.py`);
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
from rlsys.corpus.fusion import Fusion, Ranked, fuse
from rlsys.corpus.second_hop import LinkGraph, rank_in
from rlsys.corpus.vector_clusters import ClusteredVectors

MODES = ("hybrid", "vector", "fulltext", "title")
WORD_RE = re.compile(r"[^\W_]+", re.UNICODE)
QUALIFIER_RE = re.compile(r"\s*\([^()]*\)\s*$|\s+_[^_()]*_?\s*$")  # "X (film)", or "X _film" in file names

__all__ = ["MODES", "Fusion", "Hit", "PageRetriever", "title_aliases", "tokenize_all"]


def tokenize_all(text: str) -> list[str]:
    """Like `bm25.tokenize` but keeping stopwords (for whole-title matching); `_` separates words."""
    folded = unicodedata.normalize("NFKD", text.lower())
    return WORD_RE.findall("".join(c for c in folded if not unicodedata.combining(c)))


def title_aliases(title: str, heading: str | None = None) -> list[str]:
    """Names a page goes by: its title, its `# heading`, and both without a trailing `(…)` qualifier
    (`_…` in titles made from file names: `Nefarious _film`)."""
    names = [title] + ([heading] if heading else [])
    out: list[str] = []
    for name in names:
        for variant in (name, QUALIFIER_RE.sub("", name)):
            if variant.strip() and variant not in out:
                out.append(variant)
    return out


@dataclass
class Hit:
    page: int            # page index
    score: float
    passage: int = -1    # best passage index, -1 when unknown


class PageRetriever:
    """Ranks pages for queries over in-memory arrays of one index (see the module docstring)."""

    def __init__(self, *, page_titles: list[str], title_vectors: np.ndarray, passage_page: np.ndarray,
                 passage_ids: list[str], passage_texts: list[str], passage_vectors: np.ndarray, fusion: Fusion,
                 lance_passages=None, page_aliases: list[list[str]] | None = None,
                 passage_sections: list[str] | None = None, links: "LinkGraph | None" = None):
        self.page_titles = page_titles
        self.title_vectors = title_vectors
        self.passage_page = passage_page
        self.passage_texts = passage_texts
        self.passage_vectors = passage_vectors
        self.fusion = fusion
        sections = passage_sections or [""] * len(passage_texts)
        self.bm25 = BM25([f"{page_titles[int(pg)]} {sec} {text}" for pg, sec, text
                          in zip(passage_page, sections, passage_texts)])
        self.passage_index = ClusteredVectors(passage_vectors, n_probe=fusion.vector_probe,
                                              exact_below=fusion.vector_exact_below)
        self._titles_by_first_word: dict[str, list[tuple[str, int, int]]] = {}
        for i, title in enumerate(page_titles):
            for alias in (page_aliases[i] if page_aliases else [title]):
                words = tokenize_all(alias)
                if words and len(" ".join(words)) > 1:
                    specificity = sum(self.bm25.term_idf(w) for w in words) / (fusion.title_idf_full * self.bm25.max_idf)
                    entry = (" " + " ".join(words) + " ", i, min(1.0, specificity))
                    self._titles_by_first_word.setdefault(words[0], []).append(entry)
        self.links = links  # the pages' links, for the second hop (None: no second hop)
        self.lance_passages = lance_passages  # LanceDB table for the `lancedb` backend, else None
        self._passage_row = {pid: i for i, pid in enumerate(passage_ids)}

    # -- channels: each returns [(page index, best passage index, raw score)] best first -------
    def _by_passage(self, order: np.ndarray, scores: np.ndarray) -> Ranked:
        seen: dict[int, tuple[int, float]] = {}
        for p, s in zip(order, scores):
            page = int(self.passage_page[p])
            if page not in seen:
                seen[page] = (int(p), float(s))
        return [(page, p, s) for page, (p, s) in seen.items()]

    def _top(self, scores: np.ndarray, n: int, positive: bool = False) -> np.ndarray:
        n = min(n, len(scores))
        if n <= 0:
            return np.zeros(0, dtype=np.int64)
        idx = np.argpartition(-scores, n - 1)[:n]
        idx = idx[np.argsort(-scores[idx], kind="stable")]
        return idx[scores[idx] > 0] if positive else idx

    def vector_channel(self, qvecs: np.ndarray) -> list[Ranked]:
        if self.lance_passages is not None:
            return [self._lance_vector(q) for q in qvecs]
        return [self._by_passage(rows, sc) for rows, sc in self.passage_index.search(qvecs, self.fusion.candidates)]

    def fulltext_channel(self, query: str, scores: np.ndarray | None = None) -> Ranked:
        """BM25 pages of `query` (`scores`: its passage BM25 scores, when already computed)."""
        if self.lance_passages is not None:
            return self._lance_fulltext(query)
        scores = self.bm25.scores(query) if scores is None else scores
        top = self._top(scores, self.fusion.candidates, positive=True)
        return self._by_passage(top, scores[top])

    def title_channel(self, qvecs: np.ndarray) -> list[Ranked]:
        sims = qvecs @ self.title_vectors.T
        return [[(int(i), -1, float(row[i])) for i in self._top(row, self.fusion.candidates)] for row in sims]

    def title_exact_channel(self, query: str) -> Ranked:
        words = tokenize_all(query)
        folded = " " + " ".join(words) + " "
        best: dict[int, float] = {}
        for w in set(words):
            for phrase, i, specificity in self._titles_by_first_word.get(w, ()):
                if phrase in folded and specificity > best.get(i, 0.0):
                    best[i] = specificity
        ranked = sorted(best.items(), key=lambda x: (-x[1], x[0]))[:10]
        return [(i, -1, float(n)) for i, n in ranked]

    # -- LanceDB backend ------------------------------------------------------------------------
    def _lance_vector(self, qvec: np.ndarray) -> Ranked:
        table = (self.lance_passages.search(qvec, vector_column_name="vector").limit(self.fusion.candidates)
                 .select(["passage_id", "_distance"]).to_arrow())
        rows, dist = self._rows(table, "_distance")
        return self._by_passage(rows, 1.0 - dist / 2.0)  # L2 distance of unit vectors -> cosine

    def _rows(self, table, score_column: str) -> tuple[np.ndarray, np.ndarray]:
        ids = table.column("passage_id").to_pylist()
        scores = table.column(score_column).to_pylist()
        keep = [(self._passage_row[p], s) for p, s in zip(ids, scores) if p in self._passage_row]
        return (np.asarray([r for r, _ in keep], dtype=np.int64), np.asarray([s for _, s in keep], dtype=np.float64))

    def _lance_fulltext(self, query: str) -> Ranked:
        text = " ".join(tokenize(query))
        if not text:
            return []
        table = (self.lance_passages.search(text, query_type="fts").limit(self.fusion.candidates)
                 .select(["passage_id", "_score"]).to_arrow())
        return self._by_passage(*self._rows(table, "_score"))

    # -- fusion --------------------------------------------------------------------------------
    def channels(self, queries: list[str], qvecs: np.ndarray | None, mode: str = "hybrid",
                 bm25: list[np.ndarray] | None = None) -> list[dict[str, Ranked]]:
        """The channels `mode` uses, per query (`qvecs` may be None for the `fulltext` mode;
        `bm25`: the queries' passage BM25 scores, when already computed)."""
        if mode not in MODES:
            raise ValueError(f"unknown search mode {mode!r} (one of {', '.join(MODES)})")
        vec = self.vector_channel(qvecs) if mode in ("hybrid", "vector") else None
        ttl = self.title_channel(qvecs) if mode in ("hybrid", "title") else None
        out: list[dict[str, Ranked]] = []
        for n, query in enumerate(queries):
            if mode == "vector":
                out.append({"vector": vec[n]})
            elif mode == "title":
                out.append({"title": ttl[n]})
            elif mode == "fulltext":
                out.append({"fulltext": self.fulltext_channel(query)})
            else:
                out.append({"fulltext": self.fulltext_channel(query, bm25[n] if bm25 else None), "vector": vec[n],
                            "title": ttl[n], "title_exact": self.title_exact_channel(query)})
        return out

    def search(self, queries: list[str], qvecs: np.ndarray | None, k: int, mode: str) -> list[list[Hit]]:
        """Top-k pages per query (`qvecs` may be None for the `fulltext` mode)."""
        f = self.fusion
        hop = mode == "hybrid" and self.links is not None and f.hop_pages > 0 and k >= f.hop_rank
        bm25 = [self.bm25.scores(q) for q in queries] if hop and self.lance_passages is None else None
        out = []
        for n, (query, chans) in enumerate(zip(queries, self.channels(queries, qvecs, mode, bm25))):
            weights = f.weights if mode == "hybrid" else {name: 1.0 for name in chans}
            fused = fuse(chans, weights, k + (f.hop_pages if hop else 0),
                         method=f.method if mode == "hybrid" else "score", rrf_k=f.rrf_k)
            if hop:
                fused = rank_in(fused, self.links, bm25[n] if bm25 else self.bm25.scores(query), sources=f.hop_sources,
                                pages=f.hop_pages, rank=f.hop_rank, k=k)
            out.append([Hit(page, score, passage) for page, score, passage in fused])
        return out
