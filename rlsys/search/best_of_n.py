"""Picking among a question's episodes: the one a gold-free scorer ranks highest answers (ties: the
earliest), and the judged picks of a search over many questions. A budget counts every episode
sampled: generated tokens (sampled tokens, `loss_mask == 1`) and sandbox cells run."""

from __future__ import annotations

from rlsys.judge.types import Category, Verdict
from rlsys.env.wiki_search import EMPTY_CELL_ERROR
from rlsys.rollout.types import Trajectory
from rlsys.search.scorers import get_scorer
from rlsys.step_results import GroupOutcome, lost_as_infra_errors


def generated_tokens(traj: Trajectory) -> int:
    return sum(traj.loss_mask)


def sandbox_cells(traj: Trajectory) -> int:
    """Cells the sandbox ran (an empty cell is answered without it)."""
    return sum(t.cell is not None and t.result is not None and t.result.error != EMPTY_CELL_ERROR
               for t in traj.turns)


def pick(group: list[Trajectory], scorer: str = "grounded") -> int:
    """Index of the episode `scorer` ranks highest (infra failures never win over a real episode)."""
    if not group:
        raise ValueError("best-of-n needs at least one episode per question")
    score = get_scorer(scorer)
    ranked = [((not t.excluded,) + score(t, group), -i) for i, t in enumerate(group)]
    return -max(ranked)[1]


def judged_picks(outcomes: list[GroupOutcome], indices: list[int | None]) -> tuple[list[Trajectory], list[Verdict], float]:
    """The picked episode and verdict of each question (`outcomes[i]` judged, `indices[i]` its pick;
    None or a lost group: one infra-error episode, as in a single-sample evaluation), and the
    any-correct share (some candidate was right: an oracle pick that uses the gold, reported only)."""
    if len(outcomes) != len(indices):
        raise ValueError(f"{len(outcomes)} outcomes but {len(indices)} picks")
    picked_t: list[Trajectory] = []
    picked_v: list[Verdict] = []
    any_correct = 0
    for outcome, index in zip(outcomes, indices):
        if index is None or outcome.failure is not None or not outcome.trajectories:
            t, v = lost_as_infra_errors([GroupOutcome(outcome.question, failure=outcome.failure or "search_lost")])
            picked_t += t
            picked_v += v
            continue
        any_correct += any(v.category is Category.CORRECT for v in outcome.verdicts)
        picked_t.append(outcome.trajectories[index])
        picked_v.append(outcome.verdicts[index])
    return picked_t, picked_v, any_correct / len(outcomes) if outcomes else 0.0
