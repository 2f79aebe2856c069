"""Evaluation summaries and the eval files a run keeps (`run_dir/eval/<stage>.json`).

Schema of one eval file (written by `write_eval`, read by `load_eval` and the report):

    {
      "schema": 1,
      "stage": "base" | "sft" | "rl" | any other name, e.g. "rl-step40",
      "label": "SFT+RL",          # row name in the report (default from the stage)
      "split": "test",            # the question split evaluated
      "adapter": "runs/x/adapters/v40" | null,
      "step": 40 | null,          # GRPO step of the adapter, null for base/SFT
      "time": 1763680000.0,       # unix seconds when written
      "summary": {                # `summarise_eval` (all numbers; shares are 0..1)
        "episodes": 96,           # evaluated episodes, infra errors included
        "scored": 95,             # episodes that count (infra / judge errors excluded)
        "infra_errors": 1,
        "accuracy": 0.43,         # correct / episodes (an infra error is not an answer)
        "accuracy_scored": 0.44,  # correct / scored
        "answered_rate": 0.91,    # episodes with a non-empty answer / scored
        "mean_turns": 1.8,        # assistant turns per scored episode
        "mean_tool_calls": 3.2,   # tool calls (search_pages, view_sections, read_section) per scored episode
        "mean_reward": 0.21 | null,  # mean `Trajectory.reward` where set
        "taxonomy": {"correct": 41, "interface_misuse": 3, ...},         # counts, every class
        "taxonomy_share": {"correct": 0.43, "interface_misuse": 0.03, ...}  # counts / scored (infra_error: / episodes)
        "search": {"missed_then_recovered": 5, "missed_never_retried": 9},  # `search_class` counts
        "search_share": {"missed_then_recovered": 0.05, ...},              # counts / scored
        "questions": 96,          # distinct questions; "samples_per_question": episodes / questions
        "greedy": {"episodes": 96, "infra_errors": 0, "accuracy": 0.45, "accuracy_scored": 0.45}  # only
                                  # with greedy episodes (`train.eval_greedy`)
      },
      "greedy_episodes": [...],   # rows as "episodes", of the greedy (temperature 0) episodes, or absent
      "extra": {...},             # anything else the writer wanted to keep (may be empty)
      "episodes": [               # one row per episode (may be empty)
        {"episode_id": "...", "question_id": "...", "question": "...", "gold": "...",
         "answer": "..." | null, "category": "correct", "class": "correct",
         "search": "missed_then_recovered" | "missed_never_retried" | null,
         "turns": 2, "tool_calls": 4, "reward": 0.8 | null}
      ]
    }

Stages `base`, `sft` and `rl` are the rows of the report's main table (base / SFT / SFT+RL).
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any, Iterable

from rlsys.judge.types import Verdict
from rlsys.report.taxonomy import FAILURE_CLASSES, SEARCH_CLASSES, classify_failure, search_class
from rlsys.rollout.types import Trajectory

SCHEMA_VERSION = 1
STAGE_LABELS = {"base": "base", "sft": "SFT", "rl": "SFT+RL"}
EVAL_DIR = "eval"


class EvalFileError(ValueError):
    """An eval file that is missing, not JSON, or not in the schema."""


def _tool_calls(traj: Trajectory) -> int:
    return sum(t.result.tool_calls for t in traj.turns if t.result is not None)


def _share(count: int, total: int) -> float:
    return count / total if total else 0.0


def summarise_eval(trajs: list[Trajectory], verdicts: list[Verdict]) -> dict[str, Any]:
    """Accuracy, answered rate, mean turns and tool calls, and the failure taxonomy."""
    if len(trajs) != len(verdicts):
        raise ValueError(f"{len(trajs)} trajectories but {len(verdicts)} verdicts")
    classes = [classify_failure(t, v) for t, v in zip(trajs, verdicts)]
    scored = [(t, c) for t, c in zip(trajs, classes) if c != "infra_error"]
    n = len(scored)
    counts = {name: 0 for name in FAILURE_CLASSES}
    for name in classes:
        counts[name] += 1

    def mean(values: Iterable[float]) -> float:
        values = list(values)
        return sum(values) / len(values) if values else 0.0

    rewards = [t.reward for t, _ in scored if t.reward is not None]
    searches = {name: 0 for name in SEARCH_CLASSES}
    for t, v in zip(trajs, verdicts):
        label = search_class(t, v)
        if label is not None:
            searches[label] += 1
    return {
        "episodes": len(trajs),
        "scored": n,
        "infra_errors": counts["infra_error"],
        "accuracy": _share(counts["correct"], len(trajs)),
        "accuracy_scored": _share(counts["correct"], n),
        "answered_rate": mean(1.0 if (t.answer or "").strip() else 0.0 for t, _ in scored),
        "mean_turns": mean(len(t.turns) for t, _ in scored),
        "mean_tool_calls": mean(_tool_calls(t) for t, _ in scored),
        "mean_reward": mean(rewards) if rewards else None,
        "taxonomy": counts,
        "taxonomy_share": {
            name: _share(count, len(trajs) if name == "infra_error" else n) for name, count in counts.items()
        },
        "search": searches,
        "search_share": {name: _share(count, n) for name, count in searches.items()},
    }


def episode_rows(trajs: list[Trajectory], verdicts: list[Verdict]) -> list[dict[str, Any]]:
    return [
        {
            "episode_id": t.episode_id, "question_id": t.question.id, "question": t.question.question,
            "gold": t.question.answer, "answer": t.answer, "category": v.category.value,
            "class": classify_failure(t, v), "search": search_class(t, v), "turns": len(t.turns), "tool_calls": _tool_calls(t),
            "reward": t.reward,
        }
        for t, v in zip(trajs, verdicts)
    ]


def write_eval(run_dir: str | Path, stage: str, trajs: list[Trajectory], verdicts: list[Verdict], *,
               split: str = "test", adapter: str | None = None, step: int | None = None,
               label: str | None = None, extra: dict[str, Any] | None = None,
               greedy: tuple[list[Trajectory], list[Verdict]] | None = None) -> Path:
    """Summarise an evaluation and write `run_dir/eval/<stage>.json` atomically; returns the path.

    `extra` (JSON-serialisable, e.g. the controller's own timings) is stored under "extra";
    `greedy` (trajectories, verdicts of one greedy episode per question) under "greedy_episodes",
    with its accuracy in `summary.greedy`.
    """
    if not stage or "/" in stage or stage.startswith("."):
        raise EvalFileError(f"bad stage name {stage!r} (used as a file name)")
    out_dir = Path(run_dir) / EVAL_DIR
    out_dir.mkdir(parents=True, exist_ok=True)
    summary = summarise_eval(trajs, verdicts)
    questions = len({t.question.id for t in trajs})
    summary.update(questions=questions, samples_per_question=len(trajs) / questions if questions else 0.0)
    record = {
        "schema": SCHEMA_VERSION, "stage": stage, "label": label or STAGE_LABELS.get(stage, stage),
        "split": split, "adapter": adapter, "step": step, "time": round(time.time(), 3),
        "summary": summary, "episodes": episode_rows(trajs, verdicts),
        "extra": extra or {},
    }
    if greedy is not None:
        greedy_summary = summarise_eval(*greedy)
        summary["greedy"] = {key: greedy_summary[key] for key in ("episodes", "infra_errors", "accuracy", "accuracy_scored")}
        record["greedy_episodes"] = episode_rows(*greedy)
    path = out_dir / f"{stage}.json"
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(record, indent=1) + "\n")
    os.replace(tmp, path)
    return path


REQUIRED_SUMMARY = ("accuracy", "answered_rate", "mean_turns", "mean_tool_calls", "taxonomy_share")


def load_eval(path: str | Path) -> dict[str, Any]:
    """Read and check one eval file; raises `EvalFileError` naming the file and the problem."""
    path = Path(path)
    try:
        record = json.loads(path.read_text())
    except FileNotFoundError:
        raise EvalFileError(f"{path}: no such eval file") from None
    except json.JSONDecodeError as err:
        raise EvalFileError(f"{path}: not valid JSON ({err})") from None
    if not isinstance(record, dict) or not isinstance(record.get("summary"), dict):
        raise EvalFileError(f"{path}: not an eval file (needs a 'summary' object)")
    missing = [key for key in REQUIRED_SUMMARY if key not in record["summary"]]
    if missing:
        raise EvalFileError(f"{path}: summary lacks {', '.join(missing)}")
    record.setdefault("stage", path.stem)
    record.setdefault("label", STAGE_LABELS.get(record["stage"], record["stage"]))
    return record


def load_evals(run_dir: str | Path) -> list[dict[str, Any]]:
    """Every eval file of a run: base, sft, rl first (the main table), then the rest by name."""
    files = sorted((Path(run_dir) / EVAL_DIR).glob("*.json"))
    order = {stage: i for i, stage in enumerate(STAGE_LABELS)}
    records = [load_eval(f) for f in files]
    return sorted(records, key=lambda r: (order.get(r["stage"], len(order)), r.get("step") or 0, r["stage"]))
