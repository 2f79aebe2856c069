"""Types shared with other components: the judge's verdict."""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:  # only for annotations: keeps this module free of import cycles
    from rlsys.rollout.types import Trajectory


class Category(str, Enum):
    CORRECT = "correct"
    INCORRECT = "incorrect"
    GAVE_UP = "gave_up"
    UNSURE = "unsure"        # the rule judge cannot decide (paraphrase, alias): not rewarded as correct
    JUDGE_ERROR = "judge_error"  # the judge failed: excluded from group statistics, never "wrong"


@dataclass
class Verdict:
    category: Category
    approach: float = 50.0   # 0..100: quality of the search approach
    rationale: str = ""
    raw: str = ""            # the judge's raw reply (LLM judges)
    missing_answer: bool = False  # the episode gave no answer at all (set by the judges; see `reward`)

    @property
    def correct(self) -> bool:
        return self.category is Category.CORRECT

    @property
    def failed(self) -> bool:
        return self.category is Category.JUDGE_ERROR


class Judge(Protocol):
    """Anything that scores trajectories: the rule, LLM and HTTP judges (and `JudgeActor`)."""

    async def score(self, batch: list["Trajectory"]) -> list[Verdict]:
        """One verdict per trajectory, in order; a judge failure is `Category.JUDGE_ERROR`, never an exception."""
        ...
