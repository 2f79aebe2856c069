"""Loaders: synthetic, local JSONL/JSON/parquet, the hub (which fails fast and clearly here)."""

from __future__ import annotations

import json
import time

import pytest

from rlsys.corpus.config import CorpusConfig
from rlsys.corpus.loaders import CorpusSourceError, load_pages, load_questions, questions_source_for


def test_synthetic_source_and_config_form():
    cfg = CorpusConfig(synthetic_entities=12, seed=2)
    pages = load_pages("synthetic", synthetic_entities=12, seed=2)
    assert [p.id for p in pages] == [p.id for p in load_pages(cfg)]
    questions = load_questions(cfg)
    assert questions and all(q.page_id in {p.id for p in pages} for q in questions)


def test_real_pages_jsonl(shared_data):
    pages = load_pages(str(shared_data / "rare-wiki-partial" / "pages_partial.jsonl"))
    assert len(pages) == 170
    page = next(p for p in pages if p.id == "accenture")
    assert page.title == "Accenture" and page.content.startswith("#")
    assert page.meta.get("complete") is False


def test_wiki_trivia_questions_with_split_and_gold_page(shared_data):
    questions = load_questions(str(shared_data / "wiki-trivia-v4" / "questions.jsonl"))
    assert len(questions) == 478
    assert [q.split for q in questions].count("test") == 96
    assert all(q.split == "train" for q in questions[:382]) and all(q.split == "test" for q in questions[382:])
    assert questions[0].id == "v4-0000" and questions[0].page_id == "fallout_76"
    assert sum(q.page_id is not None for q in questions) == 370


def test_parquet_and_json_roundtrip(tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    rows = [{"title": "Alpha Beta", "content": "# Alpha Beta\n\n## History\n\nOld.\n"},
            {"id": "gamma", "title": "Gamma", "content": "# Gamma\n\ntext\n"}]
    pq.write_table(pa.Table.from_pylist(rows), tmp_path / "pages.parquet")
    (tmp_path / "pages.json").write_text(json.dumps(rows))
    for name in ("pages.parquet", "pages.json"):
        pages = load_pages(str(tmp_path / name))
        assert [p.id for p in pages] == ["alpha_beta", "gamma"]  # id from the title where missing
        assert pages[0].read("alpha_beta:history").endswith("Old.\n")
    qrows = [{"question": "Q?", "answer": 1917, "filename": "Alpha Beta.md"}]
    (tmp_path / "q.jsonl").write_text("\n".join(json.dumps(r) for r in qrows) + "\n")
    (question,) = load_questions(str(tmp_path / "q.jsonl"))
    assert question.answer == "1917" and question.page_id == "alpha_beta" and question.split in ("train", "test")


def test_bad_local_sources_name_the_problem(tmp_path):
    with pytest.raises(CorpusSourceError, match="neither"):
        load_pages(str(tmp_path / "missing.jsonl"))
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"title": "A", "content": "x"}\nnot json\n')
    with pytest.raises(CorpusSourceError, match=r"bad.jsonl:2: not valid JSON"):
        load_pages(str(bad))
    dup = tmp_path / "dup.jsonl"
    dup.write_text('{"title": "A", "content": "x"}\n{"title": "a", "content": "y"}\n')
    with pytest.raises(CorpusSourceError, match="duplicate page id 'a'"):
        load_pages(str(dup))
    noq = tmp_path / "noq.jsonl"
    noq.write_text('{"prompt": "x"}\n')
    with pytest.raises(CorpusSourceError, match="needs `question` and `answer`"):
        load_questions(str(noq))


@pytest.mark.parametrize("dataset", ["willcb/rare-wiki-pages", "willcb/wiki-trivia-questions-v4"])
def test_hub_unreachable_fails_fast_with_a_clear_message(dataset, monkeypatch):
    from rlsys.corpus.loaders import _hub_reachable

    if _hub_reachable():
        pytest.skip("the hub is reachable from this machine: the offline failure path cannot be exercised")
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)  # go through the real reachability probe
    loader = load_pages if "pages" in dataset else load_questions
    start = time.monotonic()
    with pytest.raises(CorpusSourceError) as info:
        loader(f"hf:{dataset}")
    assert time.monotonic() - start < 60
    message = str(info.value)
    assert dataset in message and "local" in message and "synthetic" in message
    assert "Traceback" not in message


def test_hf_source_needs_owner_and_name():
    with pytest.raises(CorpusSourceError, match="hf:<owner>/<name>"):
        load_pages("hf:")


def test_questions_source_for():
    assert questions_source_for("synthetic") == "synthetic"
    assert questions_source_for("hf:willcb/rare-wiki-pages") == "hf:willcb/wiki-trivia-questions-v4"
    assert questions_source_for("synthetic", "/q.jsonl") == "/q.jsonl"


def test_user_ids_are_kept_and_title_entities_decoded(tmp_path):
    rows = [{"id": "Page-7", "title": "AT&amp;T", "content": "# AT&T\n\ntext\n"},
            {"id": 0, "title": "Zero", "content": "# Zero\n\nnone\n"},
            {"title": "Command &amp; Conquer", "content": "# Command & Conquer\n\ngame\n"}]
    (tmp_path / "p.jsonl").write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    pages = load_pages(str(tmp_path / "p.jsonl"))
    assert [p.id for p in pages] == ["Page-7", "0", "command_&_conquer"]  # as given / the dataset's rule
    assert [p.title for p in pages] == ["AT&T", "Zero", "Command & Conquer"]
