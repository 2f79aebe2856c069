"""`rlsys eval`: accuracy, answered rate, turns, tool calls and a failure taxonomy on a split."""

from __future__ import annotations

import argparse

HELP = "evaluate the base model or an adapter on the held-out (or train) split through Ray"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from rlsys.config import add_config_arguments

    add_config_arguments(parser)
    parser.add_argument("--adapter", default=None, help="PEFT adapter directory (default: the base model)")
    parser.add_argument("--split", choices=["test", "train"], default="test", help="question split (default: test)")
    parser.add_argument("--limit", type=int, default=None, help="questions to evaluate (default: train.eval_questions)")
    parser.add_argument("--run-dir", default=None, help="where eval/<stage>.json goes (default: train.output_dir)")
    parser.add_argument("--stage", default=None, help="name of this evaluation (default: base, or the adapter's folder name)")


def run(args: argparse.Namespace) -> int:
    import json
    import logging
    from pathlib import Path

    from rlsys.config import config_from_args
    from rlsys.train import Controller

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    cfg = config_from_args(args)
    if args.adapter and not (Path(args.adapter) / "adapter_config.json").is_file():
        print(f"rlsys eval: {args.adapter} is not a PEFT adapter directory (no adapter_config.json)")
        return 2
    run_dir = Path(args.run_dir or cfg.train.output_dir)
    stage = args.stage or ("base" if not args.adapter else Path(args.adapter).name)
    controller = Controller(cfg, run_dir, init_adapter=args.adapter)
    try:
        controller.setup(push=bool(args.adapter))
        pool = controller.test_questions if args.split == "test" else controller.train_questions
        questions = pool[: args.limit or cfg.train.eval_questions]
        summary = controller.evaluate(stage=stage, questions=questions)
    finally:
        controller.close()
    print(json.dumps(summary, indent=2))
    return 0
