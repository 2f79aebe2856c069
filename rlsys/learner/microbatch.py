"""Length-bucketed, right-padded micro-batches of token sequences for training.

Sequences are sorted by length (longest first) and packed greedily into micro-batches of at most
`max_sequences` sequences and, when `max_tokens` > 0, at most `max_tokens` padded tokens
(rows x longest row), so similar lengths share a batch and little compute goes to padding.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch


@dataclass
class Sample:
    """One training sequence with per-token fields aligned to `token_ids`."""

    token_ids: list[int]
    loss_mask: list[int]
    behaviour_logprobs: list[float] | None = None
    advantage: float = 0.0
    temperature: float = 1.0
    index: int = 0  # position in the caller's list


@dataclass
class MicroBatch:
    input_ids: torch.Tensor           # [b, T] long, right-padded
    attention_mask: torch.Tensor      # [b, T] long
    loss_mask: torch.Tensor           # [b, T] float
    behaviour_logprobs: torch.Tensor  # [b, T] float (zeros where not given)
    advantages: torch.Tensor          # [b] float
    temperatures: torch.Tensor        # [b] float
    indices: list[int] = field(default_factory=list)

    @property
    def tokens(self) -> int:
        return int(self.attention_mask.sum().item())

    def to(self, device: torch.device) -> "MicroBatch":
        return MicroBatch(
            self.input_ids.to(device), self.attention_mask.to(device), self.loss_mask.to(device),
            self.behaviour_logprobs.to(device), self.advantages.to(device), self.temperatures.to(device),
            self.indices,
        )


def bucket(samples: list[Sample], max_sequences: int, max_tokens: int = 0) -> list[list[Sample]]:
    """Groups samples into micro-batches by length (see the module docstring)."""
    if max_sequences < 1:
        raise ValueError("micro-batch size must be >= 1")
    ordered = sorted(samples, key=lambda s: (-len(s.token_ids), s.index))
    batches: list[list[Sample]] = []
    current: list[Sample] = []
    for sample in ordered:
        longest = len(current[0].token_ids) if current else len(sample.token_ids)
        too_many = len(current) >= max_sequences
        too_long = max_tokens > 0 and current and longest * (len(current) + 1) > max_tokens
        if current and (too_many or too_long):
            batches.append(current)
            current = []
        current.append(sample)
    if current:
        batches.append(current)
    return batches


def split_mini_batches(samples: list[Sample], parts: int, seed: int) -> list[list[Sample]]:
    """`samples` shuffled by `seed` and dealt into `min(parts, len(samples))` parts of near-equal
    size (each part one optimizer update). The same seed gives the same split on every rank."""
    if parts < 1:
        raise ValueError("need at least one mini-batch")
    if parts == 1:
        return [list(samples)]
    order = torch.randperm(len(samples), generator=torch.Generator().manual_seed(seed)).tolist()
    parts = min(parts, len(samples))
    return [[samples[i] for i in order[p::parts]] for p in range(parts)]


def collate(samples: list[Sample], pad_id: int) -> MicroBatch:
    """Right-pads a list of samples into tensors."""
    T = max(len(s.token_ids) for s in samples)
    b = len(samples)
    ids = torch.full((b, T), pad_id, dtype=torch.long)
    attn = torch.zeros((b, T), dtype=torch.long)
    mask = torch.zeros((b, T), dtype=torch.float32)
    blp = torch.zeros((b, T), dtype=torch.float32)
    for row, s in enumerate(samples):
        n = len(s.token_ids)
        if len(s.loss_mask) != n or (s.behaviour_logprobs is not None and len(s.behaviour_logprobs) != n):
            raise ValueError(f"sample {s.index}: token_ids, loss_mask and behaviour_logprobs lengths differ")
        ids[row, :n] = torch.tensor(s.token_ids, dtype=torch.long)
        attn[row, :n] = 1
        mask[row, :n] = torch.tensor(s.loss_mask, dtype=torch.float32)
        if s.behaviour_logprobs is not None:
            blp[row, :n] = torch.tensor(s.behaviour_logprobs, dtype=torch.float32)
    mask[:, 0] = 0.0  # the first token has no prediction
    return MicroBatch(
        ids, attn, mask, blp,
        torch.tensor([s.advantage for s in samples], dtype=torch.float32),
        torch.tensor([s.temperature for s in samples], dtype=torch.float32),
        [s.index for s in samples],
    )


def make_micro_batches(samples: list[Sample], max_sequences: int, pad_id: int, max_tokens: int = 0) -> list[MicroBatch]:
    return [collate(group, pad_id) for group in bucket(samples, max_sequences, max_tokens)]
