"""The on-disk index: LanceDB tables of pages and embedded passages, a full-text index, a manifest.

    index_dir/manifest.json   embedding model, corpus fingerprint, source, counts, complete flag
    index_dir/lancedb/pages     page_id, title, content, content_sha, title_vector
    index_dir/lancedb/passages  passage_id, page_id, section_id, title, section_name, text, vector
                                (+ a LanceDB native full-text index on `text`)

Building is incremental and resumable: pages are embedded and appended in batches, a page's
row in `pages` is written after its passages, and a re-run skips every page whose row holds
the same content hash. An index built with another embedding model, or for another corpus, is
refused with a message saying what to do (`--update` re-indexes changed pages, `--rebuild`
starts over).
"""

from __future__ import annotations

import hashlib
import json
import logging
import shutil
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from rlsys.corpus.page import Page
from rlsys.corpus.passages import page_passages

if TYPE_CHECKING:
    from rlsys.corpus.config import CorpusConfig
    from rlsys.corpus.embedder import Embedder

log = logging.getLogger(__name__)

MANIFEST = "manifest.json"
DB_DIR = "lancedb"
FORMAT_VERSION = 1


class IndexMismatchError(RuntimeError):
    """The index on disk does not match what was asked for (model, corpus, or it is unfinished)."""


@dataclass
class BuildReport:
    index_dir: Path
    pages_total: int
    pages_indexed: int   # embedded in this run
    pages_skipped: int   # already indexed with the same content
    pages_removed: int
    passages: int
    seconds: float


def source_key(cfg: "CorpusConfig") -> str:
    """A short description of the configured corpus, recorded in (and checked against) the manifest."""
    if cfg.source == "synthetic":
        return f"synthetic:{cfg.synthetic_entities}:seed={cfg.seed}"
    return cfg.source


def content_sha(page: Page) -> str:
    return hashlib.sha256(f"{page.id}\0{page.title}\0{page.content}".encode()).hexdigest()[:20]


def corpus_fingerprint(pages: list[Page], chunk_words: int, chunk_overlap: int) -> str:
    """Hash of every page's id, title and content, and of the chunking settings."""
    h = hashlib.sha256(f"v{FORMAT_VERSION}:{chunk_words}:{chunk_overlap}".encode())
    for sha in sorted(content_sha(p) for p in pages):
        h.update(sha.encode())
    return h.hexdigest()[:24]


def read_manifest(index_dir: str | Path) -> dict | None:
    path = Path(index_dir) / MANIFEST
    if not path.is_file():
        return None
    try:
        return json.loads(path.read_text())
    except json.JSONDecodeError as err:
        raise IndexMismatchError(f"{path} is not valid JSON ({err.msg}); rebuild the index (--rebuild)") from None


def _write_manifest(index_dir: Path, manifest: dict) -> None:
    tmp = index_dir / (MANIFEST + ".tmp")
    tmp.write_text(json.dumps(manifest, indent=2) + "\n")
    tmp.replace(index_dir / MANIFEST)


def check_manifest(index_dir: str | Path, manifest: dict | None, *, embedding_model: str | None = None,
                   source: str | None = None, fingerprint: str | None = None, complete: bool = True) -> dict:
    """Raises `IndexMismatchError` (with what to do) unless the manifest matches what is asked."""
    if manifest is None:
        raise IndexMismatchError(f"no index at {index_dir} (build it: rlsys corpus build --out {index_dir})")
    if manifest.get("format_version") != FORMAT_VERSION:
        raise IndexMismatchError(f"index at {index_dir} has format {manifest.get('format_version')}, "
                                 f"this rlsys reads {FORMAT_VERSION}: rebuild it (--rebuild)")
    if embedding_model is not None and manifest.get("embedding_model") != embedding_model:
        raise IndexMismatchError(
            f"index at {index_dir} was built with embedding model {manifest.get('embedding_model')!r}, "
            f"but {embedding_model!r} was asked for: use that model, build into another directory, "
            f"or rebuild (--rebuild)")
    if source is not None and manifest.get("source") != source:
        raise IndexMismatchError(
            f"index at {index_dir} holds corpus {manifest.get('source')!r}, but {source!r} was asked "
            f"for: point corpus.index_dir elsewhere, or rebuild (--rebuild)")
    if fingerprint is not None and manifest.get("fingerprint") != fingerprint:
        raise IndexMismatchError(
            f"index at {index_dir} was built from other pages (fingerprint {manifest.get('fingerprint')}, "
            f"this corpus is {fingerprint}): pass --update to re-index the changed pages, or --rebuild")
    if complete and not manifest.get("complete"):
        raise IndexMismatchError(f"index at {index_dir} is unfinished (an interrupted build): "
                                 f"re-run the same build to resume it")
    return manifest


