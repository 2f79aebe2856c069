"""`SandboxPool`: a warm pool of isolated sandboxes implementing the `CodeExecutor` contract.

An episode holds one sandbox from its first cell to `close` (its interpreter keeps the
episode's globals); `close` resets the sandbox (every process killed, /tmp wiped, a fresh
interpreter started) in the background and returns it to the pool. A sandbox that stops
speaking the protocol — it died, hung past the cell deadline, or sent garbage — is killed and
replaced; the cell is reported to the model as killed/timeout and counted. Nothing waits
without a deadline. Backends: Docker (hardened containers) or bubblewrap; `auto` takes Docker
when an engine answers and the image exists.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from rlsys.sandbox.channel import ChannelBroken
from rlsys.sandbox.config import SandboxConfig
from rlsys.sandbox.tools import ToolGate
from rlsys.sandbox.types import ExecResult, ExecStatus, ToolFn

log = logging.getLogger(__name__)
RESET_TIMEOUT_S = 15.0
_pool_ids = itertools.count()


def make_backend(config: SandboxConfig, backend: str | None = None, pool_tag: str = "default"):
    """The backend object for `backend` (default: config.backend); `auto` prefers Docker."""
    from rlsys.sandbox.bwrap_backend import BwrapBackend
    from rlsys.sandbox.docker_backend import DockerBackend, DockerUnavailable

    kind = backend or config.backend
    if kind in ("auto", "docker"):
        try:
            return DockerBackend(config, pool_tag=pool_tag)
        except DockerUnavailable as err:
            if kind == "docker":
                raise
            log.warning("sandbox: Docker not usable (%s); using bubblewrap", err)
    elif kind != "bwrap":
        raise ValueError(f"unknown sandbox backend {kind!r} (auto, docker, bwrap)")
    return BwrapBackend(config)


@dataclass
class _Slot:
    sandbox: Any
    cells: int = 0


@dataclass
class _Episode:
    slot: _Slot | None = None
    cells: int = 0
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)


class SandboxPool:
    """Warm pool of sandboxes; `await open(id)`, `await run(id, code)`, `await close(id)`."""

    def __init__(self, config: SandboxConfig, tool_fn: ToolFn, size: int | None = None,
                 backend: str | None = None):
        self.config, self.tool_fn = config, tool_fn
        self.size = size or config.containers_per_worker
        self.backend_name = backend
        self.backend: Any = None
        self.counts: Counter[str] = Counter()
        self._tag = f"{int(time.time()) % 100000}-{next(_pool_ids)}"
        self._names = itertools.count()
        self._free: asyncio.Queue[_Slot] = asyncio.Queue()
        self._episodes: dict[str, _Episode] = {}
        self._tasks: set[asyncio.Task] = set()
        self._start_lock = asyncio.Lock()
        self._closed = False
        self._live = 0  # sandboxes running or starting

    @property
    def kind(self) -> str:
        return self.backend.kind if self.backend else "unstarted"

    async def start(self) -> "SandboxPool":
        async with self._start_lock:
            if self.backend is None:
                self.backend = await asyncio.to_thread(make_backend, self.config, self.backend_name, self._tag)
                gate = asyncio.Semaphore(4)

                async def one():
                    async with gate:
                        await self._add_sandbox()

                await asyncio.gather(*(one() for _ in range(self.size)))
                log.info("sandbox pool: %d %s sandboxes warm", self._free.qsize(), self.kind)
        return self

    async def __aenter__(self) -> "SandboxPool":
        return await self.start()

    async def __aexit__(self, *exc) -> None:
        await self.shutdown()

    # ------------------------------------------------------------------ sandboxes
    async def _add_sandbox(self, attempts: int = 3) -> bool:
        self._live += 1
        if not await self._start_one(attempts):
            self._live -= 1
            return False
        return True

    async def _start_one(self, attempts: int) -> bool:
        for attempt in range(attempts):
            if self._closed:
                return False
            try:
                name = f"rlsys-sbx-{self._tag}-{next(self._names)}"
                sandbox = await self.backend.start(name)
                self.counts["sandboxes_started"] += 1
                if self._closed:
                    await sandbox.kill()
                    return False
                self._free.put_nowait(_Slot(sandbox))
                return True
            except Exception as err:  # engine hiccup, start deadline: retry with backoff
                self.counts["sandbox_start_failures"] += 1
                log.warning("sandbox start failed (attempt %d/%d): %s", attempt + 1, attempts, err)
                await asyncio.sleep(0.5 * 2**attempt)
        return False

    def _spawn(self, coro) -> None:
        task = asyncio.create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _discard(self, slot: _Slot, replace: bool = True) -> None:
        self._live -= 1
        await slot.sandbox.kill()
        self.counts["sandboxes_replaced"] += 1
        if replace and not self._closed:
            await self._add_sandbox()

    async def _recycle(self, slot: _Slot) -> None:
        if slot.cells >= self.config.max_cells_per_container:
            await self._discard(slot)
            return
        try:
            await slot.sandbox.channel.reset(RESET_TIMEOUT_S)
        except ChannelBroken as err:
            log.info("sandbox %s failed its reset (%s); replacing it", slot.sandbox.name, err)
            await self._discard(slot)
            return
        if self._closed:
            await slot.sandbox.kill()
        else:
            self._free.put_nowait(slot)

    async def _acquire(self) -> _Slot:
        """A free sandbox; when none is free, starts one more (up to size + burst) and waits."""
        if self._free.empty() and not self._closed and self._live < self.size + self.config.burst_containers:
            self._spawn(self._add_sandbox())
        return await asyncio.wait_for(self._free.get(), self.config.acquire_timeout_s)

    # ------------------------------------------------------------------ CodeExecutor
    async def open(self, episode_id: str) -> None:
        """Binds a free sandbox to the episode (waits up to `acquire_timeout_s`; never raises on
        infrastructure trouble: the episode's cells then report `infra_error`)."""
        await self.start()
        episode = self._episodes.setdefault(episode_id, _Episode())
        async with episode.lock:
            if episode.slot is None:
                try:
                    episode.slot = await self._acquire()
                except asyncio.TimeoutError:
                    log.warning("sandbox: no free sandbox for episode %s within %.0fs", episode_id,
                                self.config.acquire_timeout_s)

    async def run(self, episode_id: str, code: str, timeout_s: float | None = None) -> ExecResult:
        if not isinstance(code, str):
            raise TypeError(f"code must be a str, not {type(code).__name__}")
        await self.start()
        timeout = float(timeout_s if timeout_s is not None else self.config.cell_timeout_s)
        episode = self._episodes.setdefault(episode_id, _Episode())
        async with episode.lock:
            if episode.slot is None:
                try:
                    episode.slot = await self._acquire()
                except asyncio.TimeoutError:
                    return self._count(ExecResult(status=ExecStatus.INFRA_ERROR,
                                                  error="no sandbox became free in time (infrastructure)"))
            slot = episode.slot
            if slot.sandbox.channel.reader.at_eof():  # it died between cells: not this cell's doing
                episode.slot = None
                self._spawn(self._discard(slot))
                if episode.cells:
                    return self._count(ExecResult(status=ExecStatus.INFRA_ERROR,
                                                  error="the sandbox was lost between cells (infrastructure)"))
                try:  # nothing of the episode lived there yet: carry on in another sandbox
                    slot = episode.slot = await self._acquire()
                except asyncio.TimeoutError:
                    return self._count(ExecResult(status=ExecStatus.INFRA_ERROR,
                                                  error="no sandbox became free in time (infrastructure)"))
            episode.cells += 1
            gate = ToolGate(self.tool_fn, self.config.max_tool_calls_per_cell, self.config.max_tool_bytes_per_cell)
            started = time.monotonic()
            try:
                result = await slot.sandbox.channel.run_cell(code, timeout, gate)
                slot.cells += 1
            except ChannelBroken as err:
                episode.slot = None
                self._spawn(self._discard(slot))
                log.info("sandbox %s broke during a cell: %s", slot.sandbox.name, err)
                hung = not err.died
                result = ExecResult(
                    status=ExecStatus.TIMEOUT if hung else ExecStatus.KILLED,
                    error=("the sandbox stopped responding and was replaced" if hung else
                           "the sandbox was killed (out of memory, or its processes were killed)")
                    + "; variables from earlier cells are gone",
                    duration_s=time.monotonic() - started, tool_calls=gate.calls, tool_outputs=list(gate.outputs))
            except BaseException:  # cancelled mid-cell: the channel state is unknown
                episode.slot = None
                self._spawn(self._discard(slot))
                raise
            if self._episodes.get(episode_id) is not episode and episode.slot is not None:
                self._spawn(self._recycle(episode.slot))  # closed while this cell ran
                episode.slot = None
            return self._count(result)

    async def close(self, episode_id: str) -> None:
        episode = self._episodes.pop(episode_id, None)
        if episode is None:
            return
        try:
            await asyncio.wait_for(episode.lock.acquire(), RESET_TIMEOUT_S)
        except asyncio.TimeoutError:  # a cell is still running; its sandbox is let go when it ends
            return
        try:
            if episode.slot is not None:
                self._spawn(self._recycle(episode.slot))
                episode.slot = None
        finally:
            episode.lock.release()

    # ------------------------------------------------------------------ lifecycle, stats
    def _count(self, result: ExecResult) -> ExecResult:
        self.counts["cells"] += 1
        self.counts[f"cells_{result.status.value}"] += 1
        self.counts["tool_calls"] += result.tool_calls
        return result

    def stats(self) -> dict[str, Any]:
        return {"backend": self.kind, "size": self.size, "live": self._live, "free": self._free.qsize(),
                "episodes": len(self._episodes), **self.counts}

    async def shutdown(self) -> None:
        self._closed = True
        if self._tasks:  # resets and replacements finish (and kill what they hold) when closed
            await asyncio.wait(list(self._tasks), timeout=RESET_TIMEOUT_S + 5)
        for task in list(self._tasks):
            task.cancel()
        slots = [ep.slot for ep in self._episodes.values() if ep.slot]
        while not self._free.empty():
            slots.append(self._free.get_nowait())
        self._episodes.clear()
        await asyncio.gather(*(s.sandbox.kill() for s in slots), return_exceptions=True)
        if self.backend is not None:
            await asyncio.to_thread(self.backend.close)
