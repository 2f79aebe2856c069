"""`RolloutWorker`: a thin Ray actor that owns a generation engine and runs many episodes on it.

    worker = RolloutWorker.remote(cfg.model_dump(), sandbox_workers)
    trajectories = ray.get(worker.generate_group.remote(question, k=24, seed=step))
    ray.get(worker.load_adapter.remote(version, tensors))
    ray.get(worker.sleep.remote()); ray.get(worker.wake.remote())   # collocated phases

Policy versions (`rlsys.controller.weight_sync`): a fresh or restarted worker holds no adapter
(version -1) and generates from the base model; `generate_group(..., adapter=(v, [ref]))` loads
adapter v first when the worker holds an older one, so no group starts on a missing adapter.
Asleep (the sequential phase schedule), the worker refuses to generate, and an adapter pushed
meanwhile is kept and installed at `wake()` (an engine must be awake to take an adapter).

Episodes of every group in flight share one engine (HF batches them; vLLM schedules them) and
at most `rollout.concurrency` run at once. Code runs on the given `SandboxWorker` handles
(through `SandboxClient`: sticky routing, a dead worker's cells come back as infra errors), or,
with none given, on a local `SandboxPool` whose tool calls the environment serves (`env.name`;
wiki_search: a local `CorpusService`). An environment without a sandbox (`uses_sandbox` False)
never opens one.
"""

from __future__ import annotations

import asyncio
import logging
import os
from typing import Any

import ray

from rlsys.config import Config
from rlsys.corpus.types import Question
from rlsys.rollout.types import Trajectory

log = logging.getLogger(__name__)
NO_ADAPTER = -1


class EngineAsleep(RuntimeError):
    """A generation request reached a worker whose engine is asleep (outside its phase)."""


