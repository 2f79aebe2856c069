"""GRPO math as pure functions: group advantages and the clipped token-level surrogate loss.

No model code here: inputs are rewards and per-token log-probability tensors.

Loss, per trained token t of trajectory i (mask == 1):

    ratio_it = exp(logp_it - behaviour_logp_it)
    l_it     = -min(ratio_it * A_i, clip(ratio_it, 1 - eps, 1 + eps_high) * A_i)  [+ kl_coef * k3_it]

(`eps_high` = `eps` unless set: DAPO's clip-higher leaves more room to raise unlikely tokens.)
The clip only acts once the policy has moved from the behaviour policy: in the second and later
updates of a step (`learner.epochs` / `learner.mini_batches`), or on stale trajectories.

with the KL to the reference estimated by Schulman's k3 estimator (unbiased, always >= 0,
lower variance than `logp - ref_logp`):

    k3_it = exp(ref_logp_it - logp_it) - (ref_logp_it - logp_it) - 1

Normalisation (how the l_it are averaged), `normalisation=`:
  - "token" (default): sum of l_it over all trained tokens of the step / number of trained
    tokens of the step. Every token weighs the same, so long trajectories weigh more (DAPO).
  - "sequence": mean over trajectories of each trajectory's token mean (the original GRPO
    paper); short trajectories weigh as much as long ones.
  - "constant": sum of l_it / (trajectories x a fixed max length) (Dr. GRPO): no length bias
    at all, the scale does not depend on the batch's lengths.
A step split into micro-batches passes the step's `denominator` (tokens, trajectories, or
trajectories x max length) so that the accumulated gradient equals the full-batch one.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Literal

import torch

Normalisation = Literal["token", "sequence", "constant"]
LOG_RATIO_CLAMP = 20.0  # |logp - behaviour_logp| is clamped here before exp() (overflow guard)


@dataclass
class GroupAdvantages:
    """Per-trajectory advantages (None = not trained on) and what was skipped."""

    advantages: list[list[float | None]]
    groups: int = 0
    zero_std_groups: int = 0        # groups whose valid rewards are all equal (no signal)
    excluded: int = 0               # trajectories with reward None (dropped from statistics)
    trained: int = 0                # trajectories with a real advantage
    reward_mean: float = float("nan")  # mean over valid rewards
    group_std_mean: float = float("nan")  # mean population std of the groups
    stats: dict[str, float] = field(default_factory=dict)


def group_advantages(rewards: list[list[float | None]], eps: float = 1e-6) -> GroupAdvantages:
    """`A_i = (r_i - mean) / std` within each group (population std, over non-None rewards).

    `None` rewards (excluded trajectories: infra or judge errors, too stale) get advantage None
    and take no part in the mean/std. A group whose valid rewards have std <= eps (all equal,
    or a single valid one) carries no signal: all its advantages are None and it is counted.
    """
    out: list[list[float | None]] = []
    zero_std = excluded = trained = 0
    valid_all: list[float] = []
    stds: list[float] = []
    for group in rewards:
        valid = [float(r) for r in group if r is not None]
        excluded += len(group) - len(valid)
        valid_all.extend(valid)
        if not valid:
            zero_std += 1
            out.append([None] * len(group))
            continue
        mean = sum(valid) / len(valid)
        std = math.sqrt(sum((r - mean) ** 2 for r in valid) / len(valid))
        stds.append(std)
        if std <= eps:
            zero_std += 1
            out.append([None] * len(group))
            continue
        out.append([None if r is None else (float(r) - mean) / std for r in group])
        trained += len(valid)
    return GroupAdvantages(
        advantages=out,
        groups=len(rewards),
        zero_std_groups=zero_std,
        excluded=excluded,
        trained=trained,
        reward_mean=sum(valid_all) / len(valid_all) if valid_all else float("nan"),
        group_std_mean=sum(stds) / len(stds) if stds else float("nan"),
    )


def loss_denominator(mask: torch.Tensor, normalisation: Normalisation, max_tokens: int | None = None) -> float:
    """The normaliser of a whole step whose trained-token mask is `mask` [B, T]."""
    if normalisation == "token":
        return float(mask.sum().item())
    if normalisation == "sequence":
        return float(mask.shape[0])
    if normalisation == "constant":
        return float(mask.shape[0] * (max_tokens if max_tokens is not None else mask.shape[1]))
    raise ValueError(f"unknown loss normalisation {normalisation!r} (token, sequence or constant)")


def grpo_loss(
    logprobs: torch.Tensor,
    behaviour_logprobs: torch.Tensor,
    advantages: torch.Tensor,
    mask: torch.Tensor,
    clip_eps: float,
    ref_logprobs: torch.Tensor | None = None,
    kl_coef: float = 0.0,
    normalisation: Normalisation = "token",
    denominator: float | None = None,
    entropy: torch.Tensor | None = None,
    max_tokens: int | None = None,
    clip_eps_high: float | None = None,
) -> tuple[torch.Tensor, dict[str, float]]:
    """Clipped surrogate loss over trained tokens; returns (loss, stats).

    Shapes: `logprobs`, `behaviour_logprobs`, `mask`, `ref_logprobs`, `entropy`: [B, T];
    `advantages`: [B]. `clip_eps_high` is the upper clip (default `clip_eps`). `denominator` is the whole step's normaliser (see the module docstring;
    default: this batch's). Stats are means over trained tokens (floats): `clip_frac`,
    `ratio_mean`, `ratio_max`, `ratio_min`, `behaviour_logprob_diff` (mean |logprobs - behaviour|) and
    its `_max`, `kl` (k3, when `ref_logprobs` is given), `entropy`
    (when given), `pg_loss`, plus `tokens` (trained tokens in this batch).
    """
    mask = mask.to(logprobs.dtype)
    behaviour_logprobs = behaviour_logprobs.to(logprobs.dtype)
    adv = advantages.to(logprobs.dtype).unsqueeze(-1)
    log_ratio = torch.clamp(logprobs - behaviour_logprobs, -LOG_RATIO_CLAMP, LOG_RATIO_CLAMP)
    ratio = torch.exp(log_ratio)
    unclipped = ratio * adv
    high = clip_eps if clip_eps_high is None else clip_eps_high
    clipped = torch.clamp(ratio, 1.0 - clip_eps, 1.0 + high) * adv
    per_token = -torch.minimum(unclipped, clipped)
    pg_per_token = per_token
    kl = None
    if ref_logprobs is not None:
        delta = ref_logprobs.to(logprobs.dtype) - logprobs
        kl = torch.exp(delta) - delta - 1.0
        if kl_coef:
            per_token = per_token + kl_coef * kl

    if denominator is None:
        denominator = loss_denominator(mask, normalisation, max_tokens)
    denominator = max(float(denominator), 1e-8)
    if normalisation == "sequence":
        seq_tokens = mask.sum(-1).clamp(min=1.0)
        loss = ((per_token * mask).sum(-1) / seq_tokens).sum() / denominator
    elif normalisation in ("token", "constant"):
        loss = (per_token * mask).sum() / denominator
    else:
        raise ValueError(f"unknown loss normalisation {normalisation!r} (token, sequence or constant)")

    with torch.no_grad():
        n = mask.sum()
        tokens = float(n.item())
        trained = mask > 0

        def masked_mean(x: torch.Tensor) -> float:
            return float((x * mask).sum().item() / tokens) if tokens else 0.0

        is_clipped = ((adv > 0) & (ratio > 1.0 + high)) | ((adv < 0) & (ratio < 1.0 - clip_eps))
        stats = {
            "tokens": tokens,
            "pg_loss": masked_mean(pg_per_token),
            "clip_frac": masked_mean(is_clipped.to(mask.dtype)),
            "ratio_mean": masked_mean(ratio),
            "ratio_max": float(ratio[trained].max().item()) if tokens else 1.0,
            "ratio_min": float(ratio[trained].min().item()) if tokens else 1.0,
            # engine vs learner on the same tokens (prime-rl's mismatch): ~0 on-policy when they agree
            "behaviour_logprob_diff": masked_mean((logprobs - behaviour_logprobs).abs()),
            "behaviour_logprob_diff_max": float((logprobs - behaviour_logprobs).abs()[trained].max().item()) if tokens else 0.0,
        }
        if kl is not None:
            stats["kl"] = masked_mean(kl)
        if entropy is not None:
            stats["entropy"] = masked_mean(entropy.to(mask.dtype))
    return loss, stats
