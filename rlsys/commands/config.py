"""`rlsys config show|docs`: print the resolved config or the reference of every field."""

from __future__ import annotations

import argparse
from pathlib import Path

import yaml

from rlsys.config import add_config_arguments, config_from_args, field_ranges, iter_fields

HELP = "print the resolved config (show) or a markdown reference of every field (docs)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="action", required=True)
    show = sub.add_parser("show", help="print the config after the preset and overrides, as YAML")
    add_config_arguments(show)
    docs = sub.add_parser("docs", help="print a markdown table of every field: key, type, default, range, meaning")
    docs.add_argument("--write-readme", metavar="README", default=None,
                      help="replace the table between the config-reference markers of this file instead")


def run(args: argparse.Namespace) -> int:
    if args.action == "show":
        cfg = config_from_args(args)
        print(yaml.safe_dump(cfg.model_dump(mode="json"), sort_keys=False), end="")
        return 0
    table = reference_table()
    if args.write_readme:
        path = Path(args.write_readme)
        path.write_text(with_reference(path.read_text(), table))
        print(f"updated the configuration reference in {path}")
        return 0
    print(table, end="")
    return 0


START, END = "<!-- config-reference:start -->", "<!-- config-reference:end -->"


def reference_table() -> str:
    ranges = field_ranges()
    lines = ["| key | type | default | range | meaning |", "|---|---|---|---|---|"]
    for key, type_name, default, doc in iter_fields():
        lines.append(f"| `{key}` | {type_name.replace(' | ', ' or ')} | `{default!r}` | {ranges[key]} | {doc.replace('|', '/')} |")
    return "\n".join(lines) + "\n"


def with_reference(text: str, table: str) -> str:
    """`text` with the table between the markers replaced by `table`."""
    if START not in text or END not in text:
        raise ValueError(f"the file has no {START} ... {END} markers")
    head, rest = text.split(START, 1)
    _, tail = rest.split(END, 1)
    return f"{head}{START}\n{table}{END}{tail}"
