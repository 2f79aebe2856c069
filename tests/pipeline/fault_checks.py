"""Helpers of the fault tests: waiting on observable state with a deadline, and the question
sequence an uninterrupted run draws (what a resumed run's `questions.jsonl` must show)."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Callable

from rlsys.controller.question_log import QuestionLog


def wait_for(what: str, condition: Callable[[], bool], timeout_s: float, poll_s: float = 0.2) -> None:
    """Polls `condition` until it holds; `TimeoutError` naming `what` after `timeout_s`."""
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError(f"{what}: not seen within {timeout_s:.0f} s")
        time.sleep(poll_s)


def checkpoint_done(run_dir: Path, step: int) -> bool:
    """The controller's checkpoint of `step` is complete (its manifest is written last)."""
    return (Path(run_dir) / "checkpoints" / f"step-{step:06d}" / "manifest.json").is_file()


def uninterrupted_question_ids(cfg) -> list[str]:
    """The ids an uninterrupted run of `cfg` trains on, step after step."""
    from rlsys.controller.questions import load_questions
    from rlsys.question_sampler import QuestionSampler

    train, _ = load_questions(cfg)
    sampler = QuestionSampler(train, seed=cfg.train.seed)
    return [q.id for q in sampler.take(cfg.train.steps * cfg.train.questions_per_step)]


def logged_question_ids(run_dir: Path) -> tuple[list[int], list[str]]:
    """(steps, question ids in step order) from the run's `questions.jsonl`."""
    rows = QuestionLog.read(run_dir)
    return [r["step"] for r in rows], [q for r in rows for q in r["question_ids"]]
