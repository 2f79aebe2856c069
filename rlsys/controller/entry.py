"""The command line of training: `python -m rlsys.train` (what `ray job submit` runs) and `rlsys train`.

    rlsys train --config configs/tiny-cpu.yaml [--set key=value ...] [--resume] [--init-adapter DIR]
    python -m rlsys.train --config configs/qwen3-4b-cluster.yaml
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from rlsys.config import add_config_arguments, config_from_args


def add_train_arguments(parser: argparse.ArgumentParser) -> None:
    add_config_arguments(parser)
    parser.add_argument("--resume", action="store_true", help="continue from the run dir's last good checkpoint")
    parser.add_argument("--init-adapter", default=None, help="start the policy from this LoRA adapter (e.g. SFT)")
    parser.add_argument("--run-dir", default=None, help="run directory (default: train.output_dir)")
    parser.add_argument("--eval-before", action="store_true", help="evaluate the starting policy first")


def run_training(args: argparse.Namespace) -> int:
    from rlsys.controller.loop import Controller

    cfg = config_from_args(args)
    run_dir = Path(args.run_dir or cfg.train.output_dir)
    controller = Controller(cfg, run_dir, init_adapter=args.init_adapter, resume=args.resume)
    try:
        controller.setup()
        if args.eval_before and controller.step == 0:
            controller.evaluate(stage="sft" if args.init_adapter else "base", step=0)
        controller.run()
        controller.evaluate(stage="rl", step=controller.step)
    finally:
        controller.close()
    print(f"training finished: {run_dir}")
    return 0


def main(argv: list[str] | None = None) -> int:
    from rlsys.config import ConfigError

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    parser = argparse.ArgumentParser(prog="python -m rlsys.train", description="GRPO training through Ray actors")
    add_train_arguments(parser)
    args = parser.parse_args(argv)
    try:
        return run_training(args)
    except ConfigError as err:
        print(f"rlsys: {err}", file=sys.stderr)
        return 2
