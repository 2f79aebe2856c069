"""Failure taxonomy on hand-built trajectories, eval summaries, and `rlsys report` end to end."""

from __future__ import annotations

import json
import struct

import pytest

from rlsys.cli import main as rlsys_main
from rlsys.judge.types import Category, Verdict
from rlsys.metrics import MetricsWriter
from rlsys.report import (
    FAILURE_CLASSES,
    EvalFileError,
    ReportError,
    classify_failure,
    load_eval,
    summarise_eval,
    write_eval,
    write_report,
)
from rlsys.rollout.types import EndReason, Question, Trajectory, Turn
from rlsys.sandbox.types import ExecResult, ExecStatus

Q = Question(id="q1", question="What colour is the Zorvian moth?", answer="Pale Amber")
SEARCH = 'print(search_pages("Zorvian moth"))'


def traj(turns, answer=None, end=EndReason.ANSWERED, failure=None, reward=None, question=Q):
    return Trajectory(
        episode_id="e", question=question, token_ids=[1, 2], loss_mask=[0, 1], behaviour_logprobs=[0.0, -1.0],
        prompt_len=1, turns=turns, answer=answer, end_reason=end, failure=failure, reward=reward,
    )


def cell(stdout="", status=ExecStatus.OK, tool_calls=1, error=None, tool_outputs=None, code=SEARCH):
    result = ExecResult(stdout=stdout, error=error, status=status, tool_calls=tool_calls, tool_outputs=tool_outputs or [])
    return Turn(text=f"<python>{code}</python>", cell=code, result=result)


def answer_turn(text):
    return Turn(text=f"<answer>{text}</answer>")


WRONG = Verdict(Category.INCORRECT, approach=30)
CASES = {
    "correct": (traj([cell("moth: pale amber wings"), answer_turn("Pale amber")], "Pale amber"),
                Verdict(Category.CORRECT, approach=90)),
    "no_cell": (traj([answer_turn("Blue")], "Blue"), WRONG),
    "bad_function": (traj([cell(status=ExecStatus.ERROR, tool_calls=0, error="NameError: name 'search' is not defined",
                                code='search("moth")'), answer_turn("Blue")], "Blue"), WRONG),
    "prose_only": (traj([Turn(text="I think the moth is blue."), Turn(text="Still thinking.")], None,
                        EndReason.MAX_TURNS), Verdict(Category.GAVE_UP, approach=0)),
    "silent": (traj([cell(""), cell("", code='x = read_section("zorvian_moth:appearance")'), answer_turn("Blue")],
                    "Blue"), WRONG),
    "gave_up_explicit": (traj([cell("[{'page_id': 'zorvian_moth'}]"), answer_turn("I don't know")], "I don't know"),
                         Verdict(Category.GAVE_UP, approach=40)),
    "out_of_turns": (traj([cell("[{'page_id': 'zorvian_moth'}]"), cell("Habitat: caves")], None, EndReason.MAX_TURNS),
                     Verdict(Category.INCORRECT, approach=20)),
    "gold_printed": (traj([cell("Wings: pale amber, Habitat: caves"), answer_turn("Caves")], "Caves"), WRONG),
    "gold_in_tool_output": (traj([cell("3 results", tool_outputs=["...wings are PALE-AMBER in colour..."]),
                                  answer_turn("Grey")], "Grey"), WRONG),
    "never_found": (traj([cell("Habitat: caves"), answer_turn("Grey")], "Grey"), WRONG),
    "infra_sandbox": (traj([cell(status=ExecStatus.INFRA_ERROR, tool_calls=0)], None, EndReason.INFRA_ERROR), WRONG),
    "judge_error": (traj([cell("Wings: pale amber"), answer_turn("Pale amber")], "Pale amber"),
                    Verdict(Category.JUDGE_ERROR)),
}
EXPECTED = {
    "correct": "correct", "no_cell": "interface_misuse", "bad_function": "interface_misuse",
    "prose_only": "interface_misuse", "silent": "silent_execution", "gave_up_explicit": "gave_up",
    "out_of_turns": "gave_up", "gold_printed": "wrong_answer_gold_visible",
    "gold_in_tool_output": "wrong_answer_gold_visible", "never_found": "wrong_answer_never_found",
    "infra_sandbox": "infra_error", "judge_error": "infra_error",
}


