"""`rlsys report RUN_DIR`: write report.md (results table + plots) and print the table."""

from __future__ import annotations

import argparse
import sys

HELP = "write RUN_DIR/report.md (base / SFT / SFT+RL table, failure taxonomy, PNG plots) and print the table"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("run_dir", metavar="RUN_DIR", help="a run directory (eval/*.json and metrics.jsonl)")


def run(args: argparse.Namespace) -> int:
    from rlsys.metrics import MetricsError
    from rlsys.report import EvalFileError, ReportError, load_evals, results_table, write_report
    from rlsys.report.markdown import RL_PLOT, SFT_PLOT

    try:
        out = write_report(args.run_dir)
        records = load_evals(args.run_dir)
    except (ReportError, EvalFileError, MetricsError) as err:
        print(f"rlsys report: {err}", file=sys.stderr)
        return 2
    if records:
        print(results_table(records))
    else:
        print("no evaluations yet (eval/*.json); plots only")
    pngs = [name for name in (SFT_PLOT, RL_PLOT) if (out.parent / name).is_file()]
    print(f"\nwrote {out}" + (f" and {', '.join(pngs)}" if pngs else ""))
    return 0
