"""Run metrics: one JSON line per `log` call in `run_dir/metrics.jsonl`, mirrored to TensorBoard
(`run_dir/tb/<stage>/`, one TensorBoard run per stage) and, optionally, Weights & Biases.

    writer = MetricsWriter("runs/latest")                 # fresh run, or append to an old one
    writer = MetricsWriter("runs/latest", resume_step=40)  # resume: drop lines past step 40
    writer.log(41, {"reward_mean": 0.12, "loss": 0.7}, stage="rl")
    rows = read_metrics("runs/latest")

A line is `{"step": int, "stage": str, "time": unix seconds, **metrics}`. Stages used by the
controller: `sft` (step = epoch, or optimizer step with `epoch` as a metric), `rl` (step = GRPO
step) and `eval` (step = the GRPO step the evaluation ran after; 0 before any RL step).

Every `log` flushes (and fsyncs) the line, so a killed run loses nothing that was logged. A killed
run may leave a truncated last line: `read_metrics` skips it and opening a writer removes it.
Resuming at step s drops the crashed run's lines with step > s of the resumed stages (rewritten
atomically through a temporary file and `os.replace`), and the TensorBoard events of those stages are
rebuilt from the kept lines, so no step is recorded twice.
"""

from __future__ import annotations

import json
import math
import os
import shutil
import time
from pathlib import Path
from typing import Any, Iterable

METRICS_FILE = "metrics.jsonl"
TB_DIR = "tb"
RESERVED_KEYS = ("step", "stage", "time")


class MetricsError(ValueError):
    """Bad metrics input, a corrupt metrics file, or a missing optional logger."""


def metrics_path(run_dir: str | Path) -> Path:
    return Path(run_dir) / METRICS_FILE


def _parse_lines(path: Path) -> tuple[list[dict[str, Any]], bool]:
    """Rows of a metrics file and whether its last line was truncated (skipped)."""
    if not path.is_file():
        return [], False
    raw = path.read_bytes()
    lines = raw.split(b"\n")
    complete, tail = lines[:-1], lines[-1]  # tail is b"" when the file ends with a newline
    rows: list[dict[str, Any]] = []
    for number, line in enumerate(complete, start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except (json.JSONDecodeError, UnicodeDecodeError):
            if number == len(complete) and not tail:
                return rows, True  # the last complete-looking line is half-written
            raise MetricsError(f"{path}: line {number} is not valid JSON (the file is corrupt)") from None
        if not isinstance(row, dict) or "step" not in row or "stage" not in row:
            raise MetricsError(f"{path}: line {number} is not a metrics record (needs step and stage)")
        rows.append(row)
    if tail.strip():
        try:
            row = json.loads(tail)
        except (json.JSONDecodeError, UnicodeDecodeError):
            return rows, True  # killed mid-write: no trailing newline, incomplete JSON
        if isinstance(row, dict) and "step" in row and "stage" in row:
            rows.append(row)
        # a complete record without its newline still counts; the writer adds the newline
    return rows, False


def read_metrics(run_dir: str | Path, stage: str | None = None) -> list[dict[str, Any]]:
    """All metric records of a run (optionally of one stage), in the order they were logged.

    A truncated last line (a run killed mid-write) is skipped; corruption elsewhere raises
    `MetricsError`. A missing file reads as no records.
    """
    rows, _ = _parse_lines(metrics_path(run_dir))
    if stage is not None:
        rows = [r for r in rows if r.get("stage") == stage]
    return rows


def _write_atomically(path: Path, rows: Iterable[dict[str, Any]]) -> None:
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "w", encoding="utf-8") as handle:
        for row in rows:
            handle.write(json.dumps(row) + "\n")
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(tmp, path)


def repair_metrics(run_dir: str | Path, resume_step: int | None = None,
                   stages: Iterable[str] | None = ("rl", "eval")) -> int:
    """Make a metrics file safe to append to; returns how many records were dropped.

    Removes a truncated last line, and with `resume_step` drops records of `stages` (None: all
    stages) whose step is greater than it. The file is rewritten atomically, only if needed.
    """
    path = metrics_path(run_dir)
    if not path.is_file():
        return 0
    rows, truncated = _parse_lines(path)
    stage_set = None if stages is None else set(stages)
    kept = [
        r for r in rows
        if resume_step is None or (stage_set is not None and r["stage"] not in stage_set) or int(r["step"]) <= resume_step
    ]
    needs_newline = path.stat().st_size > 0 and not path.read_bytes().endswith(b"\n")
    if len(kept) != len(rows) or truncated or needs_newline:
        _write_atomically(path, kept)
    return len(rows) - len(kept)


def _clean_metrics(metrics: dict[str, Any]) -> dict[str, float | int]:
    clean: dict[str, float | int] = {}
    for key, value in metrics.items():
        if not isinstance(key, str) or not key:
            raise MetricsError(f"metric names must be non-empty strings, got {key!r}")
        if key in RESERVED_KEYS:
            raise MetricsError(f"metric name {key!r} is reserved (step, stage and time are added by the writer)")
        if hasattr(value, "item") and callable(value.item):  # numpy / torch scalars
            value = value.item()
        if isinstance(value, bool):
            value = int(value)
        if not isinstance(value, (int, float)):
            raise MetricsError(f"metric {key!r} must be a number, got {type(value).__name__}")
        clean[key] = value
    return clean


