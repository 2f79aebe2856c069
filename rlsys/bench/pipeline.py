"""`rlsys bench pipeline`: GRPO steps/s synchronous vs async, generator utilisation, phase split.

One Ray system (tiny preset) runs `--steps` steps fully synchronously (`max_staleness: 0`), then
the same number with generation of step t+1 overlapping the learner's step t
(`max_staleness: 1`), side by side in one run. Figures:

- `sync_steps_per_s`, `async_steps_per_s` and their ratio `async_speedup`;
- `generator_utilisation`: the fraction of the async run's wall time during which rollout
  generation was in flight (1.0 = the generators never waited for the learner);
- `phase_s`: median seconds per step of generate / sandbox / judge / learn / weight push
  (`sandbox` is summed over episodes, so it overlaps `generate`; `judge` counts only the judging
  that ran past the end of its group's generation).
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

HELP = "GRPO pipeline: steps/s sync vs async, generator utilisation, per-phase split (tiny preset)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from rlsys.config import add_config_arguments

    add_config_arguments(parser)
    parser.add_argument("--steps", type=int, default=4, help="steps per mode (default 4)")


def _run_mode(controller, staleness: int, steps: int) -> dict:
    from rlsys.metrics import read_metrics

    controller.cfg.train.max_staleness = staleness
    controller.system.cfg.train.max_staleness = staleness
    start_step = controller.step
    controller.cfg.train.steps = start_step + steps
    started = time.perf_counter()
    controller.run()
    wall = time.perf_counter() - started
    rows = [r for r in read_metrics(controller.run_dir, stage="rl") if r["step"] > start_step]
    busy = sum(r["generate_s"] for r in rows)
    phases = {
        "generate": statistics.median(r["generate_s"] for r in rows),
        "sandbox": statistics.median(r["sandbox_s"] for r in rows),
        "judge": statistics.median(r["judge_s"] for r in rows),
        "learn": statistics.median(r["learn_s"] for r in rows),
        "weight_push": statistics.median(r["push_s"] for r in rows),
    }
    return {"steps_per_s": steps / wall, "wall_s": wall, "generator_busy_s": busy, "phase_s": phases}


def run(args: argparse.Namespace) -> dict:
    from rlsys.config import config_from_args
    from rlsys.corpus.index import ensure_index
    from rlsys.rollout.tiny_model import ensure_model
    from rlsys.train import Controller

    cfg = config_from_args(args)
    cfg.train.eval_every = 0
    cfg.train.checkpoint_every = 0
    ensure_index(cfg.corpus, progress=True)
    ensure_model(cfg.model)
    run_dir = Path(tempfile.mkdtemp(prefix="rlsys-bench-pipeline-"))
    controller = Controller(cfg, run_dir)
    try:
        controller.setup()
        sync = _run_mode(controller, 0, args.steps)
        asynchronous = _run_mode(controller, 1, args.steps)
    finally:
        controller.close()
    return {
        "steps": args.steps,
        "group_size": cfg.rollout.group_size,
        "questions_per_step": cfg.train.questions_per_step,
        "sync_steps_per_s": sync["steps_per_s"],
        "async_steps_per_s": asynchronous["steps_per_s"],
        "async_speedup": asynchronous["steps_per_s"] / sync["steps_per_s"],
        "generator_utilisation": min(1.0, asynchronous["generator_busy_s"] / asynchronous["wall_s"]),
        "sync_generator_utilisation": min(1.0, sync["generator_busy_s"] / sync["wall_s"]),
        "phase_s": asynchronous["phase_s"],
        "sync_phase_s": sync["phase_s"],
    }
