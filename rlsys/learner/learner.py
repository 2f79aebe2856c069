"""The GRPO learner: judged trajectory groups in, one optimizer step on the LoRA policy out.

    learner = Learner(cfg.learner, "artifacts/models/tiny-qwen3", max_staleness=1)
    metrics = learner.grpo_step(groups, policy_version=learner.version)
    version, tensors = learner.export_adapter()       # the weight push

Behaviour log-probs come from the engine under softmax(logits / T) with each trajectory's own
temperature, so the recomputed log-probs divide the logits by that temperature as well (on
policy the ratio is then 1 up to numerics).
"""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Any

import torch

from rlsys.learner.adapter import lora_tensors, save_adapter
from rlsys.learner.checkpoint import CheckpointState, load_checkpoint, save_checkpoint
from rlsys.learner.config import LearnerConfig
from rlsys.learner.grpo import group_advantages, grpo_loss, loss_denominator
from rlsys.learner.logprobs import token_logprobs
from rlsys.learner.microbatch import MicroBatch, Sample, bucket, collate, split_mini_batches
from rlsys.learner.policy import attach_lora, default_device, load_base_model
from rlsys.learner.trainer import Trainer, warmup_constant
from rlsys.rollout.types import Trajectory

log = logging.getLogger(__name__)


