"""`rlsys bench judge` runs end to end at toy size and writes the documented keys (no timings asserted)."""

from __future__ import annotations

import json

import pytest

from rlsys.cli import main

pytestmark = pytest.mark.timeout(300)


def test_bench_judge_writes_its_figures(nano_model_dir, tmp_path):
    out = tmp_path / "judge.json"
    argv = ["bench", "judge", "--json", str(out), "--model", str(nano_model_dir), "--batch", "3",
            "--rule-repeats", "2", "--llm-repeats", "1", "--max-new-tokens", "2"]
    assert main(argv) == 0
    figures = json.loads(out.read_text())
    for key in ("rule_verdicts_per_s", "rule_sentence_verdicts_per_s", "sentence_answer_words_mean", "llm_verdicts_per_s", "http_verdicts_per_s", "http_vs_llm_ratio"):
        assert figures[key] > 0, key
    assert figures["batch"] == 3
