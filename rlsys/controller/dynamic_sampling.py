"""Dynamic sampling (DAPO): a step trains only on groups that carry signal, and draws more until it has enough.

A group whose usable rewards are all equal (every episode right, or every one wrong) has zero
advantage everywhere: it costs generation and teaches nothing. With `train.informative_groups = n`
(> 0) a step that collected fewer than `n` groups with non-zero reward variance keeps drawing
questions (a whole batch at once, so their groups are generated overlapped) until it has `n`, or
until it has drawn `train.max_groups_drawn` groups. Every informative group drawn is trained on
(`n` is a minimum); the others are logged (`groups_drawn`, `groups_informative`, `groups_dropped`)
and never reach the learner. Pure logic, no Ray: the controller (`loop.py`) does the launching.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from rlsys.step_results import GroupOutcome

STD_EPS = 1e-6  # the learner's zero-std threshold (`learner.grpo.group_advantages`)


def usable_rewards(outcome: GroupOutcome) -> list[float]:
    """Rewards the learner would use: the group not lost, the episode not excluded, judged."""
    if outcome.failure is not None:
        return []
    return [float(t.reward) for t in outcome.trajectories if not t.excluded and t.reward is not None]


def is_informative(outcome: GroupOutcome) -> bool:
    """Non-zero population std of the usable rewards (at least two that differ)."""
    rewards = usable_rewards(outcome)
    if len(rewards) < 2:
        return False
    mean = sum(rewards) / len(rewards)
    return math.sqrt(sum((r - mean) ** 2 for r in rewards) / len(rewards)) > STD_EPS


def next_draw(drawn: int, informative: int, target: int, cap: int) -> int:
    """How many more groups to launch at once: enough to reach `target` at the informative share
    seen so far (at least a quarter, so one bad batch does not ask for the whole cap), never past `cap`."""
    missing = target - informative
    if missing <= 0 or drawn >= cap:
        return 0
    share = max(informative / drawn if drawn else 1.0, 0.25)
    return max(1, min(cap - drawn, math.ceil(missing / share)))


@dataclass
class Selection:
    """One step's groups after dynamic sampling: what is trained on, and the counts logged."""

    trained: list[GroupOutcome]
    drawn: int
    informative: int
    draws: int  # launches (the step's own batch counts as one)

    def figures(self) -> dict[str, int]:
        return {"groups_drawn": self.drawn, "groups_informative": self.informative,
                "groups_dropped": self.drawn - len(self.trained), "groups_trained": len(self.trained),
                "sampling_draws": self.draws}


def select(outcomes: list[GroupOutcome], draws: int, dynamic: bool) -> Selection:
    """With dynamic sampling only informative groups are trained on; without it every group goes
    to the learner (which skips zero-std groups itself)."""
    informative = [o for o in outcomes if is_informative(o)]
    return Selection(informative if dynamic else list(outcomes), len(outcomes), len(informative), draws)
