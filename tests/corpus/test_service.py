"""CorpusService on a small synthetic index: search quality per mode, sections, batch forms, tool errors."""

from __future__ import annotations

import json

import pytest

from rlsys.corpus.service import CorpusService


def _recall(service, questions, k, mode):
    results = service.search_pages_batch([q.question for q in questions], k=k, mode=mode)
    return sum(q.page_id in [r["page_id"] for r in res] for q, res in zip(questions, results)) / len(questions)


def test_hybrid_recall_is_high_and_beats_title_only(service, synthetic_set):
    _, questions = synthetic_set
    hybrid5 = _recall(service, questions, 5, "hybrid")
    title5 = _recall(service, questions, 5, "title")
    assert hybrid5 >= 0.9, hybrid5
    assert hybrid5 > title5, (hybrid5, title5)
    # "Which X has Y as its mayor?" questions name no title: only content can find them.
    identity = [q for q in questions if q.id.endswith("-identity")]
    assert identity and _recall(service, identity, 5, "hybrid") > _recall(service, identity, 5, "title")
    assert _recall(service, questions, 1, "hybrid") >= _recall(service, questions, 1, "vector")


def test_near_duplicate_titles_are_told_apart(service, synthetic_set):
    pages, questions = synthetic_set
    titles = {p.title for p in pages}
    tricky = [q for q in questions
              if any(t != q_title and (t in q_title or q_title in t) for q_title in [_title(pages, q)] for t in titles)]
    assert tricky, "the synthetic set should contain near-duplicate names"
    assert _recall(service, tricky, 1, "hybrid") >= 0.85


def _title(pages, question):
    return next(p.title for p in pages if p.id == question.page_id)


def test_result_shape(service, synthetic_set):
    _, questions = synthetic_set
    results = service.search_pages(questions[0].question)
    assert len(results) == service.top_k == 10
    assert set(results[0]) == {"page_id", "title", "score", "snippet"}
    assert [r["score"] for r in results] == sorted((r["score"] for r in results), reverse=True)
    assert len(results[0]["snippet"]) <= service.snippet_chars
    json.dumps(results)  # what crosses to the sandbox must be JSON
    assert len(service.search_pages(questions[0].question, k=3)) == 3
    for mode in ("vector", "fulltext", "title"):
        assert service.search_pages(questions[0].question, k=4, mode=mode)


def test_batch_forms_equal_single_calls(service, synthetic_set):
    pages, questions = synthetic_set
    queries = [q.question for q in questions[:6]]
    assert service.search_pages_batch(queries, k=5) == [service.search_pages(q, k=5) for q in queries]
    ids = [p.id for p in pages[:4]]
    assert service.view_sections_batch(ids) == [service.view_sections(i) for i in ids]
    sids = [q.section_id for q in questions[:4]]
    assert service.read_section_batch(sids) == [service.read_section(s) for s in sids]


def test_sections_match_the_page_model(service, synthetic_set):
    pages, questions = synthetic_set
    page = pages[0]
    views = service.view_sections(page.id)
    assert views == [s.to_view() for s in page.sections]
    assert all(set(v) == {"section_id", "section_name", "level"} for v in views)
    assert service.read_section(f"{page.id}:full") == page.content
    for q in questions[:20]:
        assert q.answer in service.read_section(q.section_id)


def test_call_tool_answers_and_never_raises(service, synthetic_set):
    pages, questions = synthetic_set
    page = pages[0]
    assert service.call_tool("search_pages", {"query": questions[0].question})[0]["page_id"]
    assert service.call_tool("view_sections", {"page_id": page.id}) == service.view_sections(page.id)
    assert service.call_tool("read_section", {"section_id": questions[0].section_id}).startswith("#")
    assert service.call_tool("read_section", {"args": [questions[0].section_id]}).startswith("#")  # positional

    def err(name, args):
        out = service.call_tool(name, args)
        assert isinstance(out, str) and out.startswith("Error: ") and "\n" not in out and len(out) < 400, out
        return out

    assert "available tools: search_pages, view_sections, read_section" in err("open_page", {"page_id": page.id})
    assert "needs a string" in err("view_sections", {"page_id": 42})
    assert "needs a string" in err("search_pages", {"query": ["a", "b"]})
    assert "empty" in err("search_pages", {"query": "  "})
    assert "positive integer" in err("search_pages", {"query": "x", "k": -1})
    assert "needs the argument" in err("read_section", {})
    assert f"Did you mean: {page.id!r}" in err("view_sections", {"page_id": page.id[:-1]})
    section = page.sections[1].section_id
    assert repr(section) in err("read_section", {"section_id": section[:-2]})
    assert "is a page id" in err("read_section", {"section_id": page.id})
    assert "is a section id" in err("view_sections", {"page_id": section})
    assert "unknown section_id" in err("read_section", {"section_id": "no_such_page:history"})
    assert "too long" in err("read_section", {"section_id": "x" * 1000})
    err(None, None)
    err("view_sections", "not a dict")


@pytest.mark.parametrize("backend", ["lancedb"])
def test_lancedb_backend_agrees(corpus_cfg, synthetic_set, backend):
    _, questions = synthetic_set
    svc = CorpusService.from_config(corpus_cfg.model_copy(update={"backend": backend}), build=False)
    assert svc.retriever.lance_passages is not None
    assert _recall(svc, questions[:120], 5, "hybrid") >= 0.9
    assert _recall(svc, questions[:120], 10, "fulltext") >= 0.8