@pytest.mark.parametrize("name", list(CASES))
def test_taxonomy(name):
    assert classify_failure(*CASES[name]) == EXPECTED[name]


def test_gold_must_match_whole_words():
    short = Question(id="q2", question="How many legs?", answer="6")
    t = traj([cell("found 16 results and 61 pages"), answer_turn("8")], "8", question=short)
    assert classify_failure(t, WRONG) == "wrong_answer_never_found"
    t = traj([cell("legs: 6"), answer_turn("8")], "8", question=short)
    assert classify_failure(t, WRONG) == "wrong_answer_gold_visible"


def test_summary_by_hand():
    trajs, verdicts = zip(*CASES.values())
    for t in trajs:
        t.reward = None
    trajs[0].reward = 0.9
    s = summarise_eval(list(trajs), list(verdicts))
    assert s["episodes"] == 12 and s["infra_errors"] == 2 and s["scored"] == 10
    assert s["accuracy"] == pytest.approx(1 / 12)  # correct / all episodes: infra errors are not answers
    assert s["accuracy_scored"] == pytest.approx(1 / 10)
    # answered: correct, no_cell, bad_function, silent, gave_up_explicit, gold x2, never_found = 8 of 10
    assert s["answered_rate"] == pytest.approx(8 / 10)
    turns = [2, 1, 2, 2, 3, 2, 2, 2, 2, 2]
    assert s["mean_turns"] == pytest.approx(sum(turns) / 10)
    tool_calls = [1, 0, 0, 0, 2, 1, 2, 1, 1, 1]
    assert s["mean_tool_calls"] == pytest.approx(sum(tool_calls) / 10)
    assert s["mean_reward"] == pytest.approx(0.9)
    assert set(s["taxonomy"]) == set(FAILURE_CLASSES) and sum(s["taxonomy"].values()) == 12
    assert s["taxonomy"]["interface_misuse"] == 3 and s["taxonomy_share"]["interface_misuse"] == pytest.approx(0.3)
    assert s["taxonomy_share"]["infra_error"] == pytest.approx(2 / 12)
    with pytest.raises(ValueError, match="12 trajectories but 1 verdicts"):
        summarise_eval(list(trajs), [WRONG])


def _png_size(path):
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    return struct.unpack(">II", data[16:24])


