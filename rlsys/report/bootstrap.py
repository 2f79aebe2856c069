"""Paired bootstrap intervals for the difference in accuracy between two evaluations.

Two evaluations of the same held-out questions (e.g. SFT and SFT+RL) are paired by question:
each question's score is the mean correctness over its samples (1 sample or several), the
difference is resampled over questions with replacement, and the 2.5th/97.5th percentiles of
the resampled mean differences are the 95% interval. Pairing removes the question-difficulty
variance that unpaired intervals would count twice. Only questions present in both
evaluations count (the number is reported).
"""

from __future__ import annotations

from typing import Any, Iterable, Mapping

import numpy as np


def per_question_scores(episodes: Iterable[Mapping[str, Any]]) -> dict[str, float]:
    """question_id -> share of that question's episodes judged correct (infra errors count as
    not correct: an episode that failed is not an answer)."""
    totals: dict[str, list[int]] = {}
    for row in episodes:
        qid = str(row.get("question_id"))
        hit = 1 if row.get("class") == "correct" else 0
        totals.setdefault(qid, [0, 0])
        totals[qid][0] += hit
        totals[qid][1] += 1
    return {qid: hits / n for qid, (hits, n) in totals.items()}


def paired_bootstrap(a: Mapping[str, float], b: Mapping[str, float], *, resamples: int = 2000,
                     seed: int = 0, confidence: float = 0.95) -> dict[str, Any]:
    """Mean of b - a over shared questions, with a paired bootstrap interval.

    Returns {"diff", "low", "high", "questions", "excludes_zero"}; with no shared question every
    figure is None. `resamples` >= 1; `confidence` in (0, 1).
    """
    if resamples < 1:
        raise ValueError(f"resamples must be >= 1 (got {resamples})")
    if not 0.0 < confidence < 1.0:
        raise ValueError(f"confidence must be in (0, 1) (got {confidence})")
    shared = sorted(set(a) & set(b))
    if not shared:
        return {"diff": None, "low": None, "high": None, "questions": 0, "excludes_zero": None}
    diffs = np.array([b[q] - a[q] for q in shared], dtype=np.float64)
    rng = np.random.default_rng(seed)
    picks = rng.integers(0, len(diffs), size=(resamples, len(diffs)))
    means = diffs[picks].mean(axis=1)
    tail = (1.0 - confidence) / 2.0
    low, high = np.quantile(means, [tail, 1.0 - tail])
    return {
        "diff": float(diffs.mean()), "low": float(low), "high": float(high), "questions": len(shared),
        "excludes_zero": bool(low > 0.0 or high < 0.0),
    }
