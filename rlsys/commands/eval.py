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
    from rlsys.search.strategies import STRATEGIES

    parser.add_argument("--search", choices=sorted(STRATEGIES), default="single",
                        help="single: one episode per question; best-of-n: --width episodes per question; beam: "
                             "beam search over turns, --width beams branching on the first --depth turns; the "
                             "--scorer's pick answers (no gold used); the budget goes in the eval file")
    parser.add_argument("--width", type=_positive, default=4, help="episodes (best-of-n) or beams (beam) per question (default 4)")
    parser.add_argument("--depth", type=_positive, default=1, help="turns on which beam search branches (default 1)")
    parser.add_argument("--scorer", default="grounded", choices=["grounded", "vote"],
                        help="gold-free scorer of the pick: grounded (answer printed by a cell) or vote")


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
        if args.search == "single":
            summary = controller.evaluate(stage=stage, questions=questions)
        else:
            summary = _search(controller, run_dir, args.stage or f"{stage}-{_stage_suffix(args)}", questions, args)
    finally:
        controller.close()
    print(json.dumps(summary, indent=2))
    return 0


def _stage_suffix(args: argparse.Namespace) -> str:
    return f"best-of-{args.width}" if args.search == "best-of-n" else f"beam-w{args.width}-d{args.depth}"


def _search(controller, run_dir, stage: str, questions, args: argparse.Namespace) -> dict:
    """The strategy's pick of each question judged (`rlsys.controller.search_eval`)."""
    from rlsys.controller.search_eval import search_and_judge
    from rlsys.report.eval_files import summarise_eval, write_eval
    from rlsys.search.strategies import SearchOptions

    opts = SearchOptions(width=args.width, depth=args.depth, scorer=args.scorer)
    picked, verdicts, budget = search_and_judge(controller, questions, args.search, opts)
    summary = summarise_eval(picked, verdicts)
    write_eval(run_dir, stage, picked, verdicts, extra={"budget": budget, "generate_s": budget["generate_s"]})
    return {**summary, "budget": budget}
