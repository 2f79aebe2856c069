"""Builders of small but complete `Trajectory` records for the judge tests."""

from __future__ import annotations

import json
from pathlib import Path

from rlsys.corpus.types import Question
from rlsys.rollout.types import EndReason, Trajectory, Turn
from rlsys.sandbox.types import ExecResult, ExecStatus

FIXTURES = Path(__file__).parent / "fixtures"


def make_traj(
    answer: str | None,
    gold: str = "Ty Simpkins",
    question: str = "Which actor played the young Gavin in the film?",
    turns: list[Turn] | None = None,
    episode_id: str = "ep-0",
) -> Trajectory:
    return Trajectory(
        episode_id=episode_id,
        question=Question(id="q", question=question, answer=gold),
        token_ids=[1, 2, 3],
        loss_mask=[0, 1, 1],
        behaviour_logprobs=[0.0, -0.5, -0.7],
        prompt_len=1,
        turns=list(turns or []),
        answer=answer,
        end_reason=EndReason.ANSWERED if answer is not None else EndReason.MAX_TURNS,
    )


def search_turn(outputs: list[str], calls: int | None = None, status: ExecStatus = ExecStatus.OK, stdout: str = "") -> Turn:
    cell = "hits = search_pages('film cast')\nprint(hits[:3])\nprint(read_section(hits[0]['page_id'] + ':cast'))"
    result = ExecResult(
        stdout=stdout or "\n".join(o[:200] for o in outputs),
        error="Traceback: KeyError: 'page_id'" if status is ExecStatus.ERROR else None,
        status=status,
        tool_calls=len(outputs) if calls is None else calls,
        tool_outputs=outputs,
    )
    return Turn(text=f"<python>\n{cell}\n</python>", cell=cell, result=result)


def answer_turn(answer: str) -> Turn:
    return Turn(text=f"<answer>{answer}</answer>")


def trivia_questions(shared_data: Path) -> dict[int, dict]:
    rows = [json.loads(line) for line in (shared_data / "wiki-trivia-v4" / "questions.jsonl").open()]
    return {row["v4_index"]: row for row in rows}
