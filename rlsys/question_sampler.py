"""Deterministic, resumable sampling of training questions.

Questions are visited epoch by epoch, each epoch in a fresh order drawn from `seed + epoch`;
the sampler's whole state is one integer (`cursor`, questions handed out so far), so a resumed
run continues with exactly the questions an uninterrupted run would have seen.
"""

from __future__ import annotations

import random
from typing import Generic, Sequence, TypeVar

T = TypeVar("T")


class QuestionSampler(Generic[T]):
    def __init__(self, items: Sequence[T], seed: int = 0, cursor: int = 0):
        if not items:
            raise ValueError("no questions to sample from")
        self.items = list(items)
        self.seed = seed
        self.cursor = cursor
        self._orders: dict[int, list[int]] = {}

    def _order(self, epoch: int) -> list[int]:
        if epoch not in self._orders:
            order = list(range(len(self.items)))
            random.Random(self.seed * 1_000_003 + epoch).shuffle(order)
            self._orders = {epoch: order}  # keep only the current epoch
        return self._orders[epoch]

    def take(self, n: int) -> list[T]:
        """The next `n` questions (crossing epoch boundaries as needed)."""
        out = []
        for _ in range(n):
            epoch, index = divmod(self.cursor, len(self.items))
            out.append(self.items[self._order(epoch)[index]])
            self.cursor += 1
        return out

    def state(self) -> dict:
        return {"cursor": self.cursor, "seed": self.seed}
