"""A running decode batch over one KV cache that rows can join and leave (continuous batching).

Rows are left-padded: the 2-D attention mask marks real tokens and each row carries its own
position ids. A joining group of requests is prefilled on its own and its cache is merged in
(the shorter side gets left padding); rows that finish are dropped from the cache, and columns
that have become padding in every row are trimmed. With a `PrefixCache`, a leaving row's KV is
kept, and a joining request that extends it (an episode's next turn) prefills only its new tokens.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F

from rlsys.rollout.hf_prefix_cache import PrefixCache
from rlsys.rollout.sampling import sample_batch


def _pad_left(x: torch.Tensor, n: int, dim: int) -> torch.Tensor:
    if n == 0:
        return x
    spec = [0, 0] * (x.dim() - 1 - dim) + [n, 0]
    return F.pad(x, spec)


class RunningBatch:
    """The decode state of the rows in flight: cache, mask, positions, sampling settings."""

    def __init__(self, model: Any, device: str, pad_id: int, prefix: PrefixCache | None = None):
        self.model, self.device, self.pad_id, self.prefix = model, device, pad_id, prefix
        self.rows: list[Any] = []            # one request object per row, in row order
        self.cache = None
        self.mask: torch.Tensor | None = None
        self.next_pos: torch.Tensor | None = None
        self.logits: torch.Tensor | None = None  # next-token logits of each row
        self.temps: torch.Tensor | None = None
        self.top_ps: torch.Tensor | None = None
        self.gens: list[torch.Generator] = []

    def __len__(self) -> int:
        return len(self.rows)

    def admit(self, requests: list[Any], generators: list[torch.Generator]) -> None:
        """Prefills `requests` (objects with `.prompt` and `.params`) and adds them as rows."""
        fresh, fresh_gens = [], []
        for req, gen in zip(requests, generators):
            hit = self.prefix.take(req.prompt) if self.prefix is not None else None
            if hit is None:
                fresh.append(req)
                fresh_gens.append(gen)
            else:
                self._prefill_from(req, gen, *hit)
        if fresh:
            self._prefill(fresh, fresh_gens)

    def _prefill(self, requests: list[Any], generators: list[torch.Generator]) -> None:
        """Prefills each distinct prompt once (a GRPO group shares its prompt) and copies rows."""
        from transformers import DynamicCache

        unique: dict[tuple[int, ...], int] = {}
        for req in requests:
            unique.setdefault(tuple(req.prompt), len(unique))
        prompts = list(unique)
        width = max(len(p) for p in prompts)
        ids = torch.full((len(prompts), width), self.pad_id, dtype=torch.long)
        mask = torch.zeros((len(prompts), width), dtype=torch.long)
        for row, prompt in enumerate(prompts):
            ids[row, width - len(prompt):] = torch.tensor(prompt)
            mask[row, width - len(prompt):] = 1
        ids, mask = ids.to(self.device), mask.to(self.device)
        positions = (mask.cumsum(-1) - 1).clamp(min=0)
        cache = DynamicCache(config=self.model.config)
        logits = self.model(input_ids=ids, attention_mask=mask, position_ids=positions, past_key_values=cache,
                            use_cache=True, logits_to_keep=1).logits[:, -1, :]
        rows = torch.tensor([unique[tuple(r.prompt)] for r in requests], dtype=torch.long, device=self.device)
        if len(prompts) < len(requests):
            cache.batch_select_indices(rows)  # repeated indices copy a prompt's KV into each of its rows
        self._merge(requests, generators, cache, mask[rows], positions[rows, -1] + 1, logits[rows])

    def _prefill_from(self, req: Any, generator: torch.Generator, cached: int, kv: list) -> None:
        """Prefills only the part of `req.prompt` after its first `cached` tokens, whose KV is `kv`."""
        from transformers import DynamicCache

        cache = DynamicCache(config=self.model.config)
        for layer, (keys, values) in enumerate(kv):
            cache.update(keys, values, layer)
        rest = torch.tensor([req.prompt[cached:]], dtype=torch.long, device=self.device)
        mask = torch.ones((1, len(req.prompt)), dtype=torch.long, device=self.device)
        positions = torch.arange(cached, len(req.prompt), device=self.device)[None, :]
        logits = self.model(input_ids=rest, attention_mask=mask, position_ids=positions, past_key_values=cache,
                            use_cache=True, logits_to_keep=1).logits[:, -1, :]
        self._merge([req], [generator], cache, mask, positions[:, -1] + 1, logits)

    def _merge(self, requests, generators, cache, mask, next_pos, logits) -> None:
        temps = torch.tensor([r.params.temperature for r in requests], dtype=torch.float32, device=self.device)
        top_ps = torch.tensor([r.params.top_p for r in requests], dtype=torch.float32, device=self.device)
        if self.cache is None:
            self.cache, self.mask, self.next_pos, self.logits = cache, mask, next_pos, logits
            self.temps, self.top_ps = temps, top_ps
        else:
            old, new = self.mask.shape[1], mask.shape[1]
            width = max(old, new)
            for mine, theirs in zip(self.cache.layers, cache.layers):
                mine.keys = torch.cat([_pad_left(mine.keys, width - old, 2), _pad_left(theirs.keys, width - new, 2)])
                mine.values = torch.cat([_pad_left(mine.values, width - old, 2), _pad_left(theirs.values, width - new, 2)])
            self.mask = torch.cat([_pad_left(self.mask, width - old, 1), _pad_left(mask, width - new, 1)])
            self.next_pos = torch.cat([self.next_pos, next_pos])
            self.logits = torch.cat([self.logits, logits])
            self.temps, self.top_ps = torch.cat([self.temps, temps]), torch.cat([self.top_ps, top_ps])
        self.rows += requests
        self.gens += generators

    def _save_row(self, row: int) -> None:
        """Stores the KV of a leaving row (its prompt and every sampled token but the last)."""
        req = self.rows[row]
        fed = req.prompt + req.tokens[:-1]
        n = int(self.mask[row].sum())
        if n != len(fed):
            return
        kv = [(layer.keys[row:row + 1, :, -n:].clone(), layer.values[row:row + 1, :, -n:].clone())
              for layer in self.cache.layers]
        self.prefix.put(fed, kv)

    def sample(self) -> tuple[torch.Tensor, list[int], list[float]]:
        """Samples one token per row from the current logits."""
        tokens, logps = sample_batch(self.logits, self.temps, self.top_ps, self.gens)
        return tokens, tokens.tolist(), logps.tolist()

    def keep(self, keep: list[int], tokens: torch.Tensor) -> torch.Tensor:
        """Drops every row not in `keep` (row indices); returns the kept rows' tokens."""
        if len(keep) == len(self.rows):
            return tokens
        if self.prefix is not None:
            kept = set(keep)
            for row in range(len(self.rows)):
                if row not in kept:
                    self._save_row(row)
        if not keep:  # every row finished: start over empty
            self.__init__(self.model, self.device, self.pad_id, self.prefix)
            return tokens[:0]
        index = torch.tensor(keep, dtype=torch.long, device=self.device)
        self.cache.batch_select_indices(index)
        self.mask, self.next_pos = self.mask[index], self.next_pos[index]
        self.temps, self.top_ps = self.temps[index], self.top_ps[index]
        self.rows = [self.rows[i] for i in keep]
        self.gens = [self.gens[i] for i in keep]
        first = int(self.mask.any(dim=0).nonzero()[0])  # columns left of this are padding in every row
        if first > 0:
            self.mask = self.mask[:, first:]
            for layer in self.cache.layers:
                layer.keys, layer.values = layer.keys[:, :, first:], layer.values[:, :, first:]
        return tokens[index]

    def step(self, tokens: torch.Tensor) -> None:
        """Feeds one token per row; the next logits are ready for `sample`."""
        self.mask = torch.cat([self.mask, torch.ones((len(self.rows), 1), dtype=self.mask.dtype, device=self.device)], 1)
        self.logits = self.model(input_ids=tokens[:, None], attention_mask=self.mask, position_ids=self.next_pos[:, None],
                                 past_key_values=self.cache, use_cache=True, logits_to_keep=1).logits[:, -1, :]
        self.next_pos = self.next_pos + 1
