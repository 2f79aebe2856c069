"""The report's search columns: "missed then recovered" and "missed and never retried", by hand."""

from __future__ import annotations

import json

import pytest

from rlsys.judge.types import Category, Verdict
from rlsys.report import SEARCH_CLASSES, classify_failure, search_class, summarise_eval, write_eval, write_report
from rlsys.rollout.types import EndReason, Question, Trajectory, Turn
from rlsys.sandbox.types import ExecResult, ExecStatus

Q = Question(id="q1", question="What colour is the Zorvian moth?", answer="Pale Amber")
CODE = 'print(search_pages("Zorvian moth"))'


def traj(turns, answer=None, end=EndReason.ANSWERED):
    return Trajectory(episode_id="e", question=Q, token_ids=[1, 2], loss_mask=[0, 1], behaviour_logprobs=[0.0, -1.0],
                      prompt_len=1, turns=turns, answer=answer, end_reason=end)


def cell(stdout="", status=ExecStatus.OK, tool_outputs=("x",), error=None):
    result = ExecResult(stdout=stdout, error=error, status=status, tool_calls=len(tool_outputs),
                        tool_outputs=list(tool_outputs))
    return Turn(text=f"<python>{CODE}</python>", cell=CODE, result=result)


def answer(text):
    return Turn(text=f"<answer>{text}</answer>")


CORRECT, WRONG, GAVE_UP = Verdict(Category.CORRECT, 80), Verdict(Category.INCORRECT, 30), Verdict(Category.GAVE_UP, 10)
HIT = cell("Wings: pale amber", tool_outputs=("The moth's wings are pale amber.",))
# name: (trajectory, verdict, search class, failure class)
CASES = {
    "empty search, then found": (traj([cell("[]", tool_outputs=("[]",)), HIT, answer("Pale amber")], "Pale amber"),
                                 CORRECT, "missed_then_recovered", "correct"),
    "raised, answered anyway": (traj([cell(status=ExecStatus.ERROR, error="KeyError: 'id'"), answer("Blue")], "Blue"),
                                WRONG, "missed_never_retried", "wrong_answer_never_found"),
    "said not found, gave up": (traj([cell("not found"), answer("Answer not found")], "Answer not found"),
                                GAVE_UP, "missed_never_retried", "gave_up"),
    "retried, still wrong": (traj([cell(""), cell("Habitat: caves"), answer("Grey")], "Grey"),
                             WRONG, None, "wrong_answer_never_found"),
    "first search hit": (traj([HIT, answer("Pale amber")], "Pale amber"), CORRECT, None, "correct"),
    "lucky guess": (traj([answer("Pale amber")], "Pale amber"), CORRECT, None, "correct"),
    "infra error": (traj([cell(status=ExecStatus.INFRA_ERROR, tool_outputs=())], None, EndReason.INFRA_ERROR),
                    WRONG, None, "infra_error"),
    "judge error": (traj([cell("[]", tool_outputs=("[]",)), HIT, answer("Pale amber")], "Pale amber"),
                    Verdict(Category.JUDGE_ERROR), None, "infra_error"),
}


@pytest.mark.parametrize("name", list(CASES))
def test_search_classes_next_to_the_failure_classes(name):
    t, v, expected, failure = CASES[name]
    assert search_class(t, v) == expected
    assert classify_failure(t, v) == failure  # the existing classes are unchanged


def test_summary_and_report_columns(tmp_path):
    trajs = [c[0] for c in CASES.values()]
    verdicts = [c[1] for c in CASES.values()]
    s = summarise_eval(trajs, verdicts)
    assert s["scored"] == 6
    assert s["search"] == {"missed_then_recovered": 1, "missed_never_retried": 2}
    assert s["search_share"] == pytest.approx({"missed_then_recovered": 1 / 6, "missed_never_retried": 2 / 6})
    assert set(s["search"]) == set(SEARCH_CLASSES)
    write_eval(tmp_path, "rl", trajs, verdicts, step=3)
    rows = json.loads((tmp_path / "eval" / "rl.json").read_text())["episodes"]
    assert [r["search"] for r in rows] == [c[2] for c in CASES.values()]
    # an eval file written before these columns existed shows n/a
    old = json.loads((tmp_path / "eval" / "rl.json").read_text())
    old.update(stage="base", label="base", step=None)
    del old["summary"]["search"], old["summary"]["search_share"]
    (tmp_path / "eval" / "base.json").write_text(json.dumps(old))
    lines = [line for line in write_report(tmp_path).read_text().splitlines() if line.startswith("| ")]
    head = [c.strip() for c in lines[0].split("|")[1:-1]]
    assert head[-2:] == ["missed, recovered", "missed, no retry"]
    by_model = {line.split("|")[1].strip(): [c.strip() for c in line.split("|")[1:-1]] for line in lines[1:]}
    assert by_model["SFT+RL"][-2:] == ["16.7%", "33.3%"]
    assert by_model["base"][-2:] == ["n/a", "n/a"]
