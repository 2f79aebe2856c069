"""`rlsys sft`: LoRA SFT of the policy on expert trajectories; writes an adapter and a loss curve."""

from __future__ import annotations

import argparse

from rlsys.config import add_config_arguments, config_from_args

HELP = "supervised fine-tuning (LoRA, loss on assistant tokens) on expert trajectories"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_config_arguments(parser)
    parser.add_argument("--data", default=None,
                        help="reference-format directory ({'messages': [...]} JSON files) or rlsys trajectory "
                             "JSONL (file or directory); default: sft.data")
    parser.add_argument("--out", default=None, help="output directory (default: sft.output_dir)")
    parser.add_argument("--adapter", default=None, help="continue from this PEFT adapter directory")
    parser.add_argument("--resume", action="store_true", help="continue from the latest checkpoint in OUT/checkpoints")
    parser.add_argument("--max-steps", type=int, default=None, help="stop after this many optimizer steps")


def run(args: argparse.Namespace) -> int:
    from rlsys.sft_stage import run_sft

    return run_sft(config_from_args(args), args.data, args.out, args.adapter, args.resume, args.max_steps)
