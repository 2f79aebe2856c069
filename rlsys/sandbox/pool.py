"""`SandboxPool`: pre-started spare sandboxes implementing the `CodeExecutor` contract.

Every episode gets a FRESH sandbox (a container, or a bwrap process tree with its own mount,
IPC, PID, network and user namespaces) taken from the spares, and holds it from its first cell
to `close`; `close` kills it and a new spare is started in the background. No sandbox ever
serves a second episode, so nothing an episode leaves behind (files of any permission, SysV or
POSIX IPC, abstract sockets, background processes, a full tmpfs, changed rlimits, pinned
memory) can be seen by another one: isolation by construction, with no clean-up pass to get
wrong. The spares hide the start latency: opening an episode only takes one off a queue.

Statuses are honest: what the cell causes is the policy's outcome (`error`, `timeout`,
`killed`); only what the host causes is `infra_error` (the sandbox was killed from outside, its
engine restarted, the container ran out of memory, no sandbox was free in time, the episode
outlived its TTL). A sandbox that dies mid-cell is asked how it died (`exit_cause`) to decide.
Nothing waits without a deadline; nothing raises out of `run` for what a sandbox sends.
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
from rlsys.sandbox.owner import owner_tag
from rlsys.sandbox.tools import TOOL_SPECS, ToolGate, checked_specs
from rlsys.sandbox.types import ExecResult, ExecStatus, ToolFn

log = logging.getLogger(__name__)
CLOSE_WAIT_S = 15.0
_pool_ids = itertools.count()
INSTALL_HINT = ("install and start Docker with `sudo scripts/setup-sandbox-host.sh` (apt-get install docker.io; "
                "dockerd; rlsys sandbox build-image --offline)")


class SandboxUnavailable(RuntimeError):
    """No sandbox of the requested backend could be started; the message says why."""


def make_backend(config: SandboxConfig, backend: str | None = None, pool_tag: str = "default"):
    """The backend object for `backend` (default: config.backend); `auto` prefers Docker and says
    so in one warning line when it falls back to bubblewrap."""
    from rlsys.sandbox.bwrap_backend import BwrapBackend
    from rlsys.sandbox.docker_backend import DockerBackend, DockerUnavailable

    kind = backend or config.backend
    if kind in ("auto", "docker"):
        try:
            return DockerBackend(config, pool_tag=pool_tag)
        except DockerUnavailable as err:
            if kind == "docker":
                raise
            backend_obj = BwrapBackend(config)
            backend_obj.warning = f"sandbox backend auto: {err}; using bubblewrap instead ({INSTALL_HINT})"
            log.warning("%s", backend_obj.warning)
            return backend_obj
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
    opened: float = field(default_factory=time.monotonic)
    expired: bool = False
    lost: str | None = None  # who lost the episode's sandbox: "cell" (it goes on in a fresh one) or "host"


class SandboxPool:
    """Spare sandboxes, one fresh per episode; `await open(id)`, `await run(id, code)`, `await close(id)`."""

    def __init__(self, config: SandboxConfig, tool_fn: ToolFn, size: int | None = None,
                 backend: str | None = None, tool_specs: list[dict[str, Any]] | None = None):
        self.config, self.tool_fn = config, tool_fn
        # the functions every sandbox defines and the gate accepts: the environment's `tool_specs`
        self.tool_specs = checked_specs(TOOL_SPECS if tool_specs is None else tool_specs)
        self.size = size or config.containers_per_worker
        self.backend_name = backend
        self.backend: Any = None
        self.counts: Counter[str] = Counter()
        # pid + start time + pool number: unique on the host, also when pids are reused
        self._tag = f"{owner_tag()}-{next(_pool_ids)}"
        self._names = itertools.count()
        self._free: asyncio.Queue[_Slot] = asyncio.Queue()
        self._episodes: dict[str, _Episode] = {}
        self._tasks: set[asyncio.Task] = set()
        self._start_lock = asyncio.Lock()
        self._closed = False
        self._live = 0      # sandboxes running or starting (spares + held)
        self._starting = 0  # of which still starting
        self._last_error = ""
        self._reaper: asyncio.Task | None = None

    @property
    def kind(self) -> str:
        return self.backend.kind if self.backend else "unstarted"

    @property
    def warning(self) -> str | None:
        """The one-line warning of an `auto` backend that fell back to bubblewrap, if it did."""
        return getattr(self.backend, "warning", None)

    async def start(self) -> "SandboxPool":
        """Starts the backend and `size` spares; raises SandboxUnavailable when none starts."""
        async with self._start_lock:
            if self.backend is None:
                backend = await asyncio.to_thread(make_backend, self.config, self.backend_name, self._tag)
                backend.tool_specs = self.tool_specs
                self.backend = backend
                started = await asyncio.gather(*[self._reserve() for _ in range(self.size)])
                if not any(started):
                    self.backend = None
                    await asyncio.to_thread(backend.close)
                    raise SandboxUnavailable(f"no {backend.kind} sandbox could be started: {self._last_error}")
                self._reaper = asyncio.create_task(self._reap_expired())
                log.info("sandbox pool: %d %s spare sandboxes warm", self._free.qsize(), self.kind)
        return self

    async def __aenter__(self) -> "SandboxPool":
        return await self.start()

    async def __aexit__(self, *exc) -> None:
        await self.shutdown()

    # ------------------------------------------------------------------ sandboxes
    def _reserve(self):
        """Counts a sandbox as live and starting now; returns the coroutine that starts it."""
        self._live += 1
        self._starting += 1
        return self._add_sandbox()

    async def _add_sandbox(self, attempts: int = 3) -> bool:
        try:
            ok = await self._start_one(attempts)
        finally:
            self._starting -= 1
        if not ok:
            self._live -= 1
        return ok

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
                self._last_error = f"{type(err).__name__}: {err}"
                log.warning("sandbox start failed (attempt %d/%d): %s", attempt + 1, attempts, err)
                await asyncio.sleep(0.5 * 2**attempt)
        return False

    def _spawn(self, coro) -> None:
        task = asyncio.create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _refill(self) -> None:
        """Starts spares until `size` are free or starting (never more than size + burst live)."""
        while (not self._closed and self._free.qsize() + self._starting < self.size
               and self._live < self.size + self.config.burst_containers):
            self._spawn(self._reserve())

    async def _discard(self, slot: _Slot) -> None:
        """Kills a sandbox (it never serves another episode) and starts a spare in its place."""
        self._live -= 1
        await slot.sandbox.kill()
        self.counts["sandboxes_discarded"] += 1
        self._refill()

    def _live_discard(self, slot: _Slot) -> None:
        self._spawn(self._discard(slot))

    async def _acquire(self) -> _Slot:
        """A fresh spare; when none is free, starts one more (up to size + burst) and waits."""
        if self._free.empty() and not self._closed and self._starting == 0 \
                and self._live < self.size + self.config.burst_containers:
            self._spawn(self._reserve())
        deadline = time.monotonic() + self.config.acquire_timeout_s
        while True:
            slot = await asyncio.wait_for(self._free.get(), max(0.0, deadline - time.monotonic()))
            if not slot.sandbox.channel.reader.at_eof():
                break
            # it died while it waited as a spare (engine restarted, killed from outside): replace it
            self.counts["spares_lost"] += 1
            self._live_discard(slot)
        self._refill()
        return slot

    async def _reap_expired(self) -> None:
        """Releases the sandboxes of episodes open longer than `episode_ttl_s`."""
        ttl = self.config.episode_ttl_s
        while not self._closed:
            await asyncio.sleep(min(30.0, ttl / 4))
            now = time.monotonic()
            for episode_id, episode in list(self._episodes.items()):
                if now - episode.opened > ttl and not episode.lock.locked() and not episode.expired:
                    episode.expired = True
                    self.counts["episodes_expired"] += 1
                    log.warning("sandbox: episode %s outlived its %.0fs TTL; its sandbox is released", episode_id, ttl)
                    if episode.slot is not None:
                        slot, episode.slot = episode.slot, None
                        self._spawn(self._discard(slot))

    # ------------------------------------------------------------------ CodeExecutor
    async def open(self, episode_id: str) -> None:
        """Binds a fresh sandbox to the episode (waits up to `acquire_timeout_s`; never raises on
        infrastructure trouble: the episode's cells then report `infra_error`)."""
        await self.start()
        episode = self._episodes.setdefault(episode_id, _Episode())
        async with episode.lock:
            if episode.slot is None and not episode.cells and not episode.expired:
                started = time.monotonic()
                try:
                    episode.slot = await self._acquire()
                    self.counts["episode_open_ms_total"] += int((time.monotonic() - started) * 1000)
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
            if episode.expired:
                return self._count(ExecResult(status=ExecStatus.INFRA_ERROR, error=(
                    f"the episode outlived its {self.config.episode_ttl_s:g}s time-to-live (infrastructure)")))
            if episode.slot is None:
                if episode.cells and episode.lost != "cell":  # the host lost its sandbox (and so its state)
                    return self._count(ExecResult(status=ExecStatus.INFRA_ERROR,
                                                  error="the episode's sandbox was lost (infrastructure)"))
                # first cell, or the episode's own code wrecked its sandbox: it goes on in a fresh one
                try:
                    episode.slot = await self._acquire()
                except asyncio.TimeoutError:
                    return self._count(ExecResult(status=ExecStatus.INFRA_ERROR,
                                                  error="no sandbox became free in time (infrastructure)"))
            slot = episode.slot
            if slot.cells >= self.config.max_cells_per_container:
                return self._count(ExecResult(status=ExecStatus.ERROR, error=(
                    f"RuntimeError: this episode reached its limit of {self.config.max_cells_per_container} cells")))
            if slot.sandbox.channel.reader.at_eof() and not episode.cells:  # nothing of the episode lived there
                self._live_discard(slot)
                try:
                    slot = episode.slot = await self._acquire()
                except asyncio.TimeoutError:
                    episode.slot = None
                    return self._count(ExecResult(status=ExecStatus.INFRA_ERROR,
                                                  error="no sandbox became free in time (infrastructure)"))
            if slot.sandbox.channel.reader.at_eof():  # it died between cells
                return self._count(await self._lost(episode, slot, between_cells=True, started=time.monotonic()))
            episode.cells += 1
            slot.cells += 1
            gate = ToolGate(self.tool_fn, self.config.max_tool_calls_per_cell, self.config.max_tool_bytes_per_cell,
                            specs=self.tool_specs)
            started = time.monotonic()
            oom_before = slot.sandbox.oom_kills()
            try:
                result = await slot.sandbox.channel.run_cell(code, timeout, gate, self.config.output_bytes)
                if result.status is ExecStatus.KILLED and await self._out_of_memory(slot, oom_before):
                    result = self._replace_after_oom(episode, slot, result)
            except ChannelBroken as err:
                log.info("sandbox %s broke during a cell: %s", slot.sandbox.name, err)
                result = await self._lost(episode, slot, between_cells=False, started=started, hung=not err.died)
                result.tool_calls, result.tool_outputs = gate.calls, list(gate.outputs)
            except BaseException:  # cancelled mid-cell: the channel state is unknown
                episode.slot, episode.lost = None, "host"
                self._spawn(self._discard(slot))
                raise
            if self._episodes.get(episode_id) is not episode and episode.slot is not None:
                self._spawn(self._discard(episode.slot))  # closed while this cell ran
                episode.slot = None
            return self._count(result)

    @staticmethod
    async def _out_of_memory(slot: _Slot, before: int | None) -> bool:
        """Whether the kernel OOM-killed a process of the sandbox during the cell."""
        after = slot.sandbox.oom_kills()
        if before is not None and after is not None:
            return after > before
        return await slot.sandbox.oom_killed()

    def _replace_after_oom(self, episode: _Episode, slot: _Slot, result: ExecResult) -> ExecResult:
        """The cell's interpreter was killed for the sandbox's memory cap: the cell's outcome
        (scored), said as such; the episode goes on in a fresh sandbox, since what filled the
        memory (pinned SysV segments, tmpfs files) can outlive the interpreter."""
        self.counts["cells_out_of_memory"] += 1
        episode.slot, episode.lost = None, "cell"
        self._spawn(self._discard(slot))
        result.error = (f"MemoryError: the code used more than the sandbox's memory cap of {self.config.memory_mb} MB "
                        "and was killed (out of memory); the sandbox was replaced: variables and files from "
                        "earlier cells are gone")
        return result

    async def _lost(self, episode: _Episode, slot: _Slot, between_cells: bool, started: float,
                    hung: bool = False) -> ExecResult:
        """The result of a cell whose sandbox stopped answering: the cell's doing or the host's."""
        episode.slot = None
        duration = time.monotonic() - started
        cause = "cell" if hung else await slot.sandbox.exit_cause()
        episode.lost = "cell" if cause == "cell" else "host"
        self._spawn(self._discard(slot))
        if hung:  # the supervisor did not answer within the cell's deadline: the cell starved it
            return ExecResult(status=ExecStatus.TIMEOUT, duration_s=duration, error=(
                "the sandbox stopped responding and was replaced; variables from earlier cells are gone"))
        if cause == "cell":  # the supervisor exited by itself: something the cell did
            return ExecResult(status=ExecStatus.KILLED, duration_s=duration, error=(
                "the sandbox was killed by what the code did; variables from earlier cells are gone"))
        self.counts["sandboxes_lost"] += 1
        return ExecResult(status=ExecStatus.INFRA_ERROR, duration_s=duration, error=(
            f"the sandbox was lost {'between cells' if between_cells else 'during the cell'} ({cause}; infrastructure)"))

    async def close(self, episode_id: str) -> None:
        episode = self._episodes.pop(episode_id, None)
        if episode is None:
            return
        try:
            await asyncio.wait_for(episode.lock.acquire(), CLOSE_WAIT_S)
        except asyncio.TimeoutError:  # a cell is still running; its sandbox is let go when it ends
            return
        try:
            if episode.slot is not None:
                self._spawn(self._discard(episode.slot))
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
                "episodes": len(self._episodes), "warning": self.warning, **self.counts}

    async def shutdown(self) -> None:
        """Kills every sandbox (spares, held, starting) and closes the backend; idempotent."""
        self._closed = True
        if self._reaper is not None:
            self._reaper.cancel()
        if self._tasks:  # discards and starts finish (and kill what they hold) when closed
            await asyncio.wait(list(self._tasks), timeout=CLOSE_WAIT_S + 5)
        for task in list(self._tasks):
            task.cancel()
        slots = [ep.slot for ep in self._episodes.values() if ep.slot]
        while not self._free.empty():
            slots.append(self._free.get_nowait())
        self._episodes.clear()
        await asyncio.gather(*(s.sandbox.kill() for s in slots), return_exceptions=True)
        if self.backend is not None:
            await asyncio.to_thread(self.backend.close)