def _schemas(dim: int):
    import pyarrow as pa

    pages = pa.schema([("page_id", pa.string()), ("title", pa.string()), ("content", pa.string()),
                       ("content_sha", pa.string()), ("title_vector", pa.list_(pa.float32(), dim))])
    passages = pa.schema([("passage_id", pa.string()), ("page_id", pa.string()), ("section_id", pa.string()),
                          ("title", pa.string()), ("section_name", pa.string()), ("text", pa.string()),
                          ("vector", pa.list_(pa.float32(), dim))])
    return pages, passages


def _open_or_create(db, name: str, schema):
    if name in db.list_tables().tables:
        return db.open_table(name)
    return db.create_table(name, schema=schema)


def _delete_pages(table, page_ids: list[str]) -> None:
    for start in range(0, len(page_ids), 200):
        chunk = page_ids[start : start + 200]
        quoted = ", ".join("'" + p.replace("'", "''") + "'" for p in chunk)
        table.delete(f"page_id IN ({quoted})")


@contextmanager
def _build_lock(index_dir: Path):
    """One builder per index directory at a time (others wait, then find the work done)."""
    import fcntl

    index_dir.parent.mkdir(parents=True, exist_ok=True)
    lock_path = index_dir.parent / f".{index_dir.name}.build-lock"
    with open(lock_path, "w") as fh:
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            log.info("index %s: another process is building it; waiting", index_dir)
            fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def build_index(pages: list[Page], index_dir: str | Path, *, embedder: "Embedder", source: str,
                chunk_words: int = 120, chunk_overlap: int = 20, batch_pages: int = 128,
                update: bool = False, rebuild: bool = False, progress: bool = True) -> BuildReport:
    """Indexes `pages` at `index_dir`, skipping pages already indexed (see the module docstring)."""
    index_dir = Path(index_dir)
    with _build_lock(index_dir):
        return _build_locked(pages, index_dir, embedder=embedder, source=source, chunk_words=chunk_words,
                             chunk_overlap=chunk_overlap, batch_pages=batch_pages, update=update,
                             rebuild=rebuild, progress=progress)


