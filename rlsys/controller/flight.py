"""The rollout groups of one step in flight: launched on the rollout workers, collected, judged.

    flight = launch_groups(system, weights, questions, seed=7)       # judged as each group ends
    outcomes = flight.collect(timeout_s=cfg.train.collect_timeout_s)

A group is one question's K episodes on one rollout worker. With `judge=True` (the overlapped
schedule) each group's verdict call takes the group's ref, so judging starts as soon as the group
finishes; with `judge=False` (the sequential schedule) `judge_groups` scores them all afterwards,
in the judge's own phase. Nothing here raises for one group's sake: a group whose worker died, whose
`generate_group` raised, or that missed the deadline comes back with `failure` set (excluded from
training as an infra error, never scored as wrong); a failed verdict marks the episodes `judge_error`.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from typing import Any

import ray
from ray.exceptions import RayActorError, RayError

from rlsys.corpus.types import Question
from rlsys.judge.reward import apply_verdicts
from rlsys.judge.types import Category, Verdict
from rlsys.step_results import GroupOutcome

log = logging.getLogger(__name__)


@dataclass
class Flight:
    """Per question, the ref of its trajectories and (when judged in flight) of their verdicts."""

    cfg: Any
    questions: list[Question]
    refs: list[tuple[Any, Any | None]]
    launched_at_version: int = -1
    launched_at_step: int = 0     # the controller's step (learner steps done) when it was launched
    started: float = field(default_factory=time.perf_counter)
    generate_s: float = 0.0
    judge_s: float = 0.0
    sandbox_s: float = 0.0

    def _wait_all(self, timeout_s: float) -> dict[Any, float]:
        """Seconds since launch at which each ref became ready (missing: not ready by the deadline)."""
        ready_at: dict[Any, float] = {}
        pending = [ref for pair in self.refs for ref in pair if ref is not None]
        deadline = time.perf_counter() + timeout_s
        while pending:
            left = deadline - time.perf_counter()
            if left <= 0:
                break
            done, pending = ray.wait(pending, num_returns=1, timeout=left)
            for ref in done:
                ready_at[ref] = time.perf_counter() - self.started
        return ready_at

    def collect(self, timeout_s: float) -> list[GroupOutcome]:
        """Waits up to `timeout_s` for every group; what is lost comes back with `failure` set."""
        ready_at = self._wait_all(timeout_s)
        outcomes = []
        for question, (traj_ref, verdict_ref) in zip(self.questions, self.refs):
            outcome = GroupOutcome(question)
            outcomes.append(outcome)
            if traj_ref not in ready_at:
                outcome.failure = "rollout_timeout"
                log.warning("rollout group for %s not done within %.0f s (train.collect_timeout_s); dropped as "
                            "infra_error", question.id, timeout_s)
                _cancel(traj_ref, verdict_ref)
                continue
            try:
                outcome.trajectories = ray.get(traj_ref, timeout=0)
            except RayError as err:
                outcome.failure = "rollout_worker_lost" if isinstance(err, RayActorError) else "rollout_error"
                log.warning("rollout group for %s failed (%s: %s); dropped as infra_error", question.id,
                            type(err).__name__, str(err).splitlines()[0][:200] if str(err) else "")
                continue
            if verdict_ref is not None:
                if verdict_ref in ready_at:
                    apply_group_verdicts(outcome, _get_verdicts(verdict_ref, outcome), self.cfg.judge)
                else:
                    _cancel(verdict_ref)
                    apply_group_verdicts(outcome, _failed(outcome, "judge timed out"), self.cfg.judge)
        trajectories = [t for o in outcomes for t in o.trajectories]
        traj_ready = [ready_at[t] for t, _ in self.refs if t in ready_at]
        self.generate_s = max(traj_ready, default=0.0)
        # judging overlaps generation: count only the time judging ran past each group's end
        self.judge_s = sum(max(0.0, ready_at[v] - ready_at[t]) for t, v in self.refs if t in ready_at and v in ready_at)
        self.sandbox_s = sum(t.timings.get("sandbox_s", 0.0) for t in trajectories)
        return outcomes

    def cancel(self) -> None:
        for pair in self.refs:
            _cancel(*pair)


def launch_groups(
    system: Any, weights: Any, questions: list[Question], seed: int, k: int | None = None,
    temperature: float | None = None, judge: bool = True,
) -> Flight:
    """Starts one group per question, round-robin over the rollout workers (and judges). Each call
    carries the current adapter (`weights.launch_arg()`): a worker behind loads it first."""
    cfg = system.cfg
    k = k or cfg.rollout.group_size
    adapter = weights.launch_arg()
    refs = []
    for question in questions:
        slot = system.next_slot()
        worker = system.rollout[slot % len(system.rollout)]
        traj_ref = worker.generate_group.remote(question, k, seed, temperature, adapter)
        verdict_ref = system.judges[slot % len(system.judges)].score.remote(traj_ref) if judge else None
        refs.append((traj_ref, verdict_ref))
    return Flight(cfg, list(questions), refs, launched_at_version=weights.version)


def judge_groups(system: Any, outcomes: list[GroupOutcome], timeout_s: float) -> float:
    """Scores the generated groups that have no verdicts yet (the sequential schedule's judge
    phase); returns the seconds it took."""
    started = time.perf_counter()
    todo = [o for o in outcomes if o.failure is None and o.trajectories and not o.verdicts]
    refs = [system.judges[i % len(system.judges)].score.remote(o.trajectories) for i, o in enumerate(todo)]
    if refs:
        ray.wait(refs, num_returns=len(refs), timeout=timeout_s)
    for outcome, ref in zip(todo, refs):
        apply_group_verdicts(outcome, _get_verdicts(ref, outcome), system.cfg.judge)
    return time.perf_counter() - started


def apply_group_verdicts(outcome: GroupOutcome, verdicts: list[Verdict], judge_cfg: Any) -> None:
    """Rewards from verdicts (`judge.reward.apply_verdicts`); a short verdict list fails the group's judging."""
    if len(verdicts) != len(outcome.trajectories):
        verdicts = _failed(outcome, f"judge returned {len(verdicts)} verdicts for {len(outcome.trajectories)} episodes")
    outcome.verdicts = verdicts
    apply_verdicts(outcome.trajectories, verdicts, judge_cfg)


def _get_verdicts(ref: Any, outcome: GroupOutcome) -> list[Verdict]:
    try:
        return ray.get(ref, timeout=0)
    except RayError as err:
        log.warning("judge failed on group %s (%s); its episodes are marked judge_error", outcome.question.id,
                    type(err).__name__)
        return _failed(outcome, str(err)[:200])


def _failed(outcome: GroupOutcome, why: str) -> list[Verdict]:
    return [Verdict(Category.JUDGE_ERROR, rationale=why) for _ in outcome.trajectories]


def _cancel(*refs: Any) -> None:
    for ref in refs:
        if ref is None:
            continue
        try:
            ray.cancel(ref)
        except Exception:  # noqa: BLE001 - best effort
            pass
