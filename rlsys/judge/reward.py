"""From verdict to reward, and applying verdicts to trajectories.

Variants (`judge.reward`), with a = approach/100 clamped to [0, 1]:

| verdict            | `binary` (default)                 | `approach` (opt-in) | `gave_up_penalty` (opt-in) |
|--------------------|------------------------------------|---------------------|----------------------------|
| correct            | 1 + `approach_bonus` * a (bonus 0) | a                   | a                          |
| incorrect / unsure | `binary_incorrect_reward` (0)      | -(1 - a)            | -(1 - a)                   |
| gave_up            | `binary_gave_up_reward`, else `binary_incorrect_reward` | -(1 - a) | -`gave_up_penalty` |
| no answer at all   | `missing_answer_reward` (-0.5)     | as its verdict      | as its verdict             |
| judge_error        | None (excluded)                    | None                | None                       |

With `recovery_bonus` > 0 (opt-in, off by default), `trajectory_reward` adds it to a correct answer
that a cell printed after an observed miss (`search_recovery.py`: read from the tool outputs, never
from the gold alone); wrong answers and lucky first guesses get nothing extra.

Formulas are a registry (`REWARDS`, `@register_reward(name)`): a new one needs no edit here.

`None` means "no reward": the trajectory is dropped from its group's statistics. The default
cannot be raised without raising accuracy: the approach score (a heuristic a policy can game:
measured, GRPO raised the approach reward while accuracy halved) only pays on correct answers,
and only when `approach_bonus` is set; it is always logged (`judge/approach_mean`).
"""

from __future__ import annotations

from collections import Counter
from typing import Any, Callable

from rlsys.judge.config import JudgeConfig
from rlsys.judge.search_recovery import recovery_bonus
from rlsys.judge.types import Category, Verdict
from rlsys.registry import Registry


RewardFormula = Callable[[Verdict, JudgeConfig, bool, float], float]
REWARDS: Registry[RewardFormula] = Registry("judge.reward")
"""Reward formulas by name (`judge.reward`): f(verdict, cfg, missing, a) -> reward, for any
verdict but `judge_error` (always None: excluded); a = approach/100 clamped to [0, 1]."""


def register_reward(name: str) -> Callable[[RewardFormula], RewardFormula]:
    """Decorator: makes `judge.reward: <name>` use the formula."""
    return REWARDS.register(name)


@register_reward("binary")
def _binary(verdict: Verdict, cfg: JudgeConfig, missing: bool, a: float) -> float:
    category = verdict.category
    if missing and category is not Category.CORRECT:
        return float(cfg.missing_answer_reward)
    if category is Category.GAVE_UP and cfg.binary_gave_up_reward is not None:
        return float(cfg.binary_gave_up_reward)
    if category is Category.CORRECT:
        return 1.0 + float(cfg.approach_bonus) * a
    return float(cfg.binary_incorrect_reward)


@register_reward("approach")
def _approach(verdict: Verdict, cfg: JudgeConfig, missing: bool, a: float) -> float:
    return a if verdict.category is Category.CORRECT else -(1.0 - a)


@register_reward("gave_up_penalty")
def _gave_up_penalty(verdict: Verdict, cfg: JudgeConfig, missing: bool, a: float) -> float:
    if verdict.category is Category.GAVE_UP:
        return -float(cfg.gave_up_penalty)
    return _approach(verdict, cfg, missing, a)


def reward(verdict: Verdict, cfg: JudgeConfig | None = None, missing: bool | None = None) -> float | None:
    """The reward of one verdict under `cfg.reward` (see the module docstring); `missing`: the
    episode gave no answer at all (default: `verdict.missing_answer`, which the judges set)."""
    cfg = cfg or JudgeConfig()
    missing = verdict.missing_answer if missing is None else missing
    if verdict.category is Category.JUDGE_ERROR:
        return None
    formula = REWARDS.lookup(cfg.reward)
    a = min(max(float(verdict.approach), 0.0), 100.0) / 100.0
    return formula(verdict, cfg, missing, a)


def trajectory_reward(traj: Any, verdict: Verdict, cfg: JudgeConfig | None = None,
                      missing: bool | None = None) -> float | None:
    """`reward` of the verdict plus the opt-in `recovery_bonus` for a rescued search (None stays None)."""
    cfg = cfg or JudgeConfig()
    value = reward(verdict, cfg, missing)
    if value is None or cfg.recovery_bonus <= 0:
        return value
    return value + recovery_bonus(traj, verdict, cfg.recovery_bonus)


def apply_verdicts(batch: list[Any], verdicts: list[Verdict], cfg: JudgeConfig | None = None) -> dict[str, float]:
    """Sets `reward` on each trajectory (and `failure = "judge_error"` where the judge failed,
    which excludes it from group statistics); returns counts for metrics."""
    if len(batch) != len(verdicts):
        raise ValueError(f"{len(batch)} trajectories but {len(verdicts)} verdicts")
    for traj, verdict in zip(batch, verdicts):
        traj.reward = trajectory_reward(traj, verdict, cfg, missing=getattr(traj, "answer", "") is None)
        if verdict.failed:
            traj.failure = "judge_error"
    return verdict_counts(verdicts)


def verdict_counts(verdicts: list[Verdict]) -> dict[str, float]:
    """`judge/<category>` counts, `judge/judged` and the mean approach of the judged ones."""
    counts = Counter(v.category.value for v in verdicts)
    out: dict[str, float] = {f"judge/{c.value}": float(counts.get(c.value, 0)) for c in Category}
    judged = [v for v in verdicts if not v.failed]
    out["judge/judged"] = float(len(judged))
    out["judge/approach_mean"] = sum(v.approach for v in judged) / len(judged) if judged else 0.0
    return out
