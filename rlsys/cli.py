"""The `rlsys` command: one entry point, one subcommand per module in `rlsys/commands/`.

Each command module defines `HELP` (one line), `add_arguments(parser)` and `run(args) -> int`.
Modules import heavy dependencies (torch, ray, lancedb) inside `run`, so `--help` stays fast.
"""

from __future__ import annotations

import argparse
import importlib
import sys

from rlsys.config import ConfigError

# name -> module; order is the order shown in --help.
COMMANDS: dict[str, str] = {
    "demo": "rlsys.commands.demo",
    "corpus": "rlsys.commands.corpus",
    "sandbox": "rlsys.commands.sandbox",
    "model": "rlsys.commands.model",
    "sft": "rlsys.commands.sft",
    "train": "rlsys.commands.train",
    "eval": "rlsys.commands.eval",
    "report": "rlsys.commands.report",
    "serve": "rlsys.commands.serve",
    "judge": "rlsys.commands.judge",
    "bench": "rlsys.commands.bench",
    "config": "rlsys.commands.config",
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="rlsys",
        description="Train small LMs to answer questions by writing code that searches Wikipedia "
        "(SFT on expert trajectories, then GRPO with a judge reward, on Ray).",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, module_name in COMMANDS.items():
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as err:
            if err.name != module_name:
                raise
            continue  # command not built yet
        command = sub.add_parser(name, help=module.HELP, description=module.HELP)
        module.add_arguments(command)
        command.set_defaults(_run=module.run)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "_run", None):
        parser.print_help()
        return 2
    try:
        return int(args._run(args) or 0)
    except ConfigError as err:
        print(f"rlsys: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("rlsys: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    raise SystemExit(main())
