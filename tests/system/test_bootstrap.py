"""Paired bootstrap intervals of the report against scipy's bootstrap and hand-made cases."""

from __future__ import annotations

import json

import numpy as np
import pytest
from scipy import stats

from rlsys.report.bootstrap import paired_bootstrap, per_question_scores
from rlsys.report.markdown import row_differences, write_report


def test_per_question_scores_average_samples_and_count_infra_errors_as_not_correct():
    rows = [{"question_id": "a", "class": "correct"}, {"question_id": "a", "class": "gave_up"},
            {"question_id": "b", "class": "infra_error"}, {"question_id": "b", "class": "correct"},
            {"question_id": "c", "class": "wrong_answer_never_found"}]
    assert per_question_scores(rows) == {"a": 0.5, "b": 0.5, "c": 0.0}


def test_interval_matches_scipy_percentile_bootstrap():
    rng = np.random.default_rng(3)
    a = {f"q{i}": float(rng.random() < 0.3) for i in range(300)}
    b = {q: float(rng.random() < (0.8 if v else 0.35)) for q, v in a.items()}
    ours = paired_bootstrap(a, b, resamples=4000, seed=1)
    diffs = np.array([b[q] - a[q] for q in sorted(a)])
    ref = stats.bootstrap((diffs,), np.mean, n_resamples=4000, method="percentile", random_state=7).confidence_interval
    assert ours["diff"] == pytest.approx(diffs.mean())
    assert ours["low"] == pytest.approx(ref.low, abs=0.01) and ours["high"] == pytest.approx(ref.high, abs=0.01)
    assert ours["questions"] == 300
    assert paired_bootstrap(a, b, resamples=4000, seed=1) == ours  # seeded: the same interval again


def test_identical_and_opposite_evaluations():
    same = {f"q{i}": float(i % 3 == 0) for i in range(50)}
    r = paired_bootstrap(same, same)
    assert (r["diff"], r["low"], r["high"], r["excludes_zero"]) == (0.0, 0.0, 0.0, False)
    r = paired_bootstrap({q: 0.0 for q in same}, {q: 1.0 for q in same})
    assert (r["diff"], r["low"], r["high"], r["excludes_zero"]) == (1.0, 1.0, 1.0, True)
    # only shared questions are paired
    assert paired_bootstrap({"x": 1.0}, {"y": 0.0})["questions"] == 0
    with pytest.raises(ValueError, match="resamples"):
        paired_bootstrap(same, same, resamples=0)


def _eval_file(run_dir, stage, correct_ids, n=40):
    episodes = [{"question_id": f"q{i}", "class": "correct" if i in correct_ids else "gave_up"} for i in range(n)]
    summary = {"accuracy": len(correct_ids) / n, "answered_rate": 1.0, "mean_turns": 1.0, "mean_tool_calls": 1.0,
               "taxonomy_share": {}, "scored": n}
    (run_dir / "eval").mkdir(exist_ok=True)
    (run_dir / "eval" / f"{stage}.json").write_text(json.dumps({"stage": stage, "summary": summary, "episodes": episodes}))


def test_report_shows_row_differences_with_intervals(tmp_path):
    _eval_file(tmp_path, "base", set())
    _eval_file(tmp_path, "sft", set(range(10)))
    _eval_file(tmp_path, "rl", set(range(10)) | {30})
    out = write_report(tmp_path).read_text()
    assert "| SFT − base | sampled | 40 | +25.0 |" in out
    assert "| SFT+RL − SFT | sampled | 40 | +2.5 | [+0.0, +7.5] | no |" in out
    data = json.loads((tmp_path / "report.json").read_text())
    assert [(d["before"], d["after"]) for d in data["differences"]] == [("base", "sft"), ("sft", "rl"), ("base", "rl")]
    assert data["differences"][0]["excludes_zero"] is True
    assert row_differences([]) == []
