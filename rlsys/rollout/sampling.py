"""Per-sequence sampling for a batch: temperature, top-p, seeded generators, behaviour log-probs.

The recorded log-prob of a sampled token is `log softmax(logits / T)` at that token (before
top-p truncation); see `Generation.logprobs`. T <= `GREEDY_T` is greedy decoding, recorded
under `softmax(logits)`.
"""

from __future__ import annotations

import torch

GREEDY_T = 1e-5


def sample_batch(
    logits: torch.Tensor,
    temperatures: torch.Tensor,
    top_ps: torch.Tensor,
    generators: list[torch.Generator],
) -> tuple[torch.Tensor, torch.Tensor]:
    """(tokens [B], logprobs [B]) from last-position `logits` [B, V], one generator per row."""
    logits = logits.float()
    greedy = temperatures <= GREEDY_T
    temps = torch.where(greedy, torch.ones_like(temperatures), temperatures).to(logits.dtype)
    logp = torch.log_softmax(logits / temps[:, None], dim=-1)
    probs = logp.exp()
    if bool((top_ps < 1.0).any()):
        probs = _top_p_filter(probs, top_ps.to(probs.dtype))
    tokens = torch.empty(logits.shape[0], dtype=torch.long, device=logits.device)
    for row in range(logits.shape[0]):
        if bool(greedy[row]):
            tokens[row] = torch.argmax(logits[row])
        else:
            tokens[row] = torch.multinomial(probs[row], 1, generator=generators[row])[0]
    return tokens, logp.gather(1, tokens[:, None]).squeeze(1)


def _top_p_filter(probs: torch.Tensor, top_ps: torch.Tensor) -> torch.Tensor:
    """Zeroes the tail outside each row's nucleus (the smallest set with mass >= top_p)."""
    sorted_probs, order = torch.sort(probs, dim=-1, descending=True)
    before = torch.cumsum(sorted_probs, dim=-1) - sorted_probs  # mass strictly before each token
    drop_sorted = before >= top_ps[:, None]
    drop_sorted[:, 0] = False
    drop = torch.zeros_like(drop_sorted).scatter(1, order, drop_sorted)
    return probs.masked_fill(drop, 0.0)


def hit_stop(tail_text: str, stops: list[str]) -> bool:
    """True when a stop string occurs in the decoded tail of the generated tokens."""
    return any(s and s in tail_text for s in stops)
