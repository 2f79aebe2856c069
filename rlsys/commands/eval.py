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
    parser.add_argument("--search", choices=["single", "best-of-n"], default="single",
                        help="single: one episode per question; best-of-n: --width episodes per question, the one "
                             "--scorer ranks highest answers (no gold used); the budget goes in the eval file")
    parser.add_argument("--width", type=_positive, default=4, help="episodes per question of best-of-n (default 4)")
    parser.add_argument("--scorer", default="grounded", choices=["grounded", "vote"],
                        help="gold-free scorer of best-of-n: grounded (answer printed by a cell) or vote")


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be >= 1, got {value}")
    return value


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
        if args.search == "best-of-n":
            summary = _best_of_n(controller, cfg, run_dir, args.stage or f"{stage}-best-of-{args.width}", questions,
                                 args.width, args.scorer)
        else:
            summary = controller.evaluate(stage=stage, questions=questions)
    finally:
        controller.close()
    print(json.dumps(summary, indent=2))
    return 0


def _best_of_n(controller, cfg, run_dir, stage: str, questions, width: int, scorer: str) -> dict:
    """`width` episodes per question at the single-sample eval temperature, the scorer's pick judged."""
    from rlsys.report.eval_files import summarise_eval, write_eval
    from rlsys.search.best_of_n import best_of_n

    outcomes, flight = controller.generate_and_judge(questions, k=width, temperature=cfg.rollout.temperature_min)
    result = best_of_n(outcomes, scorer)
    summary = summarise_eval(result.trajectories, result.verdicts)
    write_eval(run_dir, stage, result.trajectories, result.verdicts,
               extra={"budget": {**result.budget, "width": width}, "generate_s": flight.generate_s})
    return {**summary, "budget": {**result.budget, "width": width}}
