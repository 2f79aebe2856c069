"""Config of the learner: LoRA, GRPO, SFT and DeepSpeed."""

from __future__ import annotations

from typing import Literal

from rlsys.config_base import Section


class LoraConfig(Section):
    r: int = 16
    """LoRA rank."""
    alpha: int = 32
    """LoRA alpha (scale = alpha / r)."""
    dropout: float = 0.0
    """LoRA dropout."""
    target_modules: list[str] = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]
    """Modules that get LoRA adapters."""


class LearnerConfig(Section):
    lora: LoraConfig = LoraConfig()
    """LoRA adapter settings."""
    lr: float = 1e-5
    """AdamW learning rate of the GRPO stage."""
    weight_decay: float = 0.0
    """AdamW weight decay (applied to the LoRA parameters only; the base model is frozen)."""
    warmup_steps: int = 0
    """Optimizer steps of linear learning-rate warmup in the GRPO stage (constant afterwards)."""
    clip_eps: float = 0.2
    """PPO-style clipping of the importance ratio."""
    kl_coef: float = 0.0
    """Weight of the KL penalty to the reference (adapter disabled); 0 turns it off."""
    loss_normalisation: Literal["token", "sequence", "constant"] = "token"
    """GRPO loss averaging: `token` (mean over all trained tokens of the step), `sequence` (mean of per-trajectory means) or `constant` (sum / (trajectories x max_tokens))."""
    max_tokens: int = 8192
    """Trajectories longer than this are truncated (the tail is dropped) before training; also the `constant` normaliser."""
    micro_batch: int = 4
    """Trajectories per forward/backward micro-batch."""
    logits_chunk_tokens: int = 1024
    """Positions per chunk of the checkpointed vocabulary projection in the loss (bounds logits memory; 0 = all at once)."""
    micro_batch_tokens: int = 0
    """Also cap a micro-batch at this many (padded) tokens; 0 = only `micro_batch` limits it."""
    grad_clip: float = 1.0
    """Max gradient norm."""
    gradient_checkpointing: bool = True
    """Recompute activations in backward to save memory."""
    deepspeed_stage: int = 0
    """ZeRO stage for multi-device learners (0 = plain torch path)."""
    gpus: int = 1
    """GPUs of the learner (cluster mode)."""
    checkpoint_keep: int = 2
    """Complete checkpoints kept on disk (older ones are deleted once a newer one is complete)."""


class SFTConfig(Section):
    data: str = "synthetic"
    """Expert trajectories: `synthetic` (scripted searcher), a directory of reference JSON files, or rlsys JSONL."""
    expert_questions: int = 400
    """Training questions the scripted expert answers to make the synthetic SFT set (demo)."""
    epochs: int = 8
    """Passes over the SFT data."""
    lr: float = 1e-5
    """Peak learning rate of the SFT stage."""
    lr_schedule: Literal["cosine", "linear", "constant"] = "cosine"
    """Decay after warmup: cosine or linear to zero, or constant."""
    warmup_ratio: float = 0.1
    """Fraction of steps of linear warmup."""
    batch_size: int = 4
    """Sequences per optimizer step."""
    micro_batch: int = 2
    """Sequences per forward/backward (gradient accumulation makes up `batch_size`)."""
    max_tokens: int = 8192
    """Sequences longer than this are dropped (and counted) rather than truncated."""
    eval_fraction: float = 0.1
    """Fraction of the (deduplicated) examples held out for the eval loss."""
    grad_clip: float = 1.0
    """Max gradient norm."""
    weight_decay: float = 0.0
    """AdamW weight decay."""
    dedup: bool = True
    """Drop duplicate trajectories (same messages or same tokens) before training."""
    output_dir: str = "runs/sft"
    """Where `rlsys sft` writes the adapter, metrics and the loss curve."""
    checkpoint_every: int = 0
    """Write a resumable checkpoint every N optimizer steps (0 = only the final adapter)."""
    seed: int = 0
    """Seed of shuffling, the eval split and LoRA init."""
