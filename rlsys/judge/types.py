"""Types shared with other components: the judge's verdict."""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum


class Category(str, Enum):
    CORRECT = "correct"
    INCORRECT = "incorrect"
    GAVE_UP = "gave_up"
    JUDGE_ERROR = "judge_error"  # the judge failed: excluded from group statistics, never "wrong"


@dataclass
class Verdict:
    category: Category
    approach: float = 50.0   # 0..100: quality of the search approach
    rationale: str = ""
    raw: str = ""            # the judge's raw reply (LLM judges)

    @property
    def correct(self) -> bool:
        return self.category is Category.CORRECT

    @property
    def failed(self) -> bool:
        return self.category is Category.JUDGE_ERROR
