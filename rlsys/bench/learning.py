"""`rlsys bench learning`: the demo's recipe end to end, and what it learned.

Runs `rlsys demo` (index, base model, expert, SFT, GRPO through Ray, evaluations, report) in a
run dir and reports, from its files: base / SFT / SFT+RL held-out accuracy (sampled and greedy)
with the paired-bootstrap 95% intervals of the differences (`report.json`), the held-out curve
across the RL stage, informative groups per step (dynamic sampling, `metrics.jsonl`), the RL
diagnostics per step (entropy, clip fraction, ratio, KL where on), and wall seconds per stage.
Finished stages are reused when the run dir is kept (pass a fresh `--run-dir` to time them all).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from statistics import median
from typing import Any

HELP = "the demo's recipe: base/SFT/SFT+RL accuracy with intervals, informative groups per step, time per stage"
DIAGNOSTICS = ("learner_entropy", "learner_clip_frac", "learner_ratio_mean", "learner_grad_norm", "learner_kl",
               "learner_trained_trajectories", "reward_mean", "accuracy")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from rlsys.config import add_config_arguments

    add_config_arguments(parser)
    parser.add_argument("--run-dir", default="runs/bench-learning", help="the demo's run dir (default: runs/bench-learning)")


def _rows(report: dict[str, Any]) -> dict[str, Any]:
    out = {}
    for row in report["rows"]:
        s = row["summary"]
        out[row["stage"]] = {
            "step": row.get("step"), "accuracy": s["accuracy"], "episodes": s["episodes"],
            "questions": s.get("questions"), "samples_per_question": s.get("samples_per_question"),
            "infra_errors": s["infra_errors"], "answered_rate": s["answered_rate"],
            "greedy_accuracy": s["greedy"]["accuracy"] if isinstance(s.get("greedy"), dict) else None,
        }
    return out


def summarise_run(run_dir: Path) -> dict[str, Any]:
    """The figures of a finished demo run dir (report.json, metrics.jsonl, demo_stages.json)."""
    from rlsys.demo import STAGE_TIMES
    from rlsys.metrics import read_metrics
    from rlsys.report.markdown import REPORT_JSON

    report = json.loads((run_dir / REPORT_JSON).read_text())
    rl = read_metrics(run_dir, stage="rl")
    evals = [r for r in read_metrics(run_dir, stage="eval") if "eval_accuracy" in r]
    per_step = {key: [r.get(key) for r in rl] for key in ("groups_drawn", "groups_informative", "groups_dropped")}
    informative = [v for v in per_step["groups_informative"] if v is not None]
    return {
        "rows": _rows(report),
        "differences": [{k: d.get(k) for k in ("label", "metric", "diff", "low", "high", "questions", "excludes_zero")}
                        for d in report["differences"]],
        "held_out_curve": [{"step": r["step"], "accuracy": r["eval_accuracy"],
                            "greedy_accuracy": r.get("eval_greedy_accuracy")} for r in evals],
        "steps": len(rl),
        "informative_groups_per_step": informative,
        "informative_groups_median": median(informative) if informative else None,
        "groups_per_step": per_step,
        "diagnostics_per_step": {key: [r.get(key) for r in rl] for key in DIAGNOSTICS if any(key in r for r in rl)},
        "step_s_median": median(step_s) if (step_s := [r["step_s"] for r in rl if "step_s" in r]) else None,
        "stage_s": json.loads((run_dir / STAGE_TIMES).read_text()) if (run_dir / STAGE_TIMES).is_file() else {},
    }


def run(args: argparse.Namespace) -> dict[str, Any]:
    from rlsys.config import config_from_args
    from rlsys.demo import run_demo

    cfg = config_from_args(args)
    run_dir = Path(args.run_dir)
    run_demo(cfg, args.config, args.overrides, run_dir)
    return {"config": args.config, "overrides": args.overrides, **summarise_run(run_dir)}