class Learner:
    """LoRA policy + optimizer; `grpo_step` trains on groups, `version` counts optimizer steps."""

    def __init__(
        self,
        cfg: LearnerConfig,
        model_path: str | Path | None = None,
        *,
        dtype: str = "auto",
        max_staleness: int = 1,
        adapter_path: str | Path | None = None,
        base_model=None,
        pad_id: int | None = None,
        seed: int = 0,
        device: torch.device | None = None,
    ):
        if base_model is None and model_path is None:
            raise ValueError("give model_path or base_model")
        self.cfg = cfg
        self.max_staleness = max_staleness
        self.device = device or default_device()
        torch.manual_seed(seed)
        base = base_model if base_model is not None else load_base_model(model_path, dtype, self.device)
        self.model = attach_lora(base.to(self.device), cfg.lora, cfg.gradient_checkpointing, adapter_path)
        self.pad_id = pad_id if pad_id is not None else (base.config.pad_token_id or base.config.eos_token_id or 0)
        if isinstance(self.pad_id, list):
            self.pad_id = self.pad_id[0]
        bf16 = next(base.parameters()).dtype == torch.bfloat16
        self.trainer = Trainer(
            self.model, cfg.lr, cfg.grad_clip, cfg.weight_decay, warmup_constant(cfg.warmup_steps),
            deepspeed_stage=cfg.deepspeed_stage, bf16=bf16,
        )
        self.version = 0
        self.steps = 0

    # ---- GRPO ---------------------------------------------------------------------------

    def _samples(self, groups: list[list[Trajectory]], policy_version: int) -> tuple[list[Sample], dict[str, Any]]:
        counts = {"trajectories": 0, "excluded_failure": 0, "excluded_stale": 0, "excluded_unjudged": 0, "truncated": 0}
        rewards: list[list[float | None]] = []
        staleness: list[int] = []
        for group in groups:
            row: list[float | None] = []
            for traj in group:
                counts["trajectories"] += 1
                n = len(traj.token_ids)
                if len(traj.loss_mask) != n or len(traj.behaviour_logprobs) != n:
                    raise ValueError(
                        f"trajectory {traj.episode_id}: token_ids ({n}), loss_mask ({len(traj.loss_mask)}) and "
                        f"behaviour_logprobs ({len(traj.behaviour_logprobs)}) must have the same length"
                    )
                lag = policy_version - traj.policy_version
                if traj.excluded:
                    counts["excluded_failure"] += 1
                    row.append(None)
                elif lag > self.max_staleness:
                    counts["excluded_stale"] += 1
                    row.append(None)
                elif traj.reward is None:
                    counts["excluded_unjudged"] += 1
                    row.append(None)
                else:
                    row.append(float(traj.reward))
                    staleness.append(lag)
            rewards.append(row)
        adv = group_advantages(rewards)
        samples: list[Sample] = []
        for g, group in enumerate(groups):
            for i, traj in enumerate(group):
                a = adv.advantages[g][i]
                if a is None or not any(traj.loss_mask[1:]):
                    continue
                keep = self.cfg.max_tokens
                if len(traj.token_ids) > keep:
                    counts["truncated"] += 1
                samples.append(Sample(
                    traj.token_ids[:keep], traj.loss_mask[:keep], traj.behaviour_logprobs[:keep],
                    advantage=a, temperature=float(traj.temperature), index=len(samples),
                ))
        counts.update(groups=adv.groups, zero_std_groups=adv.zero_std_groups, trained_trajectories=len(samples),
                      reward_mean=adv.reward_mean, reward_std_mean=adv.group_std_mean,
                      staleness_mean=sum(staleness) / len(staleness) if staleness else 0.0)
        return samples, counts

    def _loss_fn(self, denominator: float):
        cfg = self.cfg

        def loss_fn(model, mb: MicroBatch):
            mb = mb.to(self.device)
            ref = None
            if cfg.kl_coef > 0:
                with torch.no_grad(), model.disable_adapter():
                    ref, _ = token_logprobs(model, mb.input_ids, mb.attention_mask, mb.temperatures,
                                            chunk=cfg.logits_chunk_tokens)
            logprobs, entropy = token_logprobs(model, mb.input_ids, mb.attention_mask, mb.temperatures, with_entropy=True,
                                               chunk=cfg.logits_chunk_tokens)
            return grpo_loss(
                logprobs, mb.behaviour_logprobs, mb.advantages, mb.loss_mask, cfg.clip_eps,
                ref_logprobs=ref, kl_coef=cfg.kl_coef, normalisation=cfg.loss_normalisation,
                denominator=denominator, entropy=entropy, max_tokens=cfg.max_tokens, clip_eps_high=cfg.clip_eps_high,
            )

        return loss_fn

    def grpo_step(self, groups: list[list[Trajectory]], policy_version: int | None = None) -> dict[str, Any]:
        """One GRPO step on judged groups (`epochs x mini_batches` optimizer updates, one version);
        `policy_version` is the controller's current version.

        Excluded (infra/judge error), unjudged and too-stale trajectories are dropped from the
        group statistics and counted; zero-std groups carry no signal and are counted. When no
        trajectory is left the step is skipped (`skipped: 1`) and the version does not change.
        """
        start = time.perf_counter()
        current = self.version if policy_version is None else int(policy_version)
        samples, counts = self._samples(groups, current)
        metrics: dict[str, Any] = {"policy_version": self.version, **counts}
        if not samples:
            metrics.update(skipped=1, step_s=time.perf_counter() - start)
            log.info("GRPO step skipped: no trajectory with signal (%s)", counts)
            return metrics
        cfg = self.cfg
        results = []
        for epoch in range(cfg.epochs):
            # seeded by step and pass: every rank deals the same parts; a resumed run the same ones
            for part in split_mini_batches(samples, cfg.mini_batches, seed=self.steps * 1009 + epoch):
                mask_rows = [torch.tensor(s.loss_mask[1:], dtype=torch.float32) for s in part]
                part_mask = torch.nn.utils.rnn.pad_sequence(mask_rows, batch_first=True)
                denominator = loss_denominator(part_mask, cfg.loss_normalisation, cfg.max_tokens)
                batches = [collate(b, self.pad_id) for b in bucket(part, cfg.micro_batch, cfg.micro_batch_tokens)]
                results.append((self.trainer.step(self.trainer.shard(batches), self._loss_fn(denominator)), len(batches)))
        self.steps += 1
        self.version = max(self.version, current) + 1
        first, last = results[0][0].stats, results[-1][0].stats
        stats = [s for result, _ in results for s in result.stats]

        def weighted(key: str, of: list[dict[str, float]] = stats) -> float:
            tokens = sum(s["tokens"] for s in of if key in s) or 1.0
            return sum(s[key] * s["tokens"] for s in of if key in s) / tokens

        seq_tokens = sum(len(s.token_ids) for s in samples)
        elapsed = time.perf_counter() - start
        metrics.update(
            skipped=0, policy_version=self.version, loss=sum(r.loss for r, _ in results) / len(results),
            grad_norm=results[0][0].grad_norm, lr=results[-1][0].lr, updates=len(results),
            pg_loss=weighted("pg_loss"), entropy=weighted("entropy"), clip_frac=weighted("clip_frac"),
            # the last update's share of clipped tokens: how far the step's passes moved the policy
            clip_frac_last=weighted("clip_frac", last),
            ratio_mean=weighted("ratio_mean"), ratio_max=max((s["ratio_max"] for s in stats), default=1.0),
            ratio_min=min((s["ratio_min"] for s in stats), default=1.0),
            # engine vs learner on the first update only, where the policy is still the behaviour one
            behaviour_logprob_diff=weighted("behaviour_logprob_diff", first),
            behaviour_logprob_diff_max=max((s.get("behaviour_logprob_diff_max", 0.0) for s in first), default=0.0),
            trained_tokens=int(sum(sum(s.loss_mask[1:]) for s in samples)),
            tokens=seq_tokens, micro_batches=sum(n for _, n in results), step_s=elapsed, tokens_per_s=seq_tokens / elapsed,
        )
        if cfg.kl_coef > 0:
            metrics["kl"] = weighted("kl")
        return metrics

    # ---- adapter and checkpoints ----------------------------------------------------------

    def export_adapter(self) -> tuple[int, dict[str, torch.Tensor]]:
        """(policy version, LoRA tensors by PEFT name, on CPU) for the weight push."""
        return self.version, lora_tensors(self.model)

    def save_adapter(self, out_dir: str | Path) -> Path:
        """The adapter in PEFT's on-disk format (loadable by `peft` and vLLM) with its version."""
        return save_adapter(self.model, out_dir, self.version)

    def save_checkpoint(self, root: str | Path, data_state: dict | None = None, config: dict | None = None,
                        step: int | None = None) -> Path:
        """`<root>/step-<step>/` (default: the optimizer steps so far); keeps `checkpoint_keep` of them.
        Under DeepSpeed every rank must call it: the others join the gather of the partitioned
        optimizer state and write nothing."""
        if self.trainer.rank != 0:
            self.trainer.state_dict()
            return Path(root)
        return save_checkpoint(root, self.steps if step is None else step, self.model, self.trainer, self.version,
                               data_state, config, keep=self.cfg.checkpoint_keep)

    def load_checkpoint(self, path: str | Path) -> CheckpointState:
        state = load_checkpoint(path, self.model, self.trainer)
        self.steps, self.version = state.step, state.version
        return state