class MetricsWriter:
    """Appends metric records to `run_dir/metrics.jsonl`, TensorBoard and optionally wandb."""

    def __init__(
        self,
        run_dir: str | Path,
        use_tensorboard: bool = True,
        wandb_project: str | None = None,
        resume_step: int | None = None,
        resume_stages: Iterable[str] | None = ("rl", "eval"),
        fsync: bool = True,
    ) -> None:
        self.run_dir = Path(run_dir)
        self.run_dir.mkdir(parents=True, exist_ok=True)
        self.path = metrics_path(self.run_dir)
        resume_stages = None if resume_stages is None else tuple(resume_stages)
        self.dropped = repair_metrics(self.run_dir, resume_step, resume_stages)
        self._fsync = fsync
        self._file = open(self.path, "a", encoding="utf-8")
        # One TensorBoard writer per stage (tb/<stage>/): a resume purges events past the
        # checkpoint only in the resumed stages' directories (TensorBoard purges all tags of a run).
        self._use_tb = use_tensorboard
        self._tb: dict[str, Any] = {}
        self._resume_step = resume_step
        self._resume_stages = None if resume_stages is None else set(resume_stages)
        if use_tensorboard and resume_step is not None:  # purge now, even if a stage logs no more
            for stage_dir in sorted((self.run_dir / TB_DIR).glob("*/")):
                if self._resume_stages is None or stage_dir.name in self._resume_stages:
                    self._tb_writer(stage_dir.name)
        self._wandb = None
        self._wandb_stages: set[str] = set()
        if wandb_project:
            self._wandb = self._start_wandb(wandb_project)

    def _start_wandb(self, project: str):
        try:
            import wandb
        except ImportError:
            raise MetricsError(
                f"train.wandb_project is {project!r} but wandb is not installed: "
                "pip install 'rlsys[wandb]' (or unset train.wandb_project)"
            ) from None
        id_file = self.run_dir / "wandb_run_id"
        run_id = id_file.read_text().strip() if id_file.is_file() else wandb.util.generate_id()
        id_file.write_text(run_id + "\n")
        run = wandb.init(project=project, id=run_id, resume="allow", dir=str(self.run_dir),
                         name=self.run_dir.name)
        return run

    def _tb_writer(self, stage: str):
        if stage not in self._tb:
            from torch.utils.tensorboard import SummaryWriter

            log_dir = self.run_dir / TB_DIR / stage
            resumed = self._resume_step is not None and (self._resume_stages is None or stage in self._resume_stages)
            if resumed:
                # Rebuild the stage's events from metrics.jsonl (already cut at the checkpoint)
                # rather than rely on TensorBoard's purge, which depends on the order it reads files.
                shutil.rmtree(log_dir, ignore_errors=True)
            writer = SummaryWriter(log_dir=str(log_dir))
            if resumed:
                for row in read_metrics(self.run_dir, stage=stage):
                    self._add_scalars(writer, stage, row["step"], _clean_metrics(
                        {k: v for k, v in row.items() if k not in ("step", "stage", "time")}))
                writer.flush()
            self._tb[stage] = writer
        return self._tb[stage]

    @staticmethod
    def _add_scalars(writer, stage: str, step: int, clean: dict[str, float | int]) -> None:
        for key, value in clean.items():
            if isinstance(value, float) and not math.isfinite(value):
                continue
            writer.add_scalar(f"{stage}/{key}", value, global_step=step)

    def log(self, step: int, metrics: dict[str, float | int], stage: str = "rl") -> None:
        """Record `metrics` for `step` of `stage`; durable when this returns."""
        if isinstance(step, bool) or not isinstance(step, int):
            raise MetricsError(f"step must be an int, got {step!r}")
        if not stage or not isinstance(stage, str):
            raise MetricsError(f"stage must be a non-empty string, got {stage!r}")
        clean = _clean_metrics(metrics)
        row = {"step": step, "stage": stage, "time": round(time.time(), 3), **clean}
        self._file.write(json.dumps(row) + "\n")
        self._file.flush()
        if self._fsync:
            os.fsync(self._file.fileno())
        if self._use_tb:
            tb = self._tb_writer(stage)
            self._add_scalars(tb, stage, step, clean)
            tb.flush()
        if self._wandb is not None:
            if stage not in self._wandb_stages:
                self._wandb.define_metric(f"{stage}/*", step_metric=f"{stage}/step")
                self._wandb_stages.add(stage)
            self._wandb.log({f"{stage}/step": step, **{f"{stage}/{k}": v for k, v in clean.items()}})

    def close(self) -> None:
        if not self._file.closed:
            self._file.close()
        for writer in self._tb.values():
            writer.close()
        self._tb.clear()
        if self._wandb is not None:
            self._wandb.finish()
            self._wandb = None

    def __enter__(self) -> "MetricsWriter":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
