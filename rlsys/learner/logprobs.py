"""Per-token log-probabilities (and entropy) of given token sequences under a causal LM.

The rollout engine records each sampled token's log-prob under `softmax(logits / T)` with the
rollout's temperature T, so training recomputes them the same way: logits are divided by each
sequence's temperature before the log-softmax. The result is aligned with the input tokens:
`logprobs[b, t] = log p(input_ids[b, t] | input_ids[b, :t])`, and position 0 is 0. A temperature
of 0 (greedy decoding) means T = 1, as the engines record it (see `rollout.types.Generation`).
"""

from __future__ import annotations

import torch

CHUNK = 1024  # positions per chunk of the vocabulary projection (default of learner.logits_chunk_tokens)


def _split_head(model):
    """(decoder, lm_head) of a causal LM, through PEFT and DeepSpeed wrappers; None if unknown.
    LoRA layers live inside the decoder's modules, so calling the decoder applies them (and
    `disable_adapter()` still switches them off)."""
    inner = getattr(model, "module", model)  # DeepSpeed engine
    base = inner.get_base_model() if hasattr(inner, "get_base_model") else inner
    decoder, head = getattr(base, "model", None), getattr(base, "lm_head", None)
    if decoder is None or head is None or not callable(decoder):
        return None
    return decoder, head


def _chunk_stats(head, hidden, targets, temps, with_entropy: bool):
    logits = head(hidden).float()
    if temps is not None:
        logits = logits / temps
    norm = torch.logsumexp(logits, dim=-1)
    picked = logits.gather(-1, targets.unsqueeze(-1)).squeeze(-1) - norm
    if not with_entropy:
        return picked, None
    with torch.no_grad():
        entropy = norm - (torch.softmax(logits, dim=-1) * logits).sum(-1)
    return picked, entropy


def token_logprobs(
    model,
    input_ids: torch.Tensor,
    attention_mask: torch.Tensor,
    temperatures: torch.Tensor | None = None,
    with_entropy: bool = False,
    chunk: int = CHUNK,
) -> tuple[torch.Tensor, torch.Tensor | None]:
    """(logprobs [B, T] float32, entropy [B, T] float32 or None), entropy of softmax(logits / T).

    The vocabulary projection runs over `chunk` positions at a time under activation
    checkpointing, so the full [B, T, V] logits never exist (10 GiB at Qwen3-4B x 6k tokens):
    backward recomputes one chunk's logits at a time from the kept hidden states.
    """
    B, T = input_ids.shape
    targets = input_ids[:, 1:]
    split = _split_head(model)
    if split is None:  # an unknown architecture: whole logits, projected by the model itself
        hidden, head = model(input_ids=input_ids, attention_mask=attention_mask).logits, torch.nn.Identity()
    else:
        decoder, head = split
        hidden = decoder(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state
    temps = None
    if temperatures is not None:
        temps = temperatures.to(device=hidden.device, dtype=torch.float32).view(B, 1, 1)
        temps = torch.where(temps > 0, temps, torch.ones_like(temps))  # T == 0 (greedy) records T = 1
    lp_chunks, ent_chunks = [], []
    chunk = chunk if chunk > 0 else max(1, T - 1)
    for start in range(0, T - 1, chunk):
        stop = min(start + chunk, T - 1)
        args = (head, hidden[:, start:stop], targets[:, start:stop], temps, with_entropy)
        if torch.is_grad_enabled() and hidden.requires_grad:
            lp, ent = torch.utils.checkpoint.checkpoint(_chunk_stats, *args, use_reentrant=False)
        else:
            lp, ent = _chunk_stats(*args)
        lp_chunks.append(lp)
        if with_entropy:
            ent_chunks.append(ent)
    zeros = torch.zeros(B, 1, dtype=torch.float32, device=hidden.device)
    logprobs = torch.cat([zeros] + lp_chunks, dim=1)
    entropy = torch.cat([zeros] + ent_chunks, dim=1) if with_entropy else None
    return logprobs, entropy
