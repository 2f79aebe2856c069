"""`rlsys bench corpus` on page/question files: its keys, real_pages and the actor under load."""

from __future__ import annotations

import argparse

from rlsys.bench import corpus as bench


def test_bench_on_real_page_files(real_service, shared_data, tmp_path, monkeypatch):
    monkeypatch.setenv("RLSYS_ARTIFACTS", str(tmp_path))
    parser = argparse.ArgumentParser()
    bench.add_arguments(parser)
    args = parser.parse_args([
        "--source", str(shared_data / "rare-wiki-partial" / "pages_partial.jsonl"),
        "--questions", str(shared_data / "wiki-trivia-v4" / "questions.jsonl"),
        "--index", str(real_service.index_dir), "--reuse", "--queries", "20", "--batch", "8",
        "--actor-callers", "4"])
    out = bench.run(args)
    for key in ("search_p50_ms", "search_p99_ms", "batched_qps", "recall_at_5", "real_pages", "multihop"):
        assert key in out
    assert out["build_reused"] and out["pages"] == 170
    real = out["real_pages"]
    assert real["questions"] == 165 and set(real["recall_at_1"]) == {"hybrid", "vector", "fulltext", "title"}
    assert real["recall_at_5"]["hybrid"] == out["recall_at_5"]["hybrid"]
    assert out["multihop"] is None  # two-hop questions exist for the synthetic corpus only
    load = out["actor_under_load"]
    assert load["searches"] >= 20 and load["callers"] == 4 and load["max_batch"] >= 1
