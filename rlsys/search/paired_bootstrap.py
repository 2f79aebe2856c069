"""Paired bootstrap of an accuracy difference: two methods scored on the same questions.

    diff, (low, high) = paired_bootstrap([1, 0, 1, 1], [0, 0, 1, 0], resamples=2000, seed=0)

`diff` is mean(a) - mean(b); the interval is the (alpha/2, 1 - alpha/2) percentile interval of that
difference over `resamples` resamplings of the questions with replacement (the same resampled
questions for both methods: the pairing removes the questions' own difficulty from the spread).
"""

from __future__ import annotations

import random


def paired_bootstrap(a: list[float], b: list[float], resamples: int = 2000, seed: int = 0,
                     alpha: float = 0.05) -> tuple[float, tuple[float, float]]:
    if len(a) != len(b) or not a:
        raise ValueError(f"paired bootstrap needs two equal non-empty score lists, got {len(a)} and {len(b)}")
    if resamples < 1 or not 0 < alpha < 1:
        raise ValueError(f"need resamples >= 1 and 0 < alpha < 1, got {resamples}, {alpha}")
    n = len(a)
    diffs = [x - y for x, y in zip(a, b)]
    rng = random.Random(seed)
    means = sorted(sum(diffs[rng.randrange(n)] for _ in range(n)) / n for _ in range(resamples))
    low = means[int(alpha / 2 * (resamples - 1))]
    high = means[int(round((1 - alpha / 2) * (resamples - 1)))]
    return sum(diffs) / n, (low, high)
