"""Inference-time search on the rollout workers, judged: `rlsys eval --search best-of-n|beam`.

    picked, verdicts, budget = search_and_judge(controller, questions, "beam", SearchOptions(4, 1))

Each question's search runs on one rollout worker (`RolloutWorker.search`, the strategy from
`rlsys.search.strategies`), at the single-sample evaluation temperature. Every candidate the
search finished is judged (the judge sees the gold; the pick was made without it), so the budget
also reports `any_correct`, the share of questions where some candidate was right (an oracle
pick, reported only). A search that failed or missed `train.collect_timeout_s` counts as one
infra-error episode, as in a single-sample evaluation.
"""

from __future__ import annotations

import logging
import time
from dataclasses import asdict
from typing import Any

import ray
from ray.exceptions import RayError

from rlsys.corpus.types import Question
from rlsys.judge.types import Verdict
from rlsys.rollout.types import Trajectory
from rlsys.search.best_of_n import judged_picks
from rlsys.search.strategies import SearchOptions, Searched, total_budget
from rlsys.step_results import GroupOutcome

log = logging.getLogger(__name__)


def run_searches(controller: Any, questions: list[Question], strategy: str, opts: SearchOptions,
                 seed: int = 12345) -> tuple[list[Searched | None], float]:
    """One search per question, round-robin over the rollout workers; (searched or None, seconds)."""
    system, cfg = controller.system, controller.cfg
    controller.phases.enter("generate")
    if controller.weights.current is not None:
        controller.push_adapter()
    adapter = controller.weights.launch_arg()
    started = time.perf_counter()
    refs = []
    for question in questions:
        worker = system.rollout[system.next_slot() % len(system.rollout)]
        refs.append(worker.search.remote(question, strategy, asdict(opts), seed, cfg.rollout.temperature_min, adapter))
    if refs:
        ray.wait(refs, num_returns=len(refs), timeout=cfg.train.collect_timeout_s)
    searched: list[Searched | None] = []
    for question, ref in zip(questions, refs):
        try:
            searched.append(ray.get(ref, timeout=0))
        except (RayError, TimeoutError) as err:  # GetTimeoutError is a TimeoutError
            log.warning("search of %s lost (%s); counted as infra_error", question.id, type(err).__name__)
            ray.cancel(ref)
            searched.append(None)
    return searched, time.perf_counter() - started


def search_and_judge(controller: Any, questions: list[Question], strategy: str, opts: SearchOptions,
                     seed: int = 12345) -> tuple[list[Trajectory], list[Verdict], dict[str, Any]]:
    """The picked episode and verdict of each question, and the search's budget."""
    from rlsys.controller.flight import judge_groups

    searched, generate_s = run_searches(controller, questions, strategy, opts, seed)
    outcomes = [GroupOutcome(q, list(s.candidates)) if s is not None else GroupOutcome(q, failure="search_lost")
                for q, s in zip(questions, searched)]
    if controller.phases.sequential:
        controller.phases.enter("judge")
    judge_s = judge_groups(controller.system, outcomes, controller.cfg.train.collect_timeout_s)
    controller.phases.step_figures()
    picked, verdicts, any_correct = judged_picks(outcomes, [None if s is None else s.index for s in searched])
    budget = total_budget(strategy, opts, searched)
    budget["any_correct"] = any_correct  # oracle pick (uses the gold): reported only
    budget.update(generate_s=generate_s, judge_s=judge_s)
    return picked, verdicts, budget
