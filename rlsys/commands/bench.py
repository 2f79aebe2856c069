"""`rlsys bench NAME --json OUT.json`: run one benchmark and write its figures as JSON.

Each benchmark lives in `rlsys/bench/<name>.py` with `HELP`, `add_arguments(parser)` and
`run(args) -> dict` (the figures). Benchmarks measure; tests never assert timings.
"""

from __future__ import annotations

import argparse
import importlib
import json
import sys
from pathlib import Path

HELP = "run a benchmark (corpus, sandbox, rollout, judge, learner, pipeline, scaling, learning, search) and write JSON"
BENCHES = ["corpus", "sandbox", "rollout", "judge", "learner", "pipeline", "scaling", "learning", "search"]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="bench", required=True, metavar="NAME")
    for name in BENCHES:
        try:
            module = importlib.import_module(f"rlsys.bench.{name}")
        except ModuleNotFoundError as err:
            if err.name != f"rlsys.bench.{name}":
                raise
            continue
        bench = sub.add_parser(name, help=module.HELP, description=module.HELP)
        bench.add_argument("--json", dest="json_out", default=None, help="write the figures to this JSON file")
        module.add_arguments(bench)
        bench.set_defaults(_bench=module.run)


def run(args: argparse.Namespace) -> int:
    figures = args._bench(args)
    text = json.dumps(figures, indent=2, sort_keys=False)
    print(text)
    if args.json_out:
        out = Path(args.json_out)
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(text + "\n")
        print(f"wrote {out}", file=sys.stderr)
    return 0
