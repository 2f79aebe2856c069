"""`rlsys train`: GRPO through Ray (same as `python -m rlsys.train`)."""

from __future__ import annotations

import argparse

HELP = "GRPO training through Ray actors (rollout, sandbox, corpus, judge, learner)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from rlsys.train import add_train_arguments

    add_train_arguments(parser)


def run(args: argparse.Namespace) -> int:
    import logging

    from rlsys.train import run_training

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    return run_training(args)
