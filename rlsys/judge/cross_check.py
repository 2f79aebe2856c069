"""A model judge paired with the rule judge, in one of two modes (`judge.cross_check`):

- `all`: the model judges every answer; the rule judge runs next to it and agreement on the
  category is counted (`stats`) and noted in the rationale where they differ. Verdicts stay the model's.
- `unsure`: the rule judge decides; only the answers it is `unsure` of (paraphrase, alias, part
  of the gold) go to the model judge. Counted: `cross_check/rule_decided`, `cross_check/sent_to_model`.
"""

from __future__ import annotations

from collections import Counter

from rlsys.judge.rule_judge import RuleJudge
from rlsys.judge.types import Category, Judge, Verdict
from rlsys.rollout.types import Trajectory


class CrossCheckedJudge:
    """`score` of `primary` (a model judge) with `RuleJudge` next to it or in front of it."""

    def __init__(self, primary: Judge, rule: RuleJudge, mode: str = "all"):
        if mode not in ("all", "unsure"):
            raise ValueError(f"cross-check mode must be 'all' or 'unsure', got {mode!r}")
        self.primary = primary
        self.rule = rule
        self.mode = mode
        self.stats: Counter[str] = Counter()

    async def score(self, batch: list[Trajectory]) -> list[Verdict]:
        checks = await self.rule.score(batch)
        if self.mode == "unsure":
            return await self._unsure_to_model(batch, checks)
        verdicts = await self.primary.score(batch)
        for verdict, check in zip(verdicts, checks):
            if check.category is Category.UNSURE:
                self.stats["cross_check/rule_unsure"] += 1
            if verdict.failed or check.failed or check.category is Category.UNSURE:
                continue
            if verdict.category is check.category:
                self.stats["cross_check/agree"] += 1
            else:
                self.stats["cross_check/disagree"] += 1
                verdict.rationale += f" [rule judge: {check.category.value}]"
        return verdicts

    async def _unsure_to_model(self, batch: list[Trajectory], checks: list[Verdict]) -> list[Verdict]:
        unsure = [i for i, check in enumerate(checks) if check.category is Category.UNSURE]
        self.stats["cross_check/rule_decided"] += len(batch) - len(unsure)
        self.stats["cross_check/sent_to_model"] += len(unsure)
        out = list(checks)
        if unsure:
            answers = await self.primary.score([batch[i] for i in unsure])
            for i, verdict in zip(unsure, answers):
                verdict.rationale += " [rule judge: unsure]"
                out[i] = verdict
        return out

    def agreement(self) -> float | None:
        """Share of answers both judges decided on which they gave the same category (`all` mode)."""
        total = self.stats["cross_check/agree"] + self.stats["cross_check/disagree"]
        return self.stats["cross_check/agree"] / total if total else None
