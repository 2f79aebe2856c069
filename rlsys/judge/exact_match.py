"""`ExactMatchJudge`: correct iff the answer equals the gold answer exactly (outer whitespace aside).

For tasks with one right string (reverse_text): no normalisation, no aliases, no `unsure`.
An episode without an answer is `incorrect` with `missing_answer` set. The approach score is the
answer's character similarity to the gold answer (difflib ratio, x100): with `judge.reward:
approach` a wrong answer earns -(1 - similarity), a dense signal for learning from scratch, while
only an exact match earns the full reward (and counts as correct).
"""

from __future__ import annotations

import difflib
from typing import Any

from rlsys.judge.types import Category, Verdict


class ExactMatchJudge:
    def __init__(self, cfg: Any = None):
        self.cfg = cfg

    def verdict(self, answer: str | None, gold: str) -> Verdict:
        if answer is None:
            return Verdict(Category.INCORRECT, 0.0, "no answer", missing_answer=True)
        if answer.strip() == gold.strip():
            return Verdict(Category.CORRECT, 100.0, "exact match")
        similarity = difflib.SequenceMatcher(None, answer.strip(), gold.strip(), autojunk=False).ratio()
        return Verdict(Category.INCORRECT, round(100.0 * similarity, 3), "not an exact match")

    async def score(self, batch: list[Any]) -> list[Verdict]:
        return [self.verdict(t.answer, t.question.answer) for t in batch]


class PositionMatchJudge(ExactMatchJudge):
    """`ExactMatchJudge` whose approach score is positional: the share of positions where the
    answer has the gold's character, over the longer of the two (x100). `"12"` for gold `"21"`
    scores 0 (a copy is not half a reversal, as difflib would say); `"22"` scores 50."""

    def verdict(self, answer: str | None, gold: str) -> Verdict:
        verdict = super().verdict(answer, gold)
        if answer is None or verdict.category is Category.CORRECT:
            return verdict
        a, g = answer.strip(), gold.strip()
        hits = sum(x == y for x, y in zip(a, g))
        verdict.approach = round(100.0 * hits / max(len(a), len(g), 1), 3)
        return verdict
