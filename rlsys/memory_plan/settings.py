"""Engine settings decided by the memory plan (collocated mode), and applying them to the config.

    settings = engine_settings(plan, cfg)
    changes = apply_settings(cfg, settings)   # ["rollout.concurrency: 96 -> 4", ...]

Per awake engine: its vLLM `gpu_memory_utilization` (weights + LoRA slots + workspace + the KV
the plan gives it, plus its CUDA context, over the GPU) and that KV in bytes; the LoRA slots
(`max_loras = train.max_staleness + 1`) at rank `learner.lora.r`; and the rollout concurrency
that fits: the episodes whose KV fits at full length at once, never above the configured one.
Applied: `rollout.concurrency` and `judge.gpu_memory_utilization`. The rollout engine's share has
no config key yet (the engine factory's default is used); `rollout_gpu_memory_utilization` is
printed so it can be checked against it.
"""

from __future__ import annotations

from dataclasses import dataclass

from rlsys.memory_plan.budget import MemoryPlan


@dataclass
class EngineSettings:
    rollout_gpu_memory_utilization: float
    rollout_kv_cache_bytes: int
    rollout_concurrency: int
    max_loras: int
    max_lora_rank: int
    judge_gpu_memory_utilization: float | None = None
    judge_kv_cache_bytes: int | None = None


def engine_settings(plan: MemoryPlan, cfg) -> EngineSettings:
    """What each engine gets under `plan` (a plan that `check()`s; see the module docstring)."""
    replicas = cfg.rollout.replicas
    gen = plan.phase("generate")
    judge = plan.phase("judge")
    judge_replicas = cfg.judge.replicas if judge is not None else 0
    return EngineSettings(
        rollout_gpu_memory_utilization=plan.gpu_memory_utilization("generate", replicas) or 0.0,
        rollout_kv_cache_bytes=gen.kv // max(1, replicas),
        rollout_concurrency=max(1, min(cfg.rollout.concurrency, plan.episodes_resident)),
        max_loras=cfg.train.max_staleness + 1,
        max_lora_rank=cfg.learner.lora.r,
        judge_gpu_memory_utilization=plan.gpu_memory_utilization("judge", judge_replicas) if judge else None,
        judge_kv_cache_bytes=judge.kv // max(1, judge_replicas) if judge else None,
    )


def apply_settings(cfg, settings: EngineSettings) -> list[str]:
    """Sets the keys the plan decides on `cfg`; returns one `key: old -> new` line per change."""
    changes = []
    if settings.rollout_concurrency != cfg.rollout.concurrency:
        changes.append(f"rollout.concurrency: {cfg.rollout.concurrency} -> {settings.rollout_concurrency} "
                       "(episodes whose KV fits at full length)")
        cfg.rollout.concurrency = settings.rollout_concurrency
    judge_util = settings.judge_gpu_memory_utilization
    if judge_util is not None and judge_util != cfg.judge.gpu_memory_utilization:
        changes.append(f"judge.gpu_memory_utilization: {cfg.judge.gpu_memory_utilization} -> {judge_util}")
        cfg.judge.gpu_memory_utilization = judge_util
    return changes
