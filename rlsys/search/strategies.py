"""Inference-time search strategies, by name (a registry): how one question is answered.

    searched = await get_strategy("beam")(question, SearchContext(engine, tok, executor, limits),
                                          SearchOptions(width=4, depth=1), temperature=0.7, seed=1)
    searched.trajectory            # the episode that answers (picked without the gold answer)
    searched.candidates            # every finished episode the search produced (the pick among them)
    searched.budget                # generated tokens and sandbox cells spent, replays included

- `single`: one episode;
- `best-of-n`: `width` whole episodes, the one `scorer` ranks highest;
- `beam`: beam search over turns (`beam.py`), `width` beams, branching on the first `depth` turns.

Everything here is Ray-free: `RolloutWorker.search` runs a strategy on its engine and sandbox
workers (`rlsys eval --search`), `rlsys serve --search` on a local engine and sandbox pool.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any, Awaitable, Callable

from rlsys.corpus.types import Question
from rlsys.env.base import Environment
from rlsys.registry import Registry
from rlsys.rollout.episode import EpisodeLimits, draw_temperatures, run_episode
from rlsys.rollout.types import Engine, Trajectory
from rlsys.sandbox.types import CodeExecutor
from rlsys.search.beam import beam_search
from rlsys.search.best_of_n import generated_tokens, pick, sandbox_cells
from rlsys.search.scorers import SCORERS


@dataclass
class SearchContext:
    engine: Engine
    tokenizer: Any
    executor: CodeExecutor
    limits: EpisodeLimits
    env: Environment | None = None  # None: the limits' default environment


@dataclass(frozen=True)
class SearchOptions:
    width: int = 4       # best-of-n: episodes; beam: beams kept and candidates per beam
    depth: int = 1       # beam: turns that branch (later turns extend each beam by one candidate)
    scorer: str = "grounded"

    def __post_init__(self) -> None:
        if self.width < 1 or self.depth < 0:
            raise ValueError(f"search needs width >= 1 and depth >= 0, got {self.width}, {self.depth}")
        if self.scorer not in SCORERS:
            raise ValueError(f"unknown search scorer {self.scorer!r}; choose one of {', '.join(SCORERS)}")


@dataclass
class Searched:
    trajectory: Trajectory
    candidates: list[Trajectory]
    index: int                                   # candidates[index] is trajectory
    budget: dict[str, Any] = field(default_factory=dict)


Strategy = Callable[[Question, SearchContext, SearchOptions, float, "int | None"], Awaitable[Searched]]
STRATEGIES: Registry[Strategy] = Registry("search strategy")


def register_strategy(name: str) -> Callable[[Strategy], Strategy]:
    return STRATEGIES.register(name)


def get_strategy(name: str) -> Strategy:
    return STRATEGIES.lookup(name)


def episode_budget(episodes: list[Trajectory]) -> dict[str, int]:
    return {"generated_tokens": sum(generated_tokens(t) for t in episodes),
            "sandbox_cells": sum(sandbox_cells(t) for t in episodes), "episodes": len(episodes)}


@register_strategy("single")
async def single(question: Question, ctx: SearchContext, opts: SearchOptions, temperature: float,
                 seed: int | None) -> Searched:
    traj = await run_episode(question, ctx.engine, ctx.tokenizer, ctx.executor, ctx.limits, temperature, seed, env=ctx.env)
    return Searched(traj, [traj], 0, {**episode_budget([traj]), "candidates": 1})


@register_strategy("best-of-n")
async def best_of_n(question: Question, ctx: SearchContext, opts: SearchOptions, temperature: float,
                    seed: int | None) -> Searched:
    seeds = [s for _, s in draw_temperatures(opts.width, 0.0, 0.0, 0 if seed is None else seed, question.id)]
    episodes = list(await asyncio.gather(*(
        run_episode(question, ctx.engine, ctx.tokenizer, ctx.executor, ctx.limits, temperature, s, env=ctx.env)
        for s in seeds)))
    index = pick(episodes, opts.scorer)
    return Searched(episodes[index], episodes, index, {**episode_budget(episodes), "candidates": len(episodes)})


@register_strategy("beam")
async def beam(question: Question, ctx: SearchContext, opts: SearchOptions, temperature: float,
               seed: int | None) -> Searched:
    result = await beam_search(question, ctx.engine, ctx.tokenizer, ctx.executor, ctx.limits, width=opts.width,
                               depth=opts.depth, scorer=opts.scorer, temperature=temperature, seed=seed,
                               env=ctx.env)
    index = next(i for i, t in enumerate(result.finished) if t is result.trajectory)
    return Searched(result.trajectory, result.finished, index, {**result.budget, "episodes": len(result.finished)})


def total_budget(strategy: str, opts: SearchOptions, searched: list[Searched | None]) -> dict[str, Any]:
    """The budget of a search over many questions (None: a question whose search was lost)."""
    questions = len(searched)
    done = [s for s in searched if s is not None]
    keys = {"generated_tokens", "sandbox_cells", "episodes", "replayed_cells", "candidates"}
    sums = {k: sum(int(s.budget.get(k, 0)) for s in done) for k in sorted(keys)}
    per_q = {f"{k}_per_question": (v / questions if questions else 0.0) for k, v in sums.items()
             if k in ("generated_tokens", "sandbox_cells")}
    return {"search": strategy, "width": opts.width, "depth": opts.depth, "scorer": opts.scorer,
            "questions": questions, "lost": questions - len(done), **sums, **per_q}
