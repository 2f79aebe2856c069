"""Best-of-N over whole episodes: N sampled episodes per question, the one a gold-free scorer
ranks highest is the answer (ties: the earliest sample). The budget counts every episode sampled:
generated tokens (sampled tokens, `loss_mask == 1`) and sandbox cells run."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from rlsys.judge.types import Category, Verdict
from rlsys.rollout.types import Trajectory
from rlsys.search.scorers import get_scorer
from rlsys.step_results import GroupOutcome, lost_as_infra_errors


def generated_tokens(traj: Trajectory) -> int:
    return sum(traj.loss_mask)


def sandbox_cells(traj: Trajectory) -> int:
    return sum(t.cell is not None and t.result is not None for t in traj.turns)


def pick(group: list[Trajectory], scorer: str = "grounded") -> int:
    """Index of the episode `scorer` ranks highest (infra failures never win over a real episode)."""
    if not group:
        raise ValueError("best-of-n needs at least one episode per question")
    score = get_scorer(scorer)
    ranked = [((not t.excluded,) + score(t, group), -i) for i, t in enumerate(group)]
    return -max(ranked)[1]


@dataclass
class SearchResult:
    trajectories: list[Trajectory]  # the picked episode of each question
    verdicts: list[Verdict]
    budget: dict[str, Any]


def best_of_n(outcomes: list[GroupOutcome], scorer: str = "grounded") -> SearchResult:
    """The picked episode and verdict of each question's group, and the budget of all of them.
    A lost group becomes one infra-error episode (as in a single-sample evaluation)."""
    picked_t: list[Trajectory] = []
    picked_v: list[Verdict] = []
    tokens = cells = episodes = any_correct = 0
    for outcome in outcomes:
        if outcome.failure is not None or not outcome.trajectories:
            t, v = lost_as_infra_errors([GroupOutcome(outcome.question, failure=outcome.failure or "empty_group")])
            picked_t += t
            picked_v += v
            continue
        for traj in outcome.trajectories:
            tokens += generated_tokens(traj)
            cells += sandbox_cells(traj)
            episodes += 1
        any_correct += any(v.category is Category.CORRECT for v in outcome.verdicts)
        index = pick(outcome.trajectories, scorer)
        picked_t.append(outcome.trajectories[index])
        picked_v.append(outcome.verdicts[index])
    questions = len(outcomes)
    budget = {
        "search": "best-of-n", "scorer": scorer, "episodes": episodes, "questions": questions,
        "generated_tokens": tokens, "sandbox_cells": cells,
        "generated_tokens_per_question": tokens / questions if questions else 0.0,
        "sandbox_cells_per_question": cells / questions if questions else 0.0,
        "any_correct": any_correct / questions if questions else 0.0,  # oracle pick (uses the gold: reported only)
    }
    return SearchResult(picked_t, picked_v, budget)
