"""PNG plots of a run from its `metrics.jsonl` (matplotlib, Agg backend: no display needed).

Metric names read (what the controller logs):
- stage `sft`: `loss` per optimizer step or per epoch; lines with an `epoch` metric are
  averaged per epoch, otherwise `step` is the epoch.
- stage `rl`: `reward_mean` (or `reward`) and `accuracy` (training rollouts) per GRPO step.
- stage `eval`: `accuracy` (or `eval_accuracy`) on the held-out split, `step` = the GRPO
  step it ran after.
"""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path
from typing import Any


def _series(rows: list[dict[str, Any]], key: str, by: str = "step") -> list[tuple[float, float]]:
    grouped: dict[float, list[float]] = defaultdict(list)
    for row in rows:
        value = row.get(key)
        if isinstance(value, (int, float)) and value == value:  # skips NaN
            grouped[row.get(by, row["step"])].append(float(value))
    return sorted((x, sum(v) / len(v)) for x, v in grouped.items())


def sft_loss_per_epoch(rows: list[dict[str, Any]]) -> list[tuple[float, float]]:
    """(epoch, mean loss) from the `sft` stage's lines."""
    sft = [r for r in rows if r.get("stage") == "sft"]
    by = "epoch" if any("epoch" in r for r in sft) else "step"
    return _series(sft, "loss", by)


def _first_key(rows: list[dict[str, Any]], *keys: str) -> str:
    return next((k for k in keys if any(k in r for r in rows)), keys[0])


def rl_series(rows: list[dict[str, Any]]) -> dict[str, list[tuple[float, float]]]:
    """Per-step curves: training reward and accuracy (`rl`) and held-out accuracy (`eval`)."""
    rl = [r for r in rows if r.get("stage") == "rl"]
    ev = [r for r in rows if r.get("stage") == "eval"]
    return {
        "reward": _series(rl, _first_key(rl, "reward_mean", "reward")),
        "train_accuracy": _series(rl, _first_key(rl, "accuracy", "train_accuracy")),
        "eval_accuracy": _series(ev, _first_key(ev, "accuracy", "eval_accuracy")),
    }


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def sft_summary_losses(run_dir: Path) -> tuple[list[tuple[float, float]], list[tuple[float, float]]]:
    """(train, eval) losses per optimizer step from `rlsys sft`'s `sft_metrics.json`, found in
    the run directory or its `sft/` folder; empty lists when there is none."""
    import json

    for path in (run_dir / "sft_metrics.json", run_dir / "sft" / "sft_metrics.json"):
        if path.is_file():
            try:
                data = json.loads(path.read_text())
                return ([(float(s), float(v)) for s, v in data.get("train_losses", [])],
                        [(float(s), float(v)) for s, v in data.get("eval_losses", [])])
            except (ValueError, TypeError):
                return [], []
    return [], []


def plot_sft_loss(rows: list[dict[str, Any]], out: Path) -> Path | None:
    """`out` (PNG) with the SFT loss per epoch (from `metrics.jsonl`), else per optimizer step
    (from `sft_metrics.json` next to it); None when the run has no SFT loss."""
    points = sft_loss_per_epoch(rows)
    evals: list[tuple[float, float]] = []
    per_step = not points
    if per_step:
        points, evals = sft_summary_losses(out.parent)
    if not points:
        return None
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(6, 3.5), dpi=100)
    ax.plot([p[0] for p in points], [p[1] for p in points], marker=None if per_step else "o", label="train")
    if evals:
        ax.plot([p[0] for p in evals], [p[1] for p in evals], marker="o", label="held-out (per epoch)")
        ax.legend(loc="best", fontsize=8)
    ax.set_xlabel("optimizer step" if per_step else "epoch")
    ax.xaxis.get_major_locator().set_params(integer=True)
    ax.set_ylabel("loss (assistant tokens)")
    ax.set_title("SFT loss per step" if per_step else "SFT loss per epoch")
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(out)
    plt.close(fig)
    return out


def plot_rl_curve(rows: list[dict[str, Any]], out: Path) -> Path | None:
    """`out` (PNG): reward per GRPO step, and train / held-out accuracy; None without RL lines."""
    series = rl_series(rows)
    if not any(series.values()):
        return None
    plt = _pyplot()
    fig, (top, bottom) = plt.subplots(2, 1, figsize=(6, 5.5), dpi=100, sharex=True)
    if series["reward"]:
        top.plot(*zip(*series["reward"]), label="mean reward (rollouts)")
    top.set_ylabel("reward")
    top.set_title("GRPO: reward and accuracy per step")
    top.grid(alpha=0.3)
    if series["train_accuracy"]:
        bottom.plot(*zip(*series["train_accuracy"]), label="train rollouts", alpha=0.7)
    if series["eval_accuracy"]:
        bottom.plot(*zip(*series["eval_accuracy"]), marker="o", label="held-out eval")
    bottom.set_xlabel("GRPO step")
    bottom.xaxis.get_major_locator().set_params(integer=True)
    bottom.set_ylabel("accuracy")
    bottom.set_ylim(-0.02, 1.02)
    bottom.grid(alpha=0.3)
    for ax in (top, bottom):
        if ax.get_legend_handles_labels()[0]:
            ax.legend(loc="best", fontsize=8)
    fig.tight_layout()
    fig.savefig(out)
    plt.close(fig)
    return out
