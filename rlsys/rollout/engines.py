"""Building the configured generation engine (`rollout.engine`: `hf` or `vllm`)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from rlsys.rollout.config import ModelConfig, RolloutConfig


def lora_settings(r: int, alpha: float, target_modules: list[str]) -> dict[str, Any]:
    """The LoRA settings engines need to install pushed adapters (PEFT `LoraConfig` names)."""
    return {"r": r, "lora_alpha": alpha, "target_modules": list(target_modules)}


def build_engine(
    model: ModelConfig,
    rollout: RolloutConfig,
    lora: dict[str, Any] | None = None,
    max_staleness: int = 1,
    model_path: str | Path | None = None,
):
    """The engine of `rollout.engine` on the policy's base model; returns (engine, tokenizer).

    The tiny model is built first when `model.tiny` and it is missing (see `ensure_model`).
    """
    from rlsys.rollout.tiny_model import ensure_model

    path = Path(model_path) if model_path else ensure_model(model)
    if rollout.engine == "vllm":
        from rlsys.rollout.vllm_engine import VLLMEngine

        engine = VLLMEngine(path, dtype=model.dtype, max_batch=rollout.concurrency, lora_config=lora,
                            max_loras=max_staleness + 1, max_model_len=rollout.max_episode_tokens)
        return engine, engine.tokenizer
    from rlsys.rollout.hf_engine import HFEngine

    engine = HFEngine(path, dtype=model.dtype, max_batch=rollout.concurrency, lora_config=lora, seed=rollout.seed)
    return engine, engine.tokenizer
