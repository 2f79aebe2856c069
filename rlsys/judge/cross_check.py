"""A judge paired with the rule judge: the primary's verdicts are returned unchanged, and
agreement on the category is counted (`stats`) and noted in the rationale where they differ."""

from __future__ import annotations

from collections import Counter

from rlsys.judge.rule_judge import RuleJudge
from rlsys.judge.types import Judge, Verdict
from rlsys.rollout.types import Trajectory


class CrossCheckedJudge:
    """`score` of `primary`, cross-checked against `RuleJudge` (cheap: no model)."""

    def __init__(self, primary: Judge, rule: RuleJudge):
        self.primary = primary
        self.rule = rule
        self.stats: Counter[str] = Counter()

    async def score(self, batch: list[Trajectory]) -> list[Verdict]:
        verdicts = await self.primary.score(batch)
        checks = await self.rule.score(batch)
        for verdict, check in zip(verdicts, checks):
            if verdict.failed or check.failed:
                continue
            if verdict.category is check.category:
                self.stats["cross_check/agree"] += 1
            else:
                self.stats["cross_check/disagree"] += 1
                verdict.rationale += f" [rule judge: {check.category.value}]"
        return verdicts

    def agreement(self) -> float | None:
        """Share of judged trajectories on which both judges gave the same category."""
        total = self.stats["cross_check/agree"] + self.stats["cross_check/disagree"]
        return self.stats["cross_check/agree"] / total if total else None
