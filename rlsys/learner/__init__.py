"""rlsys.learner — LoRA GRPO and SFT on transformers + PEFT (DeepSpeed ZeRO for several devices).

Modules (import them directly; this package imports nothing heavy):
  grpo            group_advantages, grpo_loss (pure math)
  policy          load_policy / attach_lora (SDPA, gradient checkpointing, PEFT LoRA)
  logprobs        token_logprobs (temperature-scaled, aligned with the input tokens)
  microbatch      length-bucketed micro-batches
  trainer         Trainer: gradient accumulation, clipping, AdamW, lr schedule (torch or DeepSpeed)
  learner         Learner: grpo_step, export_adapter, save/load_checkpoint
  sft_data, sft   SFT examples (assistant-only mask) and SFTRunner
  adapter         LoRA tensors in memory and in PEFT's on-disk format
  checkpoint      atomic, verified checkpoints
  deepspeed_setup ZeRO config and process-group setup
"""
