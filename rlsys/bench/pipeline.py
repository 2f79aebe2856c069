"""`rlsys bench pipeline`: GRPO steps/s at pipeline depth 0, 1, 2 side by side, generator
utilisation, the phase split, and the sequential (collocated) schedule's phase switches.

One Ray system (tiny preset) runs `--steps` steps at each pipeline depth (`train.max_staleness`
= 0: synchronous; 1 and 2: generation up to that many steps ahead of the learner), then the same
number under the sequential phase schedule of collocated mode (generate -> judge -> learn, each
engine asleep outside its phase). Figures (medians over steps where per step):

- `depth.<k>.steps_per_s`, `depth.<k>.generator_utilisation` (fraction of wall time with
  rollout generation in flight), `depth.<k>.staleness_max`, `depth.<k>.phase_s` (generate /
  sandbox / judge / learn / weight push; `sandbox` is summed over episodes, so it overlaps
  `generate`; `judge` counts only judging that ran past the end of its group's generation);
- `sequential.steps_per_s`, `sequential.phase_switch_s` (sleep + wake seconds per step) and
  `sequential.phase_s` (generate / judge / learn phase seconds).
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

HELP = "GRPO pipeline: steps/s at depth 0/1/2, generator utilisation, phase split, phase_switch_s (tiny preset)"
DEPTHS = (0, 1, 2)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from rlsys.config import add_config_arguments

    add_config_arguments(parser)
    parser.add_argument("--steps", type=int, default=4, help="steps per mode (default 4)")
    parser.add_argument("--no-sequential", action="store_true", help="skip the sequential-schedule run")


def _run_steps(controller, steps: int) -> tuple[float, list[dict]]:
    from rlsys.metrics import read_metrics

    start_step = controller.step
    controller.cfg.train.steps = start_step + steps
    started = time.perf_counter()
    controller.run()
    wall = time.perf_counter() - started
    return wall, [r for r in read_metrics(controller.run_dir, stage="rl") if r["step"] > start_step]


def _median(rows: list[dict], key: str) -> float:
    return statistics.median(r.get(key, 0.0) for r in rows)


def _depth(controller, depth: int, steps: int) -> dict:
    controller.cfg.train.max_staleness = depth
    wall, rows = _run_steps(controller, steps)
    return {
        "steps_per_s": steps / wall, "wall_s": wall,
        "generator_utilisation": min(1.0, sum(r["generate_s"] for r in rows) / wall),
        "staleness_max": max(r["staleness_max"] for r in rows),
        "phase_s": {"generate": _median(rows, "generate_s"), "sandbox": _median(rows, "sandbox_s"),
                    "judge": _median(rows, "judge_s"), "learn": _median(rows, "learn_s"),
                    "weight_push": _median(rows, "push_s")},
    }


def _sequential(controller, steps: int) -> dict:
    from rlsys.controller.phases import Phases

    controller.phases = Phases(controller.system, "sequential", controller.cfg.train.push_timeout_s,
                               awake={"rollout": True, "judge": True})
    wall, rows = _run_steps(controller, steps)
    return {
        "steps_per_s": steps / wall, "wall_s": wall, "phase_switch_s": _median(rows, "phase_switch_s"),
        "phase_s": {p: _median(rows, f"phase_{p}_s") for p in ("generate", "judge", "learn")},
        "sleep_wake_s": {k: _median(rows, k) for k in ("sleep_rollout_s", "wake_rollout_s", "sleep_judge_s",
                                                      "wake_judge_s")},
    }


def run(args: argparse.Namespace) -> dict:
    from rlsys.config import config_from_args
    from rlsys.controller.loop import Controller
    from rlsys.corpus.index import ensure_index
    from rlsys.rollout.tiny_model import ensure_model

    cfg = config_from_args(args)
    cfg.train.eval_every = 0
    cfg.train.checkpoint_every = 0
    cfg.train.max_staleness = max(DEPTHS)  # the learner's filter admits the deepest pipeline
    ensure_index(cfg.corpus, progress=True)
    ensure_model(cfg.model)
    run_dir = Path(tempfile.mkdtemp(prefix="rlsys-bench-pipeline-"))
    controller = Controller(cfg, run_dir)
    try:
        controller.setup()
        depths = {str(depth): _depth(controller, depth, args.steps) for depth in DEPTHS}
        sequential = None if args.no_sequential else _sequential(controller, args.steps)
    finally:
        controller.close()
    out = {
        "steps": args.steps,
        "group_size": cfg.rollout.group_size,
        "questions_per_step": cfg.train.questions_per_step,
        "depth": depths,
        "async_speedup": depths["1"]["steps_per_s"] / depths["0"]["steps_per_s"],
    }
    if sequential is not None:
        out["sequential"] = sequential
        out["phase_switch_s"] = sequential["phase_switch_s"]
    return out
