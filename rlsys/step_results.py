"""What one step produced, in plain Python: judged groups and the figures logged per step.

A `GroupOutcome` is one question's rollout group after judging. A group whose rollout worker or
judge died is kept with `failure` set: its trajectories are marked and excluded from training
(never scored as wrong), and the step carries on with the other groups.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from statistics import mean
from typing import Any

from rlsys.corpus.types import Question
from rlsys.judge.search_recovery import recovery_metrics
from rlsys.judge.types import Category, Verdict
from rlsys.rollout.types import EndReason, Trajectory


@dataclass
class GroupOutcome:
    question: Question
    trajectories: list[Trajectory] = field(default_factory=list)
    verdicts: list[Verdict] = field(default_factory=list)
    failure: str | None = None  # "rollout_worker_lost" / "rollout_error" / "rollout_timeout": the group is dropped


def _usable(outcomes: list[GroupOutcome]) -> list[tuple[Trajectory, Verdict]]:
    return [
        (t, v)
        for o in outcomes
        if o.failure is None
        for t, v in zip(o.trajectories, o.verdicts)
        if not t.excluded and not v.failed
    ]


def step_summary(outcomes: list[GroupOutcome], learn: dict[str, Any], trained_at_version: int) -> dict[str, Any]:
    """Per-step metrics: reward, accuracy, exclusions, episode shape, staleness (learner version at
    training minus the oldest policy version that produced a rollout), plus the learner's figures."""
    pairs = _usable(outcomes)
    trajectories = [t for o in outcomes for t in o.trajectories]
    staleness = [trained_at_version - t.policy_version for t in trajectories]
    rewards = [t.reward for t, _ in pairs if t.reward is not None]
    summary: dict[str, Any] = {
        "reward_mean": mean(rewards) if rewards else 0.0,
        "accuracy": mean(v.correct for _, v in pairs) if pairs else 0.0,
        "answered": mean(t.end_reason is EndReason.ANSWERED for t, _ in pairs) if pairs else 0.0,
        "episodes": len(trajectories),
        "excluded_infra": sum(t.end_reason is EndReason.INFRA_ERROR or t.failure == "infra_error" for t in trajectories),
        "excluded_judge": sum(t.failure == "judge_error" for t in trajectories),
        "groups_lost": sum(o.failure is not None for o in outcomes),
        "staleness_max": max(staleness, default=0),
        "policy_version": trained_at_version,
        "rollout_version_min": min((t.policy_version for t in trajectories), default=trained_at_version),
        "rollout_version_max": max((t.policy_version for t in trajectories), default=trained_at_version),
        "mean_turns": mean(len(t.turns) for t in trajectories) if trajectories else 0.0,
        "mean_tokens": mean(len(t.token_ids) for t in trajectories) if trajectories else 0.0,
        "mean_tool_calls": mean(sum(x.result.tool_calls for x in t.turns if x.result) for t in trajectories)
        if trajectories else 0.0,
    }
    summary.update(recovery_metrics(pairs))  # search_misses / _recoveries / _recovery_rate / _no_retry
    for key, value in learn.items():
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            summary[f"learner_{key}"] = value
    return summary


def lost_as_infra_errors(outcomes: list[GroupOutcome], k: int = 1) -> tuple[list[Trajectory], list[Verdict]]:
    """Flattens outcomes for evaluation; a lost group becomes `k` infra-error episodes (the ones
    it should have had), so an evaluation never silently shrinks its denominator."""
    trajectories: list[Trajectory] = []
    verdicts: list[Verdict] = []
    for o in outcomes:
        if o.failure is not None:
            for i in range(k):
                trajectories.append(
                    Trajectory(f"lost-{o.question.id}" + (f"-{i}" if k > 1 else ""), o.question, [], [], [], 0,
                               end_reason=EndReason.INFRA_ERROR, failure="infra_error")
                )
                verdicts.append(Verdict(Category.JUDGE_ERROR, rationale=o.failure))
            continue
        trajectories += o.trajectories
        verdicts += o.verdicts
    return trajectories, verdicts
