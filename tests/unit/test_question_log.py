"""`questions.jsonl`: what a resumed run is checked against (the questions each step trained on)."""

from __future__ import annotations

from rlsys.controller.question_log import QuestionLog


def test_rows_past_the_checkpoint_and_a_cut_last_line_are_dropped_on_resume(tmp_path):
    log = QuestionLog(tmp_path, resume_step=0)
    for step in (1, 2, 3):
        log.write(step, [f"q{step}a", f"q{step}b"], [f"t{step}"] if step == 2 else None)
    with open(tmp_path / "questions.jsonl", "a") as f:
        f.write('{"step": 4, "question_ids": ["q4')  # the crash cut this line
    rows = QuestionLog.read(tmp_path)
    assert [r["step"] for r in rows] == [1, 2, 3]
    assert rows[1] == {"step": 2, "question_ids": ["q2a", "q2b"], "topup_ids": ["t2"]}
    assert "topup_ids" not in rows[0]

    resumed = QuestionLog(tmp_path, resume_step=2)  # the checkpoint was after step 2
    assert [r["step"] for r in QuestionLog.read(tmp_path)] == [1, 2]
    resumed.write(3, ["q3a", "q3b"])
    assert [r["question_ids"] for r in QuestionLog.read(tmp_path)] == [["q1a", "q1b"], ["q2a", "q2b"], ["q3a", "q3b"]]


def test_a_fresh_run_in_an_old_directory_starts_an_empty_log(tmp_path):
    QuestionLog(tmp_path, resume_step=0).write(1, ["old"])
    QuestionLog(tmp_path, resume_step=0)
    assert QuestionLog.read(tmp_path) == []
