"""The generation engines by name (`hf`, `vllm`): one factory for rollout workers, the judge
actor, `rlsys serve` and the benches.

    engine, tokenizer = load_engine(model_dir, "vllm", lora={"r": 16, "lora_alpha": 32, ...})
    engine, tokenizer = build_engine(cfg.model, cfg.rollout, lora_settings(...))  # the policy's

An engine module registers a factory with `@register_engine(name)`; the factory takes the
model directory and the keyword options of `EngineOptions` and returns the engine (its
`.tokenizer` is the model's). `lora=None` means an engine without adapters (a judge).
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from rlsys.registry import Registry
from rlsys.rollout.config import ModelConfig, RolloutConfig


@dataclass
class EngineOptions:
    dtype: str = "auto"                   # `auto`: float32 on CPU; bfloat16 (vLLM) / the model's (HF) on GPU
    max_batch: int = 32                   # sequences generated together
    lora: dict[str, Any] | None = None    # PEFT settings (r, lora_alpha, target_modules); None: no adapters
    max_loras: int = 2                    # adapter versions kept at once (vLLM)
    max_model_len: int | None = None      # context length (vLLM; None = the model's)
    seed: int = 0
    quantization: str | None = None       # vLLM weight quantization (e.g. awq)
    gpu_memory_utilization: float = 0.5   # vLLM share of GPU memory (on CPU the KV cache is VLLM_CPU_KVCACHE_SPACE)
    kv_cache_memory_bytes: int | None = None  # vLLM KV cache bytes (set: no profiling; None: from the share)
    device: str = "auto"                  # HF engine device (`auto`: CUDA when present); vLLM picks its platform


ENGINES: Registry[Callable[[str, EngineOptions], Any]] = Registry("engine")


def register_engine(name: str) -> Callable[[Callable[[str, EngineOptions], Any]], Callable[[str, EngineOptions], Any]]:
    return ENGINES.register(name)


@register_engine("hf")
def _hf(model_path: str, opts: EngineOptions) -> Any:
    from rlsys.rollout.hf_engine import HFEngine

    return HFEngine(model_path, device=opts.device, dtype=opts.dtype, max_batch=opts.max_batch, lora_config=opts.lora,
                    seed=opts.seed)


@register_engine("vllm")
def _vllm(model_path: str, opts: EngineOptions) -> Any:
    try:
        from rlsys.rollout.vllm_engine import VLLMEngine
    except ImportError as err:
        raise ImportError(f"the vLLM engine is not available here ({err})") from err
    return VLLMEngine(model_path, dtype=opts.dtype, max_batch=opts.max_batch, lora_config=opts.lora,
                      enable_lora=opts.lora is not None, max_loras=opts.max_loras, max_model_len=opts.max_model_len,
                      gpu_memory_utilization=opts.gpu_memory_utilization, quantization=opts.quantization,
                      kv_cache_memory_bytes=opts.kv_cache_memory_bytes, seed=opts.seed)


def resolve_engine_kind(kind: str) -> str:
    """`auto` is vLLM where CUDA and vLLM are both present, else HF transformers."""
    if kind != "auto":
        return kind
    import torch

    return "vllm" if torch.cuda.is_available() and importlib.util.find_spec("vllm") else "hf"


def check_engine_name(name: str, allow_auto: bool = True) -> str:
    """`name` when it is registered (or `auto`, where allowed); ValueError naming the registered ones."""
    if name in ENGINES or (allow_auto and name == "auto"):
        return name
    known = ", ".join((["auto"] if allow_auto else []) + sorted(ENGINES))
    raise ValueError(f"unknown engine {name!r} (registered: {known})")


def load_engine(model_path: str | Path, kind: str = "auto", **options: Any) -> tuple[Any, Any]:
    """(engine, tokenizer) of engine `kind` (`auto`, or a registered name) on a local model
    directory; `options` are `EngineOptions` fields."""
    name = resolve_engine_kind(check_engine_name(kind))
    engine = ENGINES[name](str(model_path), EngineOptions(**options))
    return engine, engine.tokenizer


def lora_settings(r: int, alpha: float, target_modules: list[str]) -> dict[str, Any]:
    """The LoRA settings engines need to install pushed adapters (PEFT `LoraConfig` names)."""
    return {"r": r, "lora_alpha": alpha, "target_modules": list(target_modules)}


def check_rollout_engine(rollout: RolloutConfig) -> None:
    """Refuses settings the configured engine cannot honour (raises ValueError with the fix)."""
    if rollout.engine == "vllm" and rollout.top_p < 1.0:
        raise ValueError(
            f"rollout.top_p = {rollout.top_p} with rollout.engine: vllm: vLLM renormalises the behaviour "
            "log-probs over the nucleus while the learner's recompute does not, so the importance ratios "
            "would be wrong; use rollout.top_p: 1.0 (or rollout.engine: hf)"
        )


def build_engine(
    model: ModelConfig,
    rollout: RolloutConfig,
    lora: dict[str, Any] | None = None,
    max_staleness: int = 1,
    model_path: str | Path | None = None,
) -> tuple[Any, Any]:
    """The policy engine of `rollout.engine` on the base model; returns (engine, tokenizer).

    Keeps `max_staleness + 1` adapter versions; the tiny model is built first when `model.tiny`
    and it is missing (see `ensure_model`).
    """
    from rlsys.rollout.tiny_model import ensure_model

    check_rollout_engine(rollout)
    path = Path(model_path) if model_path else ensure_model(model)
    memory = {} if rollout.engine != "vllm" else {  # the HF engine has no memory share
        "gpu_memory_utilization": rollout.gpu_memory_utilization or EngineOptions.gpu_memory_utilization,
        "kv_cache_memory_bytes": rollout.kv_cache_memory_bytes}
    return load_engine(path, rollout.engine, dtype=model.dtype, max_batch=rollout.concurrency, lora=lora or {},
                       max_loras=max_staleness + 1, max_model_len=rollout.max_episode_tokens, seed=rollout.seed,
                       **memory)
