"""`rlsys config show|docs`: print the resolved config or the reference of every field."""

from __future__ import annotations

import argparse

import yaml

from rlsys.config import add_config_arguments, config_from_args, iter_fields

HELP = "print the resolved config (show) or a markdown reference of every field (docs)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="action", required=True)
    show = sub.add_parser("show", help="print the config after the preset and overrides, as YAML")
    add_config_arguments(show)
    sub.add_parser("docs", help="print a markdown table of every field: key, type, default, meaning")


def run(args: argparse.Namespace) -> int:
    if args.action == "show":
        cfg = config_from_args(args)
        print(yaml.safe_dump(cfg.model_dump(mode="json"), sort_keys=False), end="")
        return 0
    print("| key | type | default | meaning |")
    print("|---|---|---|---|")
    for key, type_name, default, doc in iter_fields():
        print(f"| `{key}` | {type_name} | `{default!r}` | {doc} |")
    return 0
