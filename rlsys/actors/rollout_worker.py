"""`RolloutWorker`: a thin Ray actor that owns a generation engine and runs many episodes on it.

    worker = RolloutWorker.remote(cfg.model_dump(), sandbox_workers)
    trajectories = ray.get(worker.generate_group.remote(question, k=24, seed=step))
    ray.get(worker.load_adapter.remote(version, tensors))

Episodes of every group in flight share one engine (HF batches them; vLLM schedules them) and
at most `rollout.concurrency` run at once. Code runs on the given `SandboxWorker` handles
(through `SandboxClient`: sticky routing, a dead worker's cells come back as infra errors), or,
with none given, on a local `SandboxPool` answering tool calls from a local `CorpusService`.
"""

from __future__ import annotations

import asyncio
import os
from typing import Any

import ray

from rlsys.config import Config
from rlsys.corpus.types import Question
from rlsys.rollout.types import Trajectory


@ray.remote(num_cpus=0.5)
class RolloutWorker:
    """Generates groups of episodes with one engine; receives adapter pushes."""

    def __init__(self, cfg: Config | dict[str, Any], sandbox_workers: list[Any] | None = None):
        os.environ["OMP_NUM_THREADS"] = "1"
        import torch

        from rlsys.rollout.engines import build_engine, lora_settings

        torch.set_num_threads(1)
        self.cfg = cfg if isinstance(cfg, Config) else Config.model_validate(cfg)
        lora = self.cfg.learner.lora
        self.engine, self.tokenizer = build_engine(
            self.cfg.model, self.cfg.rollout, lora_settings(lora.r, lora.alpha, lora.target_modules),
            max_staleness=self.cfg.train.max_staleness,
        )
        self.executor: Any = None
        if sandbox_workers:
            from rlsys.actors.sandbox_worker import SandboxClient

            self.executor = SandboxClient(sandbox_workers, cell_timeout_s=self.cfg.sandbox.cell_timeout_s)
        self._local_pool = None
        self._semaphore: asyncio.Semaphore | None = None

    async def _ensure_executor(self) -> Any:
        if self.executor is None:
            from rlsys.corpus.service import CorpusService
            from rlsys.sandbox.pool import SandboxPool

            corpus = await asyncio.to_thread(CorpusService.from_config, self.cfg.corpus)
            self._local_pool = await SandboxPool(self.cfg.sandbox, corpus.call_tool).start()
            self.executor = self._local_pool
        if self._semaphore is None:
            self._semaphore = asyncio.Semaphore(self.cfg.rollout.concurrency)
        return self.executor

    async def generate_group(
        self, question: Question, k: int | None = None, seed: int | None = None, temperature: float | None = None
    ) -> list[Trajectory]:
        """K episodes of `question`; temperatures from U[min, max] (or all `temperature`)."""
        from rlsys.rollout.episode import run_group

        executor = await self._ensure_executor()
        group = await run_group(
            question, k or self.cfg.rollout.group_size, self.engine, self.tokenizer, executor, self.cfg.rollout,
            cell_timeout_s=self.cfg.sandbox.cell_timeout_s, seed=seed, semaphore=self._semaphore,
            temperature=temperature,
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

    async def load_adapter(self, version: int, tensors: dict[str, Any], config: dict[str, Any] | None = None) -> int:
        await self.engine.load_adapter(version, tensors, config)
        return version

    def policy_version(self) -> int:
        return int(self.engine.policy_version)

    async def sleep(self) -> None:
        await self.engine.sleep()

    async def wake(self) -> None:
        await self.engine.wake()

    def stats(self) -> dict[str, float]:
        s = getattr(self.engine, "stats", None)
        if s is None:
            return {}
        return {"rollout/engine_busy_s": s.busy_s, "rollout/batches": float(s.batches),
                "rollout/generated_tokens": float(s.generated_tokens),
                "rollout/mean_batch": s.batch_rows / max(1, s.steps)}

    def ready(self) -> bool:
        return True

    async def shutdown(self) -> None:
        if self._local_pool is not None:
            await self._local_pool.shutdown()
