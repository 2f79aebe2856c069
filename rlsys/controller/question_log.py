"""`<run>/questions.jsonl`: the question ids of every training step, in the order they were drawn.

    log = QuestionLog(run_dir, resume_step=12)   # resume: rows past step 12 are dropped
    log.write(13, ["syn-q-0041", "syn-q-0007"])
    QuestionLog.read(run_dir)                     # [{"step": 1, "question_ids": [...]}, ...]

One line per learner step, written when the step is logged. A resumed run first drops the rows of
the steps after its checkpoint (they are trained again) and a truncated last line (a crash), so
the file always tells which questions the run's steps trained on: a resumed run must show the
same sequence as an uninterrupted one, each question once per epoch.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

FILE = "questions.jsonl"


class QuestionLog:
    def __init__(self, run_dir: str | Path, resume_step: int | None = None):
        self.path = Path(run_dir) / FILE
        rows = self.read(run_dir)
        if resume_step is not None:
            rows = [r for r in rows if r["step"] <= resume_step]
        tmp = self.path.with_suffix(".jsonl.tmp")
        tmp.write_text("".join(json.dumps(r) + "\n" for r in rows))
        os.replace(tmp, self.path)

    def write(self, step: int, question_ids: list[str], topup_ids: list[str] | None = None) -> None:
        """`question_ids`: the step's own questions; `topup_ids`: those dynamic sampling drew for it
        from its second sampler (written only when there were any)."""
        row: dict[str, Any] = {"step": int(step), "question_ids": [str(q) for q in question_ids]}
        if topup_ids:
            row["topup_ids"] = [str(q) for q in topup_ids]
        with open(self.path, "a") as f:
            f.write(json.dumps(row) + "\n")
            f.flush()

    @staticmethod
    def read(run_dir: str | Path) -> list[dict[str, Any]]:
        """The complete rows, in file order (a line cut short by a crash is left out)."""
        path = Path(run_dir) / FILE
        if not path.is_file():
            return []
        rows = []
        for line in path.read_text().splitlines():
            try:
                row = json.loads(line)
            except json.JSONDecodeError:
                continue
            if isinstance(row, dict) and isinstance(row.get("step"), int) and isinstance(row.get("question_ids"), list):
                rows.append(row)
        return rows
