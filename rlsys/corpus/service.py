"""`CorpusService`: search, list sections and read sections of an indexed corpus (Ray-free).

    from rlsys.corpus.service import CorpusService
    from rlsys.corpus.synthetic import generate_synthetic

    svc = CorpusService.from_config(cfg.corpus)       # builds the index first if missing
    svc = CorpusService.open("artifacts/index/synthetic-300")
    svc.search_pages("Who founded Zanness?", k=10)    # [{page_id, title, score, snippet}, ...]
    svc.view_sections("zanness")                      # [{section_id, section_name, level}, ...]
    svc.read_section("zanness:history")               # the section's markdown text
    svc.call_tool("read_section", {"section_id": "zanness:full"})   # the sandbox's ToolFn

Batch forms (`search_pages_batch` embeds all queries in one forward pass, `view_sections_batch`,
`read_section_batch`) serve the Ray `CorpusActor`. Unknown ids are not exceptions: `view_sections`
and `read_section` return a short `Error: …` string naming close matches, and `call_tool` never
raises (see `tool_calls.py`). To test against a small corpus:

    from rlsys.corpus.config import CorpusConfig
    cfg = CorpusConfig(synthetic_entities=40, index_dir=str(tmp_path / "index"))
    svc = CorpusService.from_config(cfg)              # ~20 s to embed 40 pages on 2 busy cores
    pages, questions = generate_synthetic(40, seed=cfg.seed)   # the same pages, with questions
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from rlsys.corpus import tool_calls
from rlsys.corpus.index import DB_DIR, check_manifest, read_manifest, source_key
from rlsys.corpus.page import Page, first_paragraph
from rlsys.corpus.retrieval import MODES, Fusion, PageRetriever, title_aliases
from rlsys.corpus.second_hop import LinkGraph

if TYPE_CHECKING:
    from rlsys.corpus.config import CorpusConfig
    from rlsys.corpus.embedder import Embedder

log = logging.getLogger(__name__)


class CorpusService:
    """An opened index: pages and sections in memory, retrieval per `search_mode`."""

    def __init__(self, *, pages: list[Page], retriever: PageRetriever, embedder: "Embedder | None",
                 manifest: dict, index_dir: Path, search_mode: str = "hybrid", top_k: int = 10,
                 snippet_chars: int = 100):
        if search_mode not in MODES:
            raise ValueError(f"unknown search mode {search_mode!r} (one of {', '.join(MODES)})")
        self.pages = pages
        self._by_id = {p.id: i for i, p in enumerate(pages)}
        self._sorted_ids = sorted(self._by_id)
        self.retriever = retriever
        self.embedder = embedder
        self.manifest = manifest
        self.index_dir = index_dir
        self.search_mode = search_mode
        self.top_k = top_k
        self.snippet_chars = snippet_chars

    # -- opening ---------------------------------------------------------------------------------
    @classmethod
    def open(cls, index_dir: str | Path, *, embedding_model: str | None = None, source: str | None = None,
             search_mode: str = "hybrid", top_k: int = 10, snippet_chars: int = 100, backend: str = "memory",
             fusion: Fusion | None = None, embedder: "Embedder | None" = None) -> "CorpusService":
        """Opens a complete index; `embedding_model`/`source` (when given) must match its manifest."""
        import lancedb

        from rlsys.corpus.embedder import model_identity, shared_embedder

        os.environ.setdefault("OMP_NUM_THREADS", "1")
        index_dir = Path(index_dir)
        manifest = read_manifest(index_dir)
        check_manifest(index_dir, manifest, source=source,
                       embedding_model=model_identity(embedding_model) if embedding_model else None)
        model_name = manifest["embedding_model"].split("@", 1)[0]
        if embedder is None:
            embedder = shared_embedder(embedding_model or model_name)
        elif embedder.identity != manifest["embedding_model"]:
            check_manifest(index_dir, manifest, embedding_model=embedder.identity)
        db = lancedb.connect(str(index_dir / DB_DIR))
        page_tbl = db.open_table("pages").to_arrow()
        passage_lance = db.open_table("passages")
        passage_tbl = passage_lance.to_arrow().select(["passage_id", "page_id", "section_name", "text", "vector"])
        dim = int(manifest["dim"])
        pages = [Page(id=i, title=t, content=c) for i, t, c in zip(
            page_tbl.column("page_id").to_pylist(), page_tbl.column("title").to_pylist(),
            page_tbl.column("content").to_pylist())]
        index_of = {p.id: n for n, p in enumerate(pages)}
        title_vectors = _matrix(page_tbl.column("title_vector"), dim)
        passage_texts = passage_tbl.column("text").to_pylist()
        passage_page = np.asarray([index_of[p] for p in passage_tbl.column("page_id").to_pylist()], dtype=np.int64)
        retriever = PageRetriever(
            page_titles=[p.title for p in pages], title_vectors=title_vectors, passage_page=passage_page,
            passage_ids=passage_tbl.column("passage_id").to_pylist(),
            passage_texts=passage_texts,
            passage_vectors=_matrix(passage_tbl.column("vector"), dim), fusion=fusion or Fusion(),
            lance_passages=passage_lance if backend == "lancedb" else None,
            page_aliases=[title_aliases(p.title, _heading(p.content)) for p in pages],
            passage_sections=passage_tbl.column("section_name").to_pylist(),
            links=LinkGraph([p.id for p in pages], [p.title for p in pages], [p.content for p in pages],
                            passage_page, passage_texts) if (fusion or Fusion()).hop_pages > 0 else None)
        if backend not in ("memory", "lancedb"):
            raise ValueError(f"unknown corpus backend {backend!r} (memory or lancedb)")
        log.info("opened corpus index %s: %d pages, %d passages (%s backend)", index_dir, len(pages),
                 len(passage_page), backend)
        return cls(pages=pages, retriever=retriever, embedder=embedder, manifest=manifest, index_dir=index_dir,
                   search_mode=search_mode, top_k=top_k, snippet_chars=snippet_chars)

    @classmethod
    def from_config(cls, cfg: "CorpusConfig", *, build: bool = True) -> "CorpusService":
        """The service of `cfg` (a `CorpusConfig`); builds the index at `cfg.index_dir` first if `build`."""
        from rlsys.corpus.index import ensure_index

        if build:
            ensure_index(cfg)
        from rlsys.corpus.embedder import shared_embedder

        fusion = Fusion(method=cfg.fusion, candidates=cfg.candidates, rrf_k=cfg.rrf_k, vector_probe=cfg.vector_probe,
                        vector_exact_below=cfg.vector_exact_below, title_idf_full=cfg.title_idf_full, vector_weight=cfg.vector_weight,
                        fulltext_weight=cfg.fulltext_weight, title_weight=cfg.title_weight,
                        title_vector_weight=cfg.title_vector_weight, hop_pages=cfg.hop_pages,
                        hop_sources=cfg.hop_sources, hop_rank=cfg.hop_rank)
        embedder = shared_embedder(cfg.embedding_model, cache_size=cfg.query_cache_size, runtime=cfg.embedding_runtime,
                                   query_threads=cfg.query_threads)
        return cls.open(cfg.index_dir, embedding_model=cfg.embedding_model, source=source_key(cfg),
                        search_mode=cfg.search_mode, top_k=cfg.top_k, snippet_chars=cfg.snippet_chars,
                        backend=cfg.backend, fusion=fusion, embedder=embedder)

    # -- lookups ---------------------------------------------------------------------------------
    def has_page(self, page_id: str) -> bool:
        return page_id in self._by_id

    def page_ids(self) -> list[str]:
        return self._sorted_ids

    def page(self, page_id: str) -> Page | None:
        i = self._by_id.get(page_id)
        return None if i is None else self.pages[i]

    # -- the three tools -------------------------------------------------------------------------
    def search_pages(self, query: str, k: int | None = None, mode: str | None = None) -> list[dict]:
        """Top-k pages for `query`: `{page_id, title, score, snippet}` best first."""
        return self.search_pages_batch([query], k=k, mode=mode)[0]

    def search_pages_batch(self, queries: list[str], k: int | None = None, mode: str | None = None) -> list[list[dict]]:
        """`search_pages` for many queries; their embeddings are computed in one forward pass."""
        if not isinstance(queries, (list, tuple)) or not all(isinstance(q, str) for q in queries):
            raise TypeError("search_pages_batch needs a list of strings")
        mode = mode or self.search_mode
        k = self.top_k if k is None else int(k)
        if not queries:
            return []
        qvecs = self.embedder.encode_queries(list(queries)) if mode != "fulltext" else None
        hits = self.retriever.search(list(queries), qvecs, k, mode)
        return [[self._result(h) for h in row] for row in hits]

    def _result(self, hit) -> dict:
        page = self.pages[hit.page]
        out: dict[str, Any] = {"page_id": page.id, "title": page.title, "score": round(float(hit.score), 4)}
        if self.snippet_chars > 0:
            text = self.retriever.passage_texts[hit.passage] if hit.passage >= 0 else first_paragraph(page.content)
            out["snippet"] = text if len(text) <= self.snippet_chars else text[: self.snippet_chars - 1].rstrip() + "…"
        return out

    def view_sections(self, page_id: str) -> list[dict] | str:
        """`[{section_id, section_name, level}]` in document order, or an `Error: …` string."""
        page = self.page(page_id)
        if page is None:
            return tool_calls.unknown_page_error(self, page_id)
        return [s.to_view() for s in page.sections]

    def view_sections_batch(self, page_ids: list[str]) -> list[list[dict] | str]:
        return [self.view_sections(p) for p in page_ids]

    def read_section(self, section_id: str) -> str:
        """The section's text (`<page_id>:full` is the whole page), or an `Error: …` string."""
        page = self.page(section_id.split(":", 1)[0]) if ":" in section_id else None
        text = page.read(section_id) if page is not None else None
        return text if text is not None else tool_calls.unknown_section_error(self, section_id)

    def read_section_batch(self, section_ids: list[str]) -> list[str]:
        return [self.read_section(s) for s in section_ids]

    def call_tool(self, name: str, args: dict[str, Any]) -> Any:
        """The sandbox's `ToolFn`: runs one tool; bad input gives an `Error: …` string, never an exception."""
        return tool_calls.dispatch(self, name, args)


def _heading(content: str) -> str | None:
    """The page's `# Title` line, if its first non-blank line is one."""
    first = content.lstrip().split("\n", 1)[0]
    return (first[2:].strip() or None) if first.startswith("# ") else None


def _matrix(column, dim: int) -> np.ndarray:
    """A LanceDB fixed-size-list vector column as a contiguous (n, dim) float32 array."""
    import pyarrow as pa

    arr = column.combine_chunks() if isinstance(column, pa.ChunkedArray) else column
    if len(arr) == 0:
        return np.zeros((0, dim), dtype=np.float32)
    return np.ascontiguousarray(arr.flatten().to_numpy(zero_copy_only=False).reshape(len(arr), dim), dtype=np.float32)
