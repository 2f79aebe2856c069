"""`JudgeActor`: a thin Ray actor around the judge `judge.kind` names.

    actors = create_judge_actors(cfg)                 # `judge.replicas` of them
    verdicts = await score_across(actors, batch)      # the batch split over the replicas

Replicas are independent: each builds its own judge (and, for `llm`, its own engine).
"""

from __future__ import annotations

import asyncio
import os
from collections import Counter
from typing import Any

import ray

from rlsys.config import Config
from rlsys.judge.factory import build_judge, judge_needs_engine
from rlsys.judge.reward import verdict_counts
from rlsys.judge.types import Verdict
from rlsys.rollout.types import Trajectory


def build_judge_engine(cfg: Config) -> tuple[Any, Any]:
    """(engine, tokenizer) for an `llm` judge on `judge.model`, through the rollout engines."""
    from rlsys.rollout.engines import load_engine

    j = cfg.judge
    context = j.max_prompt_tokens + j.max_new_tokens + (j.thinking_budget if j.thinking else 0) + 64
    return load_engine(j.model, j.engine, dtype=cfg.model.dtype, max_batch=j.batch_size, quantization=j.quantization,
                       gpu_memory_utilization=j.gpu_memory_utilization, max_model_len=context)


@ray.remote(num_cpus=0.1)
class JudgeActor:
    """Scores batches of trajectories; keeps verdict counts for metrics."""

    def __init__(self, cfg: Config | dict[str, Any]):
        os.environ["OMP_NUM_THREADS"] = "1"
        self.cfg = cfg if isinstance(cfg, Config) else Config.model_validate(cfg)
        engine = tokenizer = None
        if judge_needs_engine(self.cfg.judge.kind):
            import torch

            torch.set_num_threads(1)
            engine, tokenizer = build_judge_engine(self.cfg)
        self.engine = engine
        self.asleep = False
        from rlsys.env.registry import environment_of

        # a judge that reads trajectories sees them as the run's environment shows them
        self.judge = build_judge(self.cfg.judge, engine, tokenizer, view=environment_of(self.cfg).judge_view)
        self.counts: Counter[str] = Counter()

    async def score(self, batch: list[Trajectory]) -> list[Verdict]:
        if self.asleep:
            raise RuntimeError("judge engine asleep: no judging outside the judge phase")
        verdicts = await self.judge.score(batch)
        self.counts.update(verdict_counts(verdicts))
        return verdicts

    def stats(self) -> dict[str, float]:
        """Verdict counts so far plus the judge's own counters (requests, retries, cross-check)."""
        out = {k: float(v) for k, v in self.counts.items() if k != "judge/approach_mean"}
        for source in (self.judge, getattr(self.judge, "primary", None)):
            for key, value in getattr(source, "stats", {}).items():
                out[key if "/" in key else f"judge/{key}"] = float(value)
        return out

    async def sleep(self) -> dict[str, Any]:
        """Frees the judge engine's accelerator memory (sequential phases); no-op without an engine."""
        if self.engine is not None and not self.asleep:
            await self.engine.sleep()
            self.asleep = True
        return self.phase_state()

    async def wake(self) -> dict[str, Any]:
        if self.engine is not None and self.asleep:
            await self.engine.wake()
            self.asleep = False
        return self.phase_state()

    def phase_state(self) -> dict[str, Any]:
        return {"asleep": self.asleep, "engine": self.engine is not None}

    def ready(self) -> bool:
        return True


def create_judge_actors(cfg: Config, replicas: int | None = None, options: list[dict[str, Any]] | None = None) -> list[Any]:
    """`replicas` (default `judge.replicas`) actors; `options[i]` are Ray `.options(...)` of replica i."""
    n = replicas or cfg.judge.replicas
    if n < 1:
        raise ValueError(f"judge replicas must be >= 1, got {n}")
    data = cfg.model_dump()
    return [JudgeActor.options(**(options[i] if options else {})).remote(data) for i in range(n)]


async def score_across(actors: list[Any], batch: list[Trajectory]) -> list[Verdict]:
    """Splits `batch` into contiguous chunks, one per replica, and returns verdicts in order."""
    if not actors:
        raise ValueError("no judge actors")
    if not batch:
        return []
    size = -(-len(batch) // len(actors))
    chunks = [batch[i : i + size] for i in range(0, len(batch), size)]
    results = await asyncio.gather(*(actor.score.remote(chunk) for actor, chunk in zip(actors, chunks)))
    return [v for chunk in results for v in chunk]
