"""`rlsys demo`: the offline end-to-end demo (the README's main command, via `make demo`)."""

from __future__ import annotations

import argparse

HELP = "offline demo: synthetic corpus + index, tiny model, expert SFT, GRPO through Ray, eval, report"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from rlsys.config import add_config_arguments

    add_config_arguments(parser)
    parser.add_argument("--run-dir", default="runs/demo", help="where the demo writes everything (default: runs/demo)")


def run(args: argparse.Namespace) -> int:
    import logging
    from pathlib import Path

    from rlsys.config import config_from_args
    from rlsys.demo import run_demo

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    cfg = config_from_args(args)
    run_demo(cfg, args.config, args.overrides, Path(args.run_dir))
    return 0
