"""Per-episode KV reuse for `HFEngine`: the KV of a finished request, keyed by its tokens.

An episode's next turn is its previous prompt + the sampled tokens + the observation, so the
KV computed for the previous turn is a prefix of the next request. When a row leaves the
batch its KV (for prompt + all sampled tokens but the last, which was never fed) is stored;
a new request whose prompt starts with a stored sequence prefills only the rest. Entries are
used once (the episode moves on) and evicted oldest first; the cache is cleared whenever the
weights change (a new adapter).
"""

from __future__ import annotations

from collections import OrderedDict

import torch

LayerKV = list[tuple[torch.Tensor, torch.Tensor]]  # per layer (keys, values), each [1, heads, T, dim]


class PrefixCache:
    def __init__(self, max_entries: int = 128):
        self.max_entries = max_entries
        self._entries: OrderedDict[tuple[int, ...], LayerKV] = OrderedDict()
        self.hits = 0
        self.reused_tokens = 0

    def __len__(self) -> int:
        return len(self._entries)

    def put(self, tokens: list[int], kv: LayerKV) -> None:
        if self.max_entries <= 0 or not tokens:
            return
        self._entries[tuple(tokens)] = kv
        self._entries.move_to_end(tuple(tokens))
        while len(self._entries) > self.max_entries:
            self._entries.popitem(last=False)

    def take(self, prompt: list[int]) -> tuple[int, LayerKV] | None:
        """(cached length, KV) of the longest stored prefix of `prompt` (shorter than it), removed."""
        best = None
        for key in self._entries:
            n = len(key)
            if n < len(prompt) and (best is None or n > len(best)) and tuple(prompt[:n]) == key:
                best = key
        if best is None:
            return None
        self.hits += 1
        self.reused_tokens += len(best)
        return len(best), self._entries.pop(best)

    def clear(self) -> None:
        self._entries.clear()
