"""Per-token log-probabilities (and entropy) of given token sequences under a causal LM.

The rollout engine records each sampled token's log-prob under `softmax(logits / T)` with the
rollout's temperature T, so training recomputes them the same way: logits are divided by each
sequence's temperature before the log-softmax. The result is aligned with the input tokens:
`logprobs[b, t] = log p(input_ids[b, t] | input_ids[b, :t])`, and position 0 is 0. A temperature
of 0 (greedy decoding) means T = 1, as the engines record it (see `rollout.types.Generation`).
"""

from __future__ import annotations

import torch

CHUNK = 512  # positions per log-softmax chunk (bounds the float32 copy of the logits)


def token_logprobs(
    model,
    input_ids: torch.Tensor,
    attention_mask: torch.Tensor,
    temperatures: torch.Tensor | None = None,
    with_entropy: bool = False,
) -> tuple[torch.Tensor, torch.Tensor | None]:
    """(logprobs [B, T] float32, entropy [B, T] float32 or None), entropy of softmax(logits / T)."""
    logits = model(input_ids=input_ids, attention_mask=attention_mask).logits  # [B, T, V]
    B, T = input_ids.shape
    targets = input_ids[:, 1:]
    temps = None
    if temperatures is not None:
        temps = temperatures.to(device=logits.device, dtype=torch.float32).view(B, 1, 1)
        temps = torch.where(temps > 0, temps, torch.ones_like(temps))  # T == 0 (greedy) records T = 1
    lp_chunks, ent_chunks = [], []
    for start in range(0, T - 1, CHUNK):
        stop = min(start + CHUNK, T - 1)
        chunk = logits[:, start:stop].float()
        if temps is not None:
            chunk = chunk / temps
        norm = torch.logsumexp(chunk, dim=-1)
        picked = chunk.gather(-1, targets[:, start:stop].unsqueeze(-1)).squeeze(-1)
        lp_chunks.append(picked - norm)
        if with_entropy:
            with torch.no_grad():
                probs = torch.softmax(chunk, dim=-1)
                ent_chunks.append(norm - (probs * chunk).sum(-1))
    zeros = torch.zeros(B, 1, dtype=torch.float32, device=logits.device)
    logprobs = torch.cat([zeros] + lp_chunks, dim=1)
    entropy = torch.cat([zeros] + ent_chunks, dim=1) if with_entropy else None
    return logprobs, entropy