def _synthetic_run(run_dir):
    """base 1/4 correct, SFT 2/4, SFT+RL 3/4, plus SFT and RL metrics."""
    good = CASES["correct"]
    bad = [CASES["no_cell"], CASES["never_found"], CASES["gold_printed"]]
    for stage, n_good, step in (("base", 1, None), ("sft", 2, None), ("rl", 3, 20)):
        pairs = [good] * n_good + bad[: 4 - n_good]
        write_eval(run_dir, stage, [p[0] for p in pairs], [p[1] for p in pairs], step=step,
                   adapter=None if stage == "base" else f"adapters/{stage}")
    with MetricsWriter(run_dir, use_tensorboard=False) as writer:
        for step in range(12):
            writer.log(step, {"loss": 3.0 / (1 + step), "epoch": step // 3}, stage="sft")
        writer.log(0, {"accuracy": 0.5}, stage="eval")
        for step in range(1, 21):
            writer.log(step, {"reward_mean": -0.5 + step / 40, "accuracy": step / 40}, stage="rl")
            if step % 10 == 0:
                writer.log(step, {"accuracy": 0.5 + step / 80}, stage="eval")


def test_report_from_synthetic_eval_files(tmp_path):
    _synthetic_run(tmp_path)
    record = load_eval(tmp_path / "eval" / "rl.json")
    assert record["label"] == "SFT+RL" and record["step"] == 20 and len(record["episodes"]) == 4
    out = write_report(tmp_path)
    text = out.read_text()
    tables = [block.splitlines() for block in text.split("\n\n") if block.startswith("| ")]
    rows = [line for line in tables[0] if line.startswith("| ")]
    assert tables[1][0].startswith("| difference | episodes | questions |")  # paired-bootstrap differences
    assert rows[0].startswith("| model | n | questions × samples | accuracy | greedy | answered | mean turns | "
                              "tool calls | interface misuse")
    assert [r.split("|")[1].strip() for r in rows[1:]] == ["base", "SFT", "SFT+RL"]
    assert [r.split("|")[4].strip() for r in rows[1:]] == ["25.0%", "50.0%", "75.0%"]
    assert [r.split("|")[5].strip() for r in rows[1:]] == ["–"] * 3  # no greedy episodes evaluated
    assert rows[1].split("|")[9].strip() == "25.0%"  # base: 1 of 4 interface misuse
    assert "![SFT loss](sft_loss.png)" in text and "(rl_curve.png)" in text
    for name in ("sft_loss.png", "rl_curve.png"):
        width, height = _png_size(tmp_path / name)
        assert width > 300 and height > 200


def test_report_command_prints_the_table(tmp_path, capsys):
    _synthetic_run(tmp_path)
    assert rlsys_main(["report", str(tmp_path)]) == 0
    printed = capsys.readouterr().out
    assert "| SFT+RL | 4 | 1 × 4 | 75.0% |" in printed  # CASES share one question and "report.md" in printed


def test_report_errors_are_clear(tmp_path, capsys):
    assert rlsys_main(["report", str(tmp_path / "missing")]) == 2
    assert "run directory not found" in capsys.readouterr().err
    with pytest.raises(ReportError, match="no evaluations"):
        write_report(tmp_path)
    (tmp_path / "eval").mkdir()
    (tmp_path / "eval" / "sft.json").write_text(json.dumps({"summary": {"accuracy": 0.5}}))
    with pytest.raises(EvalFileError, match="summary lacks answered_rate"):
        write_report(tmp_path)


def test_metrics_only_run_gets_plots(tmp_path):
    with MetricsWriter(tmp_path, use_tensorboard=False) as writer:
        writer.log(0, {"loss": 2.0}, stage="sft")
        writer.log(1, {"loss": 1.0}, stage="sft")
    text = write_report(tmp_path).read_text()
    assert "No evaluations yet" in text and "No GRPO steps" in text
    assert (tmp_path / "sft_loss.png").is_file() and not (tmp_path / "rl_curve.png").exists()


def test_eval_curve_accepts_prefixed_keys(tmp_path):
    from rlsys.report.plots import rl_series

    rows = [{"step": 0, "stage": "eval", "eval_accuracy": 0.25}, {"step": 5, "stage": "eval", "eval_accuracy": 0.5},
            {"step": 5, "stage": "rl", "reward_mean": 0.1, "accuracy": 0.4}]
    series = rl_series(rows)
    assert series["eval_accuracy"] == [(0, 0.25), (5, 0.5)] and series["reward"] == [(5, 0.1)]


def test_write_eval_keeps_extra_and_rejects_bad_stage_names(tmp_path):
    t, v = CASES["correct"]
    path = write_eval(tmp_path, "rl-step10", [t], [v], step=10, extra={"eval_s": 1.5})
    record = load_eval(path)
    assert record["extra"] == {"eval_s": 1.5} and record["label"] == "rl-step10"
    with pytest.raises(EvalFileError, match="bad stage name"):
        write_eval(tmp_path, "../x", [t], [v])


def test_sft_loss_falls_back_to_the_sft_command_summary(tmp_path):
    (tmp_path / "sft").mkdir()
    summary = {"steps": 6, "train_losses": [[1, 2.0], [2, 1.5], [3, 1.2], [4, 1.0], [5, 0.9], [6, 0.8]],
               "eval_losses": [[0, 2.2], [3, 1.3], [6, 1.0]]}
    (tmp_path / "sft" / "sft_metrics.json").write_text(json.dumps(summary))
    text = write_report(tmp_path).read_text()  # no eval files, no metrics.jsonl: plots only
    assert "![SFT loss](sft_loss.png)" in text
    assert _png_size(tmp_path / "sft_loss.png")[0] > 300


def test_several_samples_and_greedy_get_their_own_paired_intervals(tmp_path):
    """Two sampled episodes per question and one greedy: accuracy is correct / all episodes (the
    infra error included), intervals pair questions by their mean over samples, greedy has its own."""
    import dataclasses

    good, wrong, infra = CASES["correct"], CASES["never_found"], CASES["infra_sandbox"]

    def on_questions(pairs, per_question):  # episode i asks question i // per_question
        questions = [dataclasses.replace(Q, id=f"q{i}") for i in range(4)]
        return ([dataclasses.replace(t, question=questions[i // per_question]) for i, (t, _) in enumerate(pairs)],
                [v for _, v in pairs])

    for stage, sampled, greedy in (("sft", [wrong, wrong, good, wrong, wrong, wrong, infra, wrong],
                                    [wrong, wrong, wrong, wrong]),
                                   ("rl", [good, good, good, wrong, good, good, good, infra],
                                    [good, good, good, wrong])):
        write_eval(tmp_path, stage, *on_questions(sampled, 2), greedy=on_questions(greedy, 1))
    rl = load_eval(tmp_path / "eval" / "rl.json")
    assert rl["summary"]["accuracy"] == pytest.approx(6 / 8)  # the infra error is in the denominator
    assert rl["summary"]["questions"] == 4 and rl["summary"]["samples_per_question"] == 2
    assert rl["summary"]["infra_errors"] == 1 and rl["summary"]["greedy"]["accuracy"] == pytest.approx(3 / 4)
    write_report(tmp_path)
    diffs = json.loads((tmp_path / "report.json").read_text())["differences"]
    assert [(d["metric"], d["before"], d["after"]) for d in diffs] == [("sampled", "sft", "rl"), ("greedy", "sft", "rl")]
    sampled, greedy = diffs
    assert sampled["diff"] == pytest.approx((6 - 1) / 8) and greedy["diff"] == pytest.approx(3 / 4)
    assert sampled["questions"] == greedy["questions"] == 4
    assert sampled["low"] <= sampled["diff"] <= sampled["high"]


def test_bench_learning_summarises_a_finished_run(tmp_path):
    """`rlsys bench learning`'s figures come from the run's own files: rows, intervals, curve, groups."""
    from rlsys.bench.learning import summarise_run

    _synthetic_run(tmp_path)
    with MetricsWriter(tmp_path, use_tensorboard=False) as writer:
        for step, informative in ((21, 4), (22, 3)):
            writer.log(step, {"groups_drawn": 8, "groups_informative": informative, "groups_dropped": 8 - informative,
                              "learner_entropy": 1.5, "step_s": 10.0}, stage="rl")
            writer.log(step, {"eval_accuracy": step / 100, "eval_greedy_accuracy": 0.5}, stage="eval")  # the controller's keys
    write_report(tmp_path)
    figures = summarise_run(tmp_path)
    assert {k: v["accuracy"] for k, v in figures["rows"].items()} == {"base": 0.25, "sft": 0.5, "rl": 0.75}
    assert [(d["metric"], d["label"]) for d in figures["differences"]] == [
        ("sampled", "SFT − base"), ("sampled", "SFT+RL − SFT"), ("sampled", "SFT+RL − base")]
    assert figures["held_out_curve"] == [{"step": 21, "accuracy": 0.21, "greedy_accuracy": 0.5},
                                         {"step": 22, "accuracy": 0.22, "greedy_accuracy": 0.5}]
    assert figures["informative_groups_per_step"] == [4, 3] and figures["informative_groups_median"] == 3.5
    assert figures["steps"] == 22 and figures["step_s_median"] == 10.0 and figures["stage_s"] == {}
