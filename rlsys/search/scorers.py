"""Scorers that rank the episodes of one question without its gold answer (a registry).

A scorer maps (episode, all episodes of its question) to a comparable score; higher is better.

- `grounded`: an answer that a cell printed beats one only in what the cells read, which beats an
  answer found in no output (a guess); answering beats not answering, and an explicit
  "Answer not found" ranks with no answer;
- `vote`: self-consistency: the number of episodes of the question with the same (normalised)
  answer, grounded first among equal votes.

`progress_score` ranks the unfinished beams of beam search (no answer yet to score).
"""

from __future__ import annotations

import re
import unicodedata
from typing import Callable

from rlsys.judge.search_recovery import turn_miss
from rlsys.rollout.types import Trajectory
from rlsys.sandbox.types import ExecStatus

Scorer = Callable[[Trajectory, list[Trajectory]], tuple]
GIVE_UP = "answer not found"


def _norm(text: str | None) -> str:
    text = unicodedata.normalize("NFKD", text or "")
    text = "".join(ch for ch in text if not unicodedata.combining(ch)).lower()
    return " ".join(re.sub(r"[^\w\s]", " ", text).split())


def _in(needle: str, texts: list[str]) -> bool:
    pattern = re.compile(rf"(?<!\w){re.escape(needle)}(?!\w)")
    return any(pattern.search(_norm(t)) for t in texts if t)


def answered(traj: Trajectory) -> bool:
    answer = _norm(traj.answer)
    return bool(answer) and answer != GIVE_UP


def grounding(traj: Trajectory) -> int:
    """2: a cell printed the answer; 1: only a tool output the cells received holds it; 0: neither."""
    if not answered(traj):
        return 0
    answer = _norm(traj.answer)
    results = [t.result for t in traj.turns if t.cell is not None and t.result is not None]
    if _in(answer, [r.stdout for r in results]):
        return 2
    return 1 if _in(answer, [o for r in results for o in r.tool_outputs]) else 0


def grounded_score(traj: Trajectory, group: list[Trajectory]) -> tuple:
    return (int(answered(traj)), grounding(traj))


def vote_score(traj: Trajectory, group: list[Trajectory]) -> tuple:
    if not answered(traj):
        return (0, 0, 0)
    votes = sum(answered(t) and _norm(t.answer) == _norm(traj.answer) for t in group)
    return (1, votes, grounding(traj))


def progress_score(beam) -> tuple:
    """How promising an unfinished beam of beam search is, gold-free: fewer missed searches
    (`judge.search_recovery.turn_miss`), then a last cell that printed something, then the policy's
    mean log-prob of its sampled tokens (its confidence)."""
    misses = sum(turn_miss(t, None, False) is not None for t in beam.turns)
    results = [t.result for t in beam.turns if t.result is not None]
    printed = bool(results) and results[-1].status is ExecStatus.OK and bool((results[-1].stdout or "").strip())
    sampled = [lp for lp, m in zip(beam.logprobs, beam.mask) if m]
    return (-misses, int(printed), sum(sampled) / len(sampled) if sampled else 0.0)


SCORERS: dict[str, Scorer] = {"grounded": grounded_score, "vote": vote_score}


def get_scorer(name: str) -> Scorer:
    if name not in SCORERS:
        raise ValueError(f"unknown search scorer {name!r}; choose one of {', '.join(SCORERS)}")
    return SCORERS[name]