@ray.remote(num_cpus=0.5)
class RolloutWorker:
    """Generates groups of episodes with one engine; receives adapter pushes."""

    def __init__(self, cfg: Config | dict[str, Any], sandbox_workers: list[Any] | None = None):
        os.environ["OMP_NUM_THREADS"] = "1"
        import torch

        from rlsys.env.registry import environment_of
        from rlsys.rollout.engines import build_engine, lora_settings

        torch.set_num_threads(1)
        self.cfg = cfg if isinstance(cfg, Config) else Config.model_validate(cfg)
        self.env = environment_of(self.cfg)
        lora = self.cfg.learner.lora
        self.engine, self.tokenizer = build_engine(
            self.cfg.model, self.cfg.rollout, lora_settings(lora.r, lora.alpha, lora.target_modules),
            max_staleness=self.cfg.train.max_staleness,
        )
        self._adapter_version = NO_ADAPTER  # nothing loaded yet: the base model
        self.asleep = False
        self._deferred: tuple[int, Any, dict[str, Any] | None] | None = None  # adapter pushed while asleep
        self._adapter_lock: asyncio.Lock | None = None
        self.executor: Any = None
        if sandbox_workers:
            from rlsys.actors.sandbox_worker import SandboxClient

            self.executor = SandboxClient(sandbox_workers, cell_timeout_s=self.cfg.sandbox.cell_timeout_s)
        self._local_pool = None
        self._semaphore: asyncio.Semaphore | None = None

    async def _ensure_executor(self) -> Any:
        if self.executor is None and self.env.uses_sandbox:
            from rlsys.sandbox.pool import SandboxPool

            tools = await asyncio.to_thread(self.env.tool_server, self.cfg)
            self._local_pool = await SandboxPool(self.cfg.sandbox, tools, tool_specs=self.env.tool_specs).start()
            self.executor = self._local_pool
        if self._semaphore is None:
            self._semaphore = asyncio.Semaphore(self.cfg.rollout.concurrency)
        return self.executor

    async def generate_group(
        self, question: Question, k: int | None = None, seed: int | None = None, temperature: float | None = None,
        adapter: tuple[int, list[Any]] | None = None,
    ) -> list[Trajectory]:
        """K episodes of `question`; temperatures from U[min, max] (or all `temperature`).
        `adapter` = (version, [tensors ref]): installed first when this worker holds an older one."""
        from rlsys.rollout.episode import run_group

        if self.asleep:
            raise EngineAsleep(f"rollout engine asleep: no generation outside the generate phase ({question.id})")
        await self._install(adapter)
        executor = await self._ensure_executor()
        group = await run_group(
            question, k or self.cfg.rollout.group_size, self.engine, self.tokenizer, executor, self.cfg.rollout,
            cell_timeout_s=self.cfg.sandbox.cell_timeout_s, seed=seed, semaphore=self._semaphore,
            temperature=temperature, env=self.env,
        )
        if getattr(self.engine, "dead", False):  # vLLM's EngineDeadError: only a new process recovers
            print("RolloutWorker: the generation engine died; exiting so that Ray restarts this actor", flush=True)
            os._exit(1)
        return group

    async def generate_groups(
        self, questions: list[Question], k: int | None = None, seed: int | None = None, temperature: float | None = None
    ) -> list[list[Trajectory]]:
        """Several groups at once (their episodes share the engine's batches)."""
        return list(await asyncio.gather(*(self.generate_group(q, k, seed, temperature) for q in questions)))

    async def search(self, question: Question, strategy: str, options: dict[str, Any], seed: int | None = None,
                     temperature: float | None = None, adapter: tuple[int, list[Any]] | None = None) -> Any:
        """Answers `question` with the inference-time search `strategy` (`rlsys.search.strategies`)
        on this worker's engine and sandbox; returns its `Searched` (pick, candidates, budget)."""
        from rlsys.rollout.episode import EpisodeLimits
        from rlsys.search.strategies import SearchContext, SearchOptions, get_strategy

        run = get_strategy(strategy)
        if self.asleep:
            raise EngineAsleep(f"rollout engine asleep: no search outside the generate phase ({question.id})")
        await self._install(adapter)
        limits = EpisodeLimits.from_config(self.cfg.rollout, self.cfg.sandbox.cell_timeout_s)
        ctx = SearchContext(self.engine, self.tokenizer, await self._ensure_executor(), limits, self.env)
        temperature = self.cfg.rollout.temperature_min if temperature is None else temperature
        return await run(question, ctx, SearchOptions(**options), temperature, seed)

    async def _install(self, adapter: tuple[int, list[Any]] | None) -> None:
        """Loads the launched adapter (version, [tensors ref]) when this worker holds an older one."""
        if adapter is not None and self.policy_version() < adapter[0]:
            version, (tensors_ref,) = adapter
            deadline = self.cfg.train.push_timeout_s
            try:  # the driver's object store may be gone with its node: the group fails, it does not hang
                tensors = await asyncio.wait_for(tensors_ref, deadline)
            except asyncio.TimeoutError:
                raise RuntimeError(f"adapter v{version} did not arrive from the driver within "
                                   f"train.push_timeout_s={deadline:g} s") from None
            async with self._lock():
                if self.policy_version() < version:
                    log.info("adapter v%d loaded before the first episode (held v%d)", version, self.policy_version())
                    await self.engine.load_adapter(version, tensors, None)
                    self._adapter_version = version

    def _lock(self) -> asyncio.Lock:
        if self._adapter_lock is None:
            self._adapter_lock = asyncio.Lock()
        return self._adapter_lock

    async def load_adapter(self, version: int, tensors: dict[str, Any], config: dict[str, Any] | None = None) -> int:
        """Installs adapter `version` now, or at `wake()` when asleep; returns the version."""
        async with self._lock():
            if self.asleep:
                self._deferred = (version, tensors, config)
            else:
                await self.engine.load_adapter(version, tensors, config)
                self._adapter_version = version
        return version

    def policy_version(self) -> int:
        """The adapter version this worker generates with (once awake); -1: none, the base model."""
        if self._deferred is not None:
            return self._deferred[0]
        return self._adapter_version

    def engine_version(self) -> int:
        """The version the engine itself holds right now (differs while an adapter waits for wake)."""
        return int(self.engine.policy_version)

    async def sleep(self) -> dict[str, Any]:
        """Releases the engine's accelerator memory until `wake()` (the engine decides how: vLLM's
        sleep mode, HF's weights and KV to host memory); generation is refused meanwhile."""
        async with self._lock():
            if not self.asleep:
                await self.engine.sleep()
                self.asleep = True
        return self.phase_state()

    async def wake(self) -> dict[str, Any]:
        """Wakes the engine, then installs an adapter pushed while it slept."""
        async with self._lock():
            if self.asleep:
                await self.engine.wake()
                self.asleep = False
            if self._deferred is not None:
                version, tensors, config = self._deferred
                await self.engine.load_adapter(version, tensors, config)
                self._adapter_version = version
                self._deferred = None
        return self.phase_state()

    def phase_state(self) -> dict[str, Any]:
        return {"asleep": self.asleep, "engine": True, "version": self.policy_version(),
                "engine_version": self.engine_version()}

    def stats(self) -> dict[str, float]:
        s = getattr(self.engine, "stats", None)
        if s is None:
            return {}
        return {"rollout/engine_busy_s": s.busy_s, "rollout/batches": float(s.batches),
                "rollout/generated_tokens": float(s.generated_tokens),
                "rollout/mean_batch": s.batch_rows / max(1, s.steps)}

    def ready(self) -> bool:
        return True

    def process_id(self) -> int:
        """The actor process's pid (tells a restarted instance from the old one)."""
        return os.getpid()

    async def shutdown(self) -> None:
        if self._local_pool is not None:
            await self._local_pool.shutdown()
