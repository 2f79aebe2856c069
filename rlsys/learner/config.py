"""Config of the learner: LoRA, GRPO, SFT and DeepSpeed."""

from __future__ import annotations

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
    clip_eps: float = 0.2
    """PPO-style clipping of the importance ratio."""
    kl_coef: float = 0.0
    """Weight of the KL penalty to the reference (adapter disabled); 0 turns it off."""
    micro_batch: int = 4
    """Trajectories per forward/backward micro-batch."""
    grad_clip: float = 1.0
    """Max gradient norm."""
    gradient_checkpointing: bool = True
    """Recompute activations in backward to save memory."""
    deepspeed_stage: int = 0
    """ZeRO stage for multi-device learners (0 = plain torch path)."""
    gpus: int = 1
    """GPUs of the learner (cluster mode)."""


class SFTConfig(Section):
    data: str = "synthetic"
    """Expert trajectories: `synthetic` (scripted searcher), a directory of reference JSON files, or rlsys JSONL."""
    epochs: int = 8
    """Passes over the SFT data."""
    lr: float = 1e-5
    """Peak learning rate of the SFT stage."""
    warmup_ratio: float = 0.1
    """Fraction of steps of linear warmup."""
    batch_size: int = 4
    """Sequences per optimizer step."""
