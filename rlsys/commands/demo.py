"""`rlsys demo`: the offline end-to-end demo (the README's main command, via `make demo`)."""

from __future__ import annotations

import argparse

HELP = "offline demo: synthetic corpus + index, tiny model, expert SFT, GRPO through Ray, eval, report"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from rlsys.config import add_config_arguments

    add_config_arguments(parser)
    parser.add_argument("--run-dir", default="runs/demo", help="where the demo writes everything (default: runs/demo)")
    parser.add_argument("--rebuild-base", action="store_true",
                        help="pretrain a fresh base model (at RUN_DIR/base-model, with the config's model.pretrain_* "
                             "recipe) instead of using the one the config names (the preset ships models/nano-qwen3)")


def run(args: argparse.Namespace) -> int:
    import logging
    from pathlib import Path

    from rlsys.config import config_from_args
    from rlsys.demo import run_demo

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    if args.rebuild_base:
        import shutil

        base = Path(args.run_dir) / "base-model"
        shutil.rmtree(base, ignore_errors=True)
        args.overrides = [*args.overrides, f"model.path={base}"]
    cfg = config_from_args(args)
    run_demo(cfg, args.config, args.overrides, Path(args.run_dir))
    return 0
