"""Calibrating a judge against reference verdicts: how often does a cheap judge (the rule judge)
agree with an expensive one (an LLM judge, a person) before a long run trusts it?

Rows (JSON lines): `question`, `gold` (a string, or a list of aliases any one of which is the
answer), `response` (the answer to judge; null for none), `verdict` (bool: the reference says
correct), optional `approach`. Each row becomes a one-turn trajectory whose final answer is the
response; the judge's verdict counts as "correct" only when its category is `correct`
(`unsure`, `incorrect`, `gave_up` are "not correct"; `judge_error` rows are counted apart).
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from rlsys.corpus.types import Question
from rlsys.judge.types import Category, Judge, Verdict
from rlsys.rollout.types import EndReason, Trajectory, Turn


class CalibrationFileError(ValueError):
    """A calibration file that cannot be read: the message names the line."""


@dataclass
class Row:
    question: str
    gold: str | list[str]
    response: str | None
    verdict: bool
    approach: float | None = None
    line: int = 0


@dataclass
class Report:
    """Agreement of a judge with the reference verdicts (`correct` is the positive class)."""

    rows: int
    judged: int
    judge_errors: int
    agreement: float
    kappa: float
    precision_correct: float
    recall_correct: float
    confusion: dict[str, int]      # tp (both correct), fp (judge correct, reference not), fn, tn
    categories: dict[str, int]     # the judge's categories
    seconds: float
    verdicts_per_s: float
    disagreements: list[dict[str, Any]] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def load_rows(path: str | Path) -> list[Row]:
    """The rows of a calibration file; a clear error naming the line for a bad one."""
    rows: list[Row] = []
    with Path(path).open(encoding="utf-8") as handle:
        for number, line in enumerate(handle, 1):
            if not line.strip():
                continue
            try:
                obj = json.loads(line)
            except json.JSONDecodeError as err:
                raise CalibrationFileError(f"{path}:{number}: not JSON: {err}") from None
            missing = [k for k in ("question", "gold", "response", "verdict") if k not in obj]
            if missing:
                raise CalibrationFileError(f"{path}:{number}: missing {', '.join(missing)}")
            gold = obj["gold"]
            if not (isinstance(gold, str) and gold.strip()) and not (
                isinstance(gold, list) and gold and all(isinstance(g, str) for g in gold)
            ):
                raise CalibrationFileError(f"{path}:{number}: gold must be a non-empty string or list of strings")
            if not isinstance(obj["verdict"], bool):
                raise CalibrationFileError(f"{path}:{number}: verdict must be true or false")
            response = obj["response"]
            if response is not None and not isinstance(response, str):
                raise CalibrationFileError(f"{path}:{number}: response must be a string or null")
            rows.append(Row(str(obj["question"]), gold, response, obj["verdict"], obj.get("approach"), number))
    if not rows:
        raise CalibrationFileError(f"{path}: no rows")
    return rows


def row_trajectory(row: Row, index: int) -> Trajectory:
    """A one-turn trajectory answering `row.question` with `row.response` (aliases joined by `|`)."""
    gold = row.gold if isinstance(row.gold, str) else " | ".join(row.gold)
    turns = [] if row.response is None else [Turn(text=f"<answer>{row.response}</answer>")]
    return Trajectory(
        episode_id=f"calibration-{index}",
        question=Question(id=f"row-{row.line or index}", question=row.question, answer=gold),
        token_ids=[0], loss_mask=[0], behaviour_logprobs=[0.0], prompt_len=1,
        turns=turns, answer=row.response,
        end_reason=EndReason.ANSWERED if row.response is not None else EndReason.MAX_TURNS,
    )


def cohen_kappa(tp: int, fp: int, fn: int, tn: int) -> float:
    """Cohen's kappa of two binary raters (1.0 when they agree on everything, also trivially)."""
    n = tp + fp + fn + tn
    if n == 0:
        return 0.0
    observed = (tp + tn) / n
    expected = ((tp + fp) * (tp + fn) + (fn + tn) * (fp + tn)) / (n * n)
    return 1.0 if expected == 1.0 else (observed - expected) / (1.0 - expected)


def report_for(rows: list[Row], verdicts: list[Verdict], seconds: float, show: int = 20) -> Report:
    """Agreement, kappa, confusion and the first `show` disagreements."""
    tp = fp = fn = tn = errors = 0
    categories: dict[str, int] = {}
    disagreements: list[dict[str, Any]] = []
    for row, verdict in zip(rows, verdicts):
        categories[verdict.category.value] = categories.get(verdict.category.value, 0) + 1
        if verdict.category is Category.JUDGE_ERROR:
            errors += 1
            continue
        said = verdict.category is Category.CORRECT
        tp += said and row.verdict
        fp += said and not row.verdict
        fn += (not said) and row.verdict
        tn += (not said) and not row.verdict
        if said != row.verdict and len(disagreements) < show:
            disagreements.append({"line": row.line, "question": row.question, "gold": row.gold,
                                  "response": row.response, "reference": row.verdict,
                                  "judge": verdict.category.value, "rationale": verdict.rationale[:300]})
    judged = tp + fp + fn + tn
    return Report(
        rows=len(rows), judged=judged, judge_errors=errors,
        agreement=(tp + tn) / judged if judged else 0.0,
        kappa=cohen_kappa(tp, fp, fn, tn),
        precision_correct=tp / (tp + fp) if tp + fp else 0.0,
        recall_correct=tp / (tp + fn) if tp + fn else 0.0,
        confusion={"tp": tp, "fp": fp, "fn": fn, "tn": tn},
        categories=categories, seconds=seconds,
        verdicts_per_s=len(rows) / seconds if seconds > 0 else float("inf"),
        disagreements=disagreements,
    )


async def calibrate(judge: Judge, rows: list[Row], show: int = 20, batch_size: int = 256) -> Report:
    """Scores every row with `judge` (in batches) and compares with the reference verdicts."""
    trajectories = [row_trajectory(row, i) for i, row in enumerate(rows)]
    verdicts: list[Verdict] = []
    started = time.perf_counter()
    for start in range(0, len(trajectories), batch_size):
        verdicts += await judge.score(trajectories[start : start + batch_size])
    return report_for(rows, verdicts, time.perf_counter() - started, show)


def format_report(report: Report, judge_name: str) -> str:
    """The report as text for a terminal."""
    c = report.confusion
    lines = [
        f"judge {judge_name}: {report.rows} rows, {report.judged} judged, {report.judge_errors} judge errors",
        f"agreement {report.agreement:.3f}   Cohen's kappa {report.kappa:.3f}",
        f"precision of correct {report.precision_correct:.3f}   recall of correct {report.recall_correct:.3f}",
        "confusion (rows: reference, columns: judge)",
        "                    judge correct   judge not correct",
        f"  reference correct   {c['tp']:>10}   {c['fn']:>16}",
        f"  reference not       {c['fp']:>10}   {c['tn']:>16}",
        "judge categories: " + ", ".join(f"{k} {v}" for k, v in sorted(report.categories.items())),
        f"throughput {report.verdicts_per_s:,.0f} verdicts/s ({report.seconds:.2f} s)",
    ]
    if report.disagreements:
        lines.append(f"disagreements (first {len(report.disagreements)}):")
        for d in report.disagreements:
            reference = "correct" if d["reference"] else "not correct"
            lines.append(f"  line {d['line']}: reference {reference}, judge {d['judge']}: "
                         f"gold {d['gold']!r} vs {str(d['response'])[:120]!r}")
    return "\n".join(lines)
