"""Engine settings decided by the memory plan (collocated mode), and applying them to the config.

    settings = engine_settings(plan, cfg)
    changes = apply_settings(cfg, settings)   # ["rollout.concurrency: 96 -> 4", ...]

Per awake engine: its vLLM `gpu_memory_utilization` (weights + LoRA slots + workspace + the KV
the plan gives it, plus its CUDA context, over the GPU) and that KV in bytes; the LoRA slots
(`max_loras = train.max_staleness + 1`) at vLLM's rank for `learner.lora.r`
(`vllm_sizes.vllm_lora_rank`); and the rollout concurrency that fits: the episodes whose KV
fits at full length at once, never above the configured one. Applied: `rollout.concurrency`,
`rollout.gpu_memory_utilization` and `rollout.kv_cache_memory_bytes` where they are null (set
ones are the user's: the plan was computed with them and refuses them when they do not fit),
and `judge.gpu_memory_utilization`.
"""

from __future__ import annotations

from dataclasses import dataclass

from rlsys.memory_plan.budget import MemoryPlan
from rlsys.memory_plan.vllm_sizes import vllm_lora_rank


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
        rollout_gpu_memory_utilization=(cfg.rollout.gpu_memory_utilization
                                        or plan.gpu_memory_utilization("generate", replicas) or 0.0),
        rollout_kv_cache_bytes=cfg.rollout.kv_cache_memory_bytes or gen.kv // max(1, replicas),
        rollout_concurrency=max(1, min(cfg.rollout.concurrency, plan.episodes_resident)),
        max_loras=cfg.train.max_staleness + 1,
        max_lora_rank=vllm_lora_rank(cfg.learner.lora.r),
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
    if cfg.rollout.gpu_memory_utilization is None:
        changes.append(f"rollout.gpu_memory_utilization: null -> {settings.rollout_gpu_memory_utilization}")
        cfg.rollout.gpu_memory_utilization = settings.rollout_gpu_memory_utilization
    if cfg.rollout.kv_cache_memory_bytes is None:
        changes.append(f"rollout.kv_cache_memory_bytes: null -> {settings.rollout_kv_cache_bytes} "
                       f"({settings.rollout_kv_cache_bytes / 2**30:.2f} GiB)")
        cfg.rollout.kv_cache_memory_bytes = settings.rollout_kv_cache_bytes
    judge_util = settings.judge_gpu_memory_utilization
    if judge_util is not None and judge_util != cfg.judge.gpu_memory_utilization:
        changes.append(f"judge.gpu_memory_utilization: {cfg.judge.gpu_memory_utilization} -> {judge_util}")
        cfg.judge.gpu_memory_utilization = judge_util
    return changes


def plan_collocated(cfg, gpu_gb: float, options=None) -> tuple[MemoryPlan, EngineSettings, list[str]]:
    """What the controller does at a collocated start: plan `cfg` on a `gpu_gb` GiB GPU, refuse
    (`MemoryPlanError`, naming the keys to change) when a phase cannot fit, else set what the plan
    decides on `cfg`. Returns the plan, the settings and the `key: old -> new` changes."""
    from rlsys.memory_plan.plan import plan_memory

    plan = plan_memory(cfg, gpu_gb, options)
    plan.check()
    settings = engine_settings(plan, cfg)
    return plan, settings, apply_settings(cfg, settings)
