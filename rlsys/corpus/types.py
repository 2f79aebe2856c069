"""Types shared with other components: a question with its gold answer (and gold page/section)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class Question:
    id: str
    question: str
    answer: str
    page_id: str | None = None     # gold page, where known
    section_id: str | None = None  # gold section, where known
    split: str = "train"           # "train" or "test" (held out)