def _build_locked(pages: list[Page], index_dir: Path, *, embedder: "Embedder", source: str, chunk_words: int,
                  chunk_overlap: int, batch_pages: int, update: bool, rebuild: bool, progress: bool) -> BuildReport:
    import lancedb
    import pyarrow as pa

    t0 = time.perf_counter()
    if rebuild and index_dir.exists():
        shutil.rmtree(index_dir)
    index_dir.mkdir(parents=True, exist_ok=True)
    fingerprint = corpus_fingerprint(pages, chunk_words, chunk_overlap)
    old = read_manifest(index_dir)
    if old is not None:
        check_manifest(index_dir, old, embedding_model=embedder.identity,
                       fingerprint=None if update else fingerprint, complete=False)
    manifest = {"format_version": FORMAT_VERSION, "embedding_model": embedder.identity, "dim": embedder.dim,
                "source": source, "fingerprint": fingerprint, "chunk_words": chunk_words,
                "chunk_overlap": chunk_overlap, "pages": len(pages), "complete": False}
    _write_manifest(index_dir, manifest)

    db = lancedb.connect(str(index_dir / DB_DIR))
    page_schema, passage_schema = _schemas(embedder.dim)
    pages_tbl = _open_or_create(db, "pages", page_schema)
    passages_tbl = _open_or_create(db, "passages", passage_schema)

    done = dict(zip(*[pages_tbl.to_arrow().select(["page_id", "content_sha"]).column(c).to_pylist()
                      for c in ("page_id", "content_sha")])) if pages_tbl.count_rows() else {}
    wanted = {p.id: content_sha(p) for p in pages}
    stale = [pid for pid, sha in done.items() if wanted.get(pid) != sha]
    with_passages = set(passages_tbl.to_arrow().select(["page_id"]).column(0).to_pylist()) \
        if passages_tbl.count_rows() else set()
    orphans = sorted(with_passages - (set(done) - set(stale)))  # passages of unfinished or stale pages
    if stale:
        _delete_pages(pages_tbl, stale)
    if orphans:
        _delete_pages(passages_tbl, orphans)
    kept = {pid for pid, sha in done.items() if wanted.get(pid) == sha}
    todo = [p for p in pages if p.id not in kept]
    log.info("index %s: %d pages already indexed, %d to embed, %d removed", index_dir, len(kept), len(todo),
             len([s for s in stale if s not in wanted]))

    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    columns = [TextColumn("indexing pages"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn()]
    with Progress(*columns, disable=not progress or not todo, transient=False) as bar:
        task = bar.add_task("pages", total=len(todo))
        for start in range(0, len(todo), batch_pages):
            batch = todo[start : start + batch_pages]
            passages = [x for p in batch for x in page_passages(p, chunk_words, chunk_overlap)]
            vectors = embedder.encode([x.embed_text() for x in passages] + [p.title for p in batch])
            pvecs, tvecs = vectors[: len(passages)], vectors[len(passages) :]
            if passages:
                passages_tbl.add(pa.table({
                    "passage_id": [x.passage_id for x in passages], "page_id": [x.page_id for x in passages],
                    "section_id": [x.section_id for x in passages], "title": [x.title for x in passages],
                    "section_name": [x.section_name for x in passages], "text": [x.text for x in passages],
                    "vector": pa.FixedSizeListArray.from_arrays(pa.array(pvecs.ravel()), embedder.dim),
                }, schema=passage_schema))
            pages_tbl.add(pa.table({
                "page_id": [p.id for p in batch], "title": [p.title for p in batch],
                "content": [p.content for p in batch], "content_sha": [wanted[p.id] for p in batch],
                "title_vector": pa.FixedSizeListArray.from_arrays(pa.array(tvecs.ravel()), embedder.dim),
            }, schema=page_schema))
            bar.advance(task, len(batch))

    if todo or stale or orphans or not passages_tbl.list_indices():
        from lancedb.index import FTS

        passages_tbl.create_index("text", config=FTS(), replace=True)
        for tbl in (pages_tbl, passages_tbl):
            tbl.optimize()
    n_passages = passages_tbl.count_rows()
    seconds = time.perf_counter() - t0
    manifest.update(complete=True, passages=n_passages, build_seconds=round(seconds, 2), pages_embedded=len(todo),
                    built_at=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()))
    _write_manifest(index_dir, manifest)
    log.info("index %s: %d pages, %d passages, %.1fs", index_dir, len(pages), n_passages, seconds)
    return BuildReport(index_dir, len(pages), len(todo), len(kept), len(stale) - len(set(stale) & set(wanted)),
                       n_passages, seconds)


def ensure_index(cfg: "CorpusConfig", *, progress: bool = False) -> Path:
    """The index at `cfg.index_dir`, built (or an interrupted build resumed) when not complete.

    A complete index is checked (embedding model and source must match the config) without
    loading the corpus; a mismatch raises `IndexMismatchError`.
    """
    from rlsys.corpus.embedder import model_identity, shared_embedder
    from rlsys.corpus.loaders import load_pages

    index_dir = Path(cfg.index_dir)
    manifest = read_manifest(index_dir)
    if manifest is not None:
        check_manifest(index_dir, manifest, embedding_model=model_identity(cfg.embedding_model),
                       source=source_key(cfg), complete=False)
        chunking = (manifest.get("chunk_words"), manifest.get("chunk_overlap"))
        if chunking != (cfg.chunk_words, cfg.chunk_overlap):
            raise IndexMismatchError(
                f"index at {index_dir} was chunked with chunk_words/chunk_overlap={chunking[0]}/{chunking[1]}, "
                f"the config asks for {cfg.chunk_words}/{cfg.chunk_overlap}: rebuild it (--rebuild)")
        if manifest.get("complete"):
            return index_dir
    embedder = shared_embedder(cfg.embedding_model)
    pages = load_pages(cfg.source, synthetic_entities=cfg.synthetic_entities, seed=cfg.seed)
    build_index(pages, index_dir, embedder=embedder, source=source_key(cfg), chunk_words=cfg.chunk_words,
                chunk_overlap=cfg.chunk_overlap, progress=progress)
    return index_dir
