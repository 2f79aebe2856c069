"""`SandboxWorker`: a thin, CPU-only Ray actor around a `SandboxPool`, and `SandboxClient`, the
`CodeExecutor` the rollout loop uses over a list of worker handles.

    tool_fn = corpus_tool_fn(corpus_actor)             # answers tool calls from a CorpusActor
    workers = create_sandbox_workers(cfg.sandbox, tool_fn)   # `sandbox.workers` actors
    executor = SandboxClient(workers)                  # open / run / close, like a local pool

An episode sticks to the worker it was opened on. A worker that dies fails its episodes' cells
as `infra_error` (never as model errors) and gets no new episodes.
"""

from __future__ import annotations

import asyncio
import logging
import os
from typing import Any

import ray

from rlsys.sandbox.config import SandboxConfig
from rlsys.sandbox.pool import SandboxPool
from rlsys.sandbox.types import ExecResult, ExecStatus, ToolFn

log = logging.getLogger(__name__)
CALL_MARGIN_S = 60.0  # a worker gets the cell timeout plus this before the client gives up on it


class SandboxWorker:
    """Holds one warm pool; every method is async so cells of many episodes run concurrently."""

    def __init__(self, config: SandboxConfig | dict[str, Any], tool_fn: ToolFn, size: int | None = None,
                 backend: str | None = None):
        os.environ["OMP_NUM_THREADS"] = "1"
        cfg = config if isinstance(config, SandboxConfig) else SandboxConfig.model_validate(config)
        self.pool = SandboxPool(cfg, tool_fn, size=size, backend=backend)

    async def start(self) -> dict[str, Any]:
        await self.pool.start()
        return self.pool.stats()

    async def open(self, episode_id: str) -> None:
        await self.pool.open(episode_id)

    async def run(self, episode_id: str, code: str, timeout_s: float | None = None) -> ExecResult:
        return await self.pool.run(episode_id, code, timeout_s)

    async def close(self, episode_id: str) -> None:
        await self.pool.close(episode_id)

    async def stats(self) -> dict[str, Any]:
        return self.pool.stats()

    async def shutdown(self) -> None:
        await self.pool.shutdown()


SandboxWorkerActor = ray.remote(num_cpus=0.25, max_concurrency=1000)(SandboxWorker)


def create_sandbox_workers(config: SandboxConfig, tool_fn: ToolFn, num_cpus: float = 0.25,
                           backend: str | None = None, start: bool = True) -> list:
    """`config.workers` SandboxWorker actors, each with `containers_per_worker` warm sandboxes."""
    workers = [SandboxWorkerActor.options(num_cpus=num_cpus).remote(config.model_dump(), tool_fn, None, backend)
               for _ in range(config.workers)]
    if start:
        ray.get([w.start.remote() for w in workers], timeout=config.start_timeout_s * 3)
    return workers


def corpus_tool_fn(corpus_actor, method: str = "call_tool", timeout_s: float = 30.0) -> ToolFn:
    """A ToolFn that asks a corpus actor (`actor.<method>.remote(name, kwargs)`); never raises."""

    def call_tool(name: str, kwargs: dict[str, Any]) -> Any:
        try:
            return ray.get(getattr(corpus_actor, method).remote(name, kwargs), timeout=timeout_s)
        except Exception as err:  # actor died, timed out: the cell reads an error, the episode goes on
            return f"Error: the corpus service did not answer ({type(err).__name__})"

    return call_tool


class SandboxClient:
    """`CodeExecutor` over SandboxWorker handles: sticky routing by episode, dead workers skipped."""

    def __init__(self, workers: list, cell_timeout_s: float = 10.0):
        if not workers:
            raise ValueError("SandboxClient needs at least one SandboxWorker handle")
        self.workers = list(workers)
        self.cell_timeout_s = cell_timeout_s
        self.routes: dict[str, int] = {}
        self.load = [0] * len(workers)
        self.dead: set[int] = set()

    def _route(self, episode_id: str) -> int | None:
        if episode_id in self.routes:
            return self.routes[episode_id]
        alive = [i for i in range(len(self.workers)) if i not in self.dead]
        if not alive:
            return None
        index = min(alive, key=lambda i: self.load[i])
        self.routes[episode_id] = index
        self.load[index] += 1
        return index

    def _lost(self, index: int, err: BaseException) -> ExecResult:
        if isinstance(err, ray.exceptions.RayActorError):
            self.dead.add(index)
        log.warning("sandbox worker %d failed: %s", index, err)
        return ExecResult(status=ExecStatus.INFRA_ERROR,
                          error=f"sandbox worker unavailable ({type(err).__name__}); infrastructure error")

    async def open(self, episode_id: str) -> None:
        index = self._route(episode_id)
        if index is None or index in self.dead:
            return
        try:
            await asyncio.wait_for(self.workers[index].open.remote(episode_id), CALL_MARGIN_S * 3)
        except (ray.exceptions.RayError, asyncio.TimeoutError) as err:
            self._lost(index, err)

    async def run(self, episode_id: str, code: str, timeout_s: float | None = None) -> ExecResult:
        index = self._route(episode_id)
        if index is None:
            return ExecResult(status=ExecStatus.INFRA_ERROR, error="no sandbox worker is alive (infrastructure)")
        if index in self.dead:
            return ExecResult(status=ExecStatus.INFRA_ERROR, error="the episode's sandbox worker died (infrastructure)")
        limit = (timeout_s if timeout_s is not None else self.cell_timeout_s) + CALL_MARGIN_S
        try:
            return await asyncio.wait_for(self.workers[index].run.remote(episode_id, code, timeout_s), limit)
        except (ray.exceptions.RayError, asyncio.TimeoutError) as err:
            return self._lost(index, err)

    async def close(self, episode_id: str) -> None:
        index = self.routes.pop(episode_id, None)
        if index is None:
            return
        self.load[index] -= 1
        if index in self.dead:
            return
        try:
            await asyncio.wait_for(self.workers[index].close.remote(episode_id), CALL_MARGIN_S)
        except (ray.exceptions.RayError, asyncio.TimeoutError) as err:
            self._lost(index, err)
