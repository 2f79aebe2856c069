"""`rlsys corpus` subcommands end to end on the session index."""

from __future__ import annotations

import json

from rlsys.cli import main


def test_search_show_and_errors(corpus_cfg, synthetic_set, capsys):
    pages, questions = synthetic_set
    assert main(["corpus", "search", "--index", corpus_cfg.index_dir, questions[0].question, "-k", "3"]) == 0
    results = json.loads(capsys.readouterr().out)
    assert len(results) == 3 and results[0]["page_id"] == questions[0].page_id

    assert main(["corpus", "show", "--index", corpus_cfg.index_dir, pages[0].id]) == 0
    sections = json.loads(capsys.readouterr().out)
    assert sections[0]["section_id"] == pages[0].sections[0].section_id

    assert main(["corpus", "show", "--index", corpus_cfg.index_dir, questions[0].section_id]) == 0
    assert questions[0].answer in capsys.readouterr().out

    assert main(["corpus", "show", "--index", corpus_cfg.index_dir, "no_such_page"]) == 1
    assert "unknown page_id" in capsys.readouterr().err


def test_build_errors_are_messages_not_tracebacks(tmp_path, capsys):
    assert main(["corpus", "build", "--source", "hf:willcb/rare-wiki-pages", "--out", str(tmp_path / "i")]) == 2
    err = capsys.readouterr().err
    assert "willcb/rare-wiki-pages" in err and "Traceback" not in err
    assert main(["corpus", "search", "--index", str(tmp_path / "none"), "x"]) == 2
    assert "no index" in capsys.readouterr().err


def test_questions_command(tmp_path, capsys):
    out = tmp_path / "q.jsonl"
    assert main(["corpus", "questions", "--source", "synthetic", "--entities", "5", "--out", str(out)]) == 0
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert rows and {"id", "question", "answer", "page_id", "section_id", "split"} <= set(rows[0])
