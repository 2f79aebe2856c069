"""Config of the learner: LoRA, GRPO, SFT and DeepSpeed."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from rlsys.config_base import Section, require


class LoraConfig(Section):
    r: int = Field(16, ge=1)
    """LoRA rank."""
    alpha: int = Field(32, gt=0)
    """LoRA alpha (scale = alpha / r)."""
    dropout: float = Field(0.0, ge=0, lt=1)
    """LoRA dropout."""
    target_modules: list[str] = Field(["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"], min_length=1)
    """Modules that get LoRA adapters."""


class LearnerConfig(Section):
    lora: LoraConfig = LoraConfig()
    """LoRA adapter settings."""
    lr: float = Field(1e-5, gt=0)
    """AdamW learning rate of the GRPO stage."""
    weight_decay: float = Field(0.0, ge=0)
    """AdamW weight decay (applied to the LoRA parameters only; the base model is frozen)."""
    warmup_steps: int = Field(0, ge=0)
    """Optimizer steps of linear learning-rate warmup in the GRPO stage (constant afterwards)."""
    clip_eps: float = Field(0.2, gt=0)
    """PPO-style clipping of the importance ratio (lower bound `1 - clip_eps`; also the upper unless `clip_eps_high` is set)."""
    clip_eps_high: float | None = Field(None, gt=0)
    """Upper clip of the ratio, `1 + clip_eps_high` (DAPO's clip-higher, e.g. 0.28); None = `clip_eps`."""
    epochs: int = Field(1, ge=1, le=16)
    """Passes over each step's trajectories (PPO epochs); later passes see a moved policy, so the clip acts."""
    mini_batches: int = Field(1, ge=1, le=64)
    """Optimizer updates per pass: the step's trajectories are shuffled (seeded by the step) and dealt into this many parts; `epochs x mini_batches` updates per step, one adapter push."""
    kl_coef: float = Field(0.0, ge=0)
    """Weight of the KL penalty to the reference (adapter disabled); 0 turns it off."""
    loss_normalisation: Literal["token", "sequence", "constant"] = "token"
    """GRPO loss averaging: `token` (mean over all trained tokens of the step), `sequence` (mean of per-trajectory means) or `constant` (sum / (trajectories x max_tokens))."""
    max_tokens: int = Field(8192, ge=1)
    """Trajectories longer than this are truncated (the tail is dropped) before training; also the `constant` normaliser."""
    micro_batch: int = Field(4, ge=1)
    """Trajectories per forward/backward micro-batch."""
    logits_chunk_tokens: int = Field(1024, ge=0)
    """Positions per chunk of the checkpointed vocabulary projection in the loss (bounds logits memory; 0 = all at once)."""
    micro_batch_tokens: int = Field(0, ge=0)
    """Also cap a micro-batch at this many (padded) tokens; 0 = only `micro_batch` limits it."""
    grad_clip: float = Field(1.0, ge=0)
    """Max gradient norm."""
    gradient_checkpointing: bool = True
    """Recompute activations in backward to save memory."""
    deepspeed_stage: int = Field(0, ge=0, le=3)
    """ZeRO stage for multi-device learners (0 = plain torch path)."""
    gpus: int = Field(1, ge=1)
    """GPUs of the learner (cluster mode)."""

    @model_validator(mode="after")
    def _cross_checks(self) -> "LearnerConfig":
        return require(self, ("gpus", self.gpus == 1 or self.deepspeed_stage >= 1,
                              "more than one learner GPU needs deepspeed_stage >= 1"))

    checkpoint_keep: int = Field(2, ge=1)
    """Complete checkpoints kept on disk (older ones are deleted once a newer one is complete)."""


class SFTConfig(Section):
    data: str = Field("synthetic", min_length=1)
    """Expert trajectories: `synthetic` (scripted searcher), a directory of reference JSON files, or rlsys JSONL."""
    expert_questions: int = Field(400, ge=1)
    """Training questions the scripted expert answers to make the synthetic SFT set (demo)."""
    recovery_share: float = Field(0.0, ge=0.0, le=1.0)
    """Share of the scripted expert's questions (0..1, by a stable hash of the question id) answered by a
    back-tracking episode: a first cell that misses (vague query or wrong section), then the search that
    finds it (`rlsys/scripted_recovery.py`); needs `rollout.max_turns >= 3`. 0 = none (real SFT data is never changed)."""
    epochs: int = Field(8, ge=1)
    """Passes over the SFT data."""
    lr: float = Field(1e-5, gt=0)
    """Peak learning rate of the SFT stage."""
    lr_schedule: Literal["cosine", "linear", "constant"] = "cosine"
    """Decay after warmup: cosine or linear to zero, or constant."""
    warmup_ratio: float = Field(0.1, ge=0, lt=1)
    """Fraction of steps of linear warmup."""
    batch_size: int = Field(4, ge=1)
    """Sequences per optimizer step."""
    micro_batch: int = Field(2, ge=1)
    """Sequences per forward/backward (gradient accumulation makes up `batch_size`)."""
    max_tokens: int = Field(8192, ge=1)
    """Sequences longer than this are dropped (and counted) rather than truncated."""
    eval_fraction: float = Field(0.1, ge=0, lt=1)
    """Fraction of the (deduplicated) examples held out for the eval loss."""
    grad_clip: float = Field(1.0, ge=0)
    """Max gradient norm."""
    weight_decay: float = Field(0.0, ge=0)
    """AdamW weight decay."""
    dedup: bool = True
    """Drop duplicate trajectories (same messages or same tokens) before training."""
    output_dir: str = Field("runs/sft", min_length=1)
    """Where `rlsys sft` writes the adapter, metrics and the loss curve."""
    checkpoint_every: int = Field(0, ge=0)
    """Write a resumable checkpoint every N optimizer steps (0 = only the final adapter)."""
    seed: int = Field(0, ge=0)
    """Seed of shuffling, the eval split and LoRA init."""
