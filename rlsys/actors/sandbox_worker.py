"""`SandboxWorker`: a thin, CPU-only Ray actor around a `SandboxPool`, and `SandboxClient`, the
`CodeExecutor` the rollout loop uses over a list of worker handles.

    workers = create_sandbox_workers(cfg.sandbox, corpus_actors)  # tool calls go to CorpusActor(s)
    # or: SandboxWorker.options(...).remote(cfg.model_dump(), corpus_actors | any ToolFn)
    executor = SandboxClient(workers)                  # open / run / close, like a local pool

An episode sticks to the worker it was opened on. A worker that dies fails its episodes' cells
as `infra_error` (never as model errors) and gets no new episodes for `SUSPECT_S`; then it is
tried again (Ray restarts it, e.g. when its node comes back). A call to a worker that Ray
reports RESTARTING or DEAD (e.g. its node is down) fails within a second
(`rlsys.actors.liveness`), not at its deadline. The worker never blocks its event loop: tool
calls to corpus actors are awaited (no `ray.get` inside the async actor).
`shutdown()` kills every sandbox of the worker (call it before `ray.kill`, or containers stay
until the next worker on the host removes them as orphans).
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import os
import time
from typing import Any

import ray

from rlsys.actors.liveness import ActorUnavailable, await_call
from rlsys.sandbox.config import SandboxConfig
from rlsys.sandbox.pool import SandboxPool
from rlsys.sandbox.types import ExecResult, ExecStatus, ToolFn

log = logging.getLogger(__name__)
CALL_MARGIN_S = 60.0  # a worker gets the cell timeout plus this before the client gives up on it
OPEN_TIMEOUT_S = 3 * CALL_MARGIN_S  # opening an episode may start a sandbox (a cold container)
SUSPECT_S = 30.0      # a worker that failed but may be restarting gets no new episodes for this long


def _tool_source(tools: Any) -> ToolFn:
    """A ToolFn from a ToolFn, a corpus actor handle, or a list of corpus actor handles."""
    if isinstance(tools, (list, tuple)):
        handles = list(tools)
        if not handles:
            raise ValueError("no corpus actors given to answer tool calls")
        fns = [corpus_tool_fn(h) for h in handles]
        turn = itertools.count()

        async def in_turn(name: str, kwargs: dict[str, Any]) -> Any:
            return await fns[next(turn) % len(fns)](name, kwargs)

        return in_turn
    if hasattr(tools, "call_tool") and hasattr(tools.call_tool, "remote"):
        return corpus_tool_fn(tools)
    if callable(tools):
        return tools
    raise TypeError(f"cannot answer tool calls with {type(tools).__name__}: give a ToolFn or corpus actor(s)")


@ray.remote(num_cpus=0.25, max_concurrency=1000)
class SandboxWorker:
    """Holds one warm pool; every method is async so cells of many episodes run concurrently.

    `config` is a `SandboxConfig` (or its dict) or a whole config dict with a `sandbox` section;
    `tools` is a ToolFn, a CorpusActor handle, or a list of them (used in turn). The functions the
    sandboxes define are `tool_specs`, by default those of the environment of a whole config
    (`env.name`), else wiki-search's `TOOL_SPECS`.
    """

    def __init__(self, config: Any, tools: Any, size: int | None = None, backend: str | None = None,
                 tool_specs: list[dict[str, Any]] | None = None):
        os.environ["OMP_NUM_THREADS"] = "1"
        if tool_specs is None and isinstance(config, dict) and "env" in config:
            from rlsys.config import Config
            from rlsys.env.registry import environment_of

            tool_specs = environment_of(Config.model_validate(config)).tool_specs  # the run's environment's tools
        if isinstance(config, dict) and "sandbox" in config:
            config = config["sandbox"]
        cfg = config if isinstance(config, SandboxConfig) else SandboxConfig.model_validate(config)
        self.pool = SandboxPool(cfg, _tool_source(tools), size=size, backend=backend, tool_specs=tool_specs)
        self.opened: set[str] = set()

    async def start(self) -> dict[str, Any]:
        """Starts the pool's spares; prints the backend (and an `auto` fallback warning) once."""
        if self.pool.backend is None:
            await self.pool.start()
            stats = self.pool.stats()
            print(f"[sandbox] backend: {stats['backend']} ({stats['size']} spare sandboxes)", flush=True)
            if stats.get("warning"):
                print(f"[sandbox] WARNING: {stats['warning']}", flush=True)
        return self.pool.stats()

    async def open(self, episode_id: str) -> None:
        self.opened.add(episode_id)
        await self.pool.open(episode_id)

    async def run(self, episode_id: str, code: str, timeout_s: float | None = None) -> ExecResult:
        if episode_id not in self.opened:  # e.g. this actor was restarted: the episode's state is gone
            return ExecResult(status=ExecStatus.INFRA_ERROR,
                              error="the episode is unknown to this sandbox worker (restarted?); infrastructure")
        return await self.pool.run(episode_id, code, timeout_s)

    async def close(self, episode_id: str) -> None:
        self.opened.discard(episode_id)
        await self.pool.close(episode_id)

    async def stats(self) -> dict[str, Any]:
        return self.pool.stats()

    async def shutdown(self) -> dict[str, Any]:
        """Kills every sandbox this worker holds (spares, open episodes) and closes its backend."""
        self.opened.clear()
        await self.pool.shutdown()
        return self.pool.stats()


