"""`rlsys judge calibrate FILE.jsonl [--judge rule|llm|http] [--show N] [--json OUT]`: score
reference-labelled answers with a judge and print how well it agrees (see `judge/calibration.py`)."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from pathlib import Path

from rlsys.config import add_config_arguments, config_from_args

HELP = "judge: calibrate a judge against reference verdicts (agreement, Cohen's kappa, precision of correct)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
    cal = sub.add_parser("calibrate", help="score a JSONL file of question/gold/response/verdict rows with a judge",
                         description="Rows: question, gold (string or list of aliases), response, verdict (bool), "
                         "[approach]. Prints agreement, Cohen's kappa, the confusion matrix, precision and recall "
                         "of 'correct', throughput and the disagreements.")
    add_config_arguments(cal)
    cal.add_argument("file", type=Path, help="calibration rows (JSON lines)")
    cal.add_argument("--judge", choices=["rule", "llm", "http"], default=None,
                     help="judge to calibrate (default: judge.kind of the config); llm uses judge.model, "
                     "http judge.base_url")
    cal.add_argument("--show", type=int, default=20, metavar="N", help="disagreements to print (default 20)")
    cal.add_argument("--json", type=Path, default=None, metavar="OUT", help="also write the report as JSON")


def _judge(cfg, kind: str):
    from rlsys.judge.factory import build_judge

    j = cfg.judge.model_copy(update={"kind": kind})
    if kind != "llm":
        return build_judge(j)
    from rlsys.rollout.engines import load_engine

    context = j.max_prompt_tokens + j.max_new_tokens + (j.thinking_budget if j.thinking else 0) + 64
    engine, tokenizer = load_engine(j.model, j.engine, dtype=cfg.model.dtype, max_batch=j.batch_size,
                                    quantization=j.quantization, gpu_memory_utilization=j.gpu_memory_utilization,
                                    max_model_len=context)
    return build_judge(j, engine, tokenizer)


def run(args: argparse.Namespace) -> int:
    from rlsys.judge.calibration import CalibrationFileError, calibrate, format_report, load_rows

    if args.show < 0:
        print("rlsys judge calibrate: --show must be >= 0", file=sys.stderr)
        return 2
    if not args.file.is_file():
        print(f"rlsys judge calibrate: no such file: {args.file}", file=sys.stderr)
        return 2
    cfg = config_from_args(args)
    kind = args.judge or cfg.judge.kind
    try:
        rows = load_rows(args.file)
    except CalibrationFileError as err:
        print(f"rlsys judge calibrate: {err}", file=sys.stderr)
        return 2
    judge = _judge(cfg, kind)
    report = asyncio.run(calibrate(judge, rows, show=args.show))
    print(format_report(report, kind))
    if args.json is not None:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps({"judge": kind, "file": str(args.file), **report.to_json()}, indent=2))
    return 0