def create_sandbox_workers(config: SandboxConfig, tools: Any, num_cpus: float = 0.25,
                           backend: str | None = None, start: bool = True) -> list:
    """`config.workers` SandboxWorker actors, each with `containers_per_worker` warm sandboxes;
    `tools` as for `SandboxWorker`."""
    workers = [SandboxWorker.options(num_cpus=num_cpus).remote(config.model_dump(), tools, None, backend)
               for _ in range(config.workers)]
    if start:
        report_backend(ray.get([w.start.remote() for w in workers], timeout=config.start_timeout_s * 3))
    return workers


def report_backend(stats: list[dict[str, Any]]) -> str:
    """Prints (and returns) which backend the sandbox workers use, one line; the fallback warning too."""
    kinds = sorted({s.get("backend", "?") for s in stats})
    line = f"[sandbox] backend: {', '.join(kinds)} ({len(stats)} worker(s), {stats[0].get('size') if stats else 0} spares each)"
    print(line, flush=True)
    for warning in sorted({s["warning"] for s in stats if s.get("warning")}):
        print(f"[sandbox] WARNING: {warning}", flush=True)
    return line


def corpus_tool_fn(corpus_actor, method: str = "call_tool", timeout_s: float = 30.0) -> ToolFn:
    """An async ToolFn that awaits a corpus actor (`actor.<method>.remote(name, kwargs)`); never raises."""

    async def call_tool(name: str, kwargs: dict[str, Any]) -> Any:
        try:
            return await asyncio.wait_for(getattr(corpus_actor, method).remote(name, kwargs), timeout_s)
        except Exception as err:  # actor died, timed out: the cell reads an error, the episode goes on
            return f"Error: the corpus service did not answer ({type(err).__name__})"

    return call_tool


class SandboxClient:
    """`CodeExecutor` over SandboxWorker handles: sticky routing by episode, dead workers skipped."""

    def __init__(self, workers: list, cell_timeout_s: float = 10.0, open_timeout_s: float = OPEN_TIMEOUT_S):
        if not workers:
            raise ValueError("SandboxClient needs at least one SandboxWorker handle")
        self.workers = list(workers)
        self.cell_timeout_s = cell_timeout_s
        self.open_timeout_s = open_timeout_s
        self.routes: dict[str, int] = {}
        self.load = [0] * len(workers)
        self.dead: set[int] = set()
        self.suspect_until: dict[int, float] = {}
        self.lost: set[str] = set()

    def _route(self, episode_id: str) -> int | None:
        if episode_id in self.routes:
            return self.routes[episode_id]
        alive = [i for i in range(len(self.workers)) if i not in self.dead]
        healthy = [i for i in alive if self.suspect_until.get(i, 0.0) <= time.monotonic()]
        alive = healthy or alive
        if not alive:
            return None
        index = min(alive, key=lambda i: self.load[i])
        self.routes[episode_id] = index
        self.load[index] += 1
        return index

    def _lost(self, index: int, err: BaseException, episode_id: str | None = None) -> ExecResult:
        if isinstance(err, (ray.exceptions.RayActorError, ActorUnavailable)):
            # dead or restarting: no new episodes for a while, then it is tried again (a restartable
            # worker comes back, e.g. when its stopped node returns; one that stays dead fails fast)
            self.suspect_until[index] = time.monotonic() + SUSPECT_S
        if episode_id is not None:
            self.lost.add(episode_id)  # whatever happens to the worker, this episode's state is gone
        log.warning("sandbox worker %d failed: %s", index, err)
        return ExecResult(status=ExecStatus.INFRA_ERROR,
                          error=f"sandbox worker unavailable ({type(err).__name__}); infrastructure error")

    async def open(self, episode_id: str) -> None:
        index = self._route(episode_id)
        if index is None or index in self.dead:
            return
        try:
            worker = self.workers[index]
            await await_call(worker.open.remote(episode_id), worker, self.open_timeout_s)
        except (ray.exceptions.RayError, ActorUnavailable, asyncio.TimeoutError) as err:
            self._lost(index, err, episode_id)

    async def run(self, episode_id: str, code: str, timeout_s: float | None = None) -> ExecResult:
        index = self._route(episode_id)
        if index is None:
            return ExecResult(status=ExecStatus.INFRA_ERROR, error="no sandbox worker is alive (infrastructure)")
        if index in self.dead or episode_id in self.lost:
            return ExecResult(status=ExecStatus.INFRA_ERROR, error="the episode's sandbox worker died (infrastructure)")
        limit = (timeout_s if timeout_s is not None else self.cell_timeout_s) + CALL_MARGIN_S
        try:
            worker = self.workers[index]
            return await await_call(worker.run.remote(episode_id, code, timeout_s), worker, limit)
        except (ray.exceptions.RayError, ActorUnavailable, asyncio.TimeoutError) as err:
            return self._lost(index, err, episode_id)

    async def close(self, episode_id: str) -> None:
        index = self.routes.pop(episode_id, None)
        self.lost.discard(episode_id)
        if index is None:
            return
        self.load[index] -= 1
        if index in self.dead:
            return
        try:
            worker = self.workers[index]
            await await_call(worker.close.remote(episode_id), worker, CALL_MARGIN_S)
        except (ray.exceptions.RayError, ActorUnavailable, asyncio.TimeoutError) as err:
            self._lost(index, err)
