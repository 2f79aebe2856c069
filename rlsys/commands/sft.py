"""`rlsys sft`: LoRA SFT of the policy on expert trajectories; writes an adapter and a loss curve."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from rlsys.config import add_config_arguments, config_from_args

HELP = "supervised fine-tuning (LoRA, loss on assistant tokens) on expert trajectories"
SYNTHETIC_DIR = "sft/synthetic"  # under artifacts/: the scripted expert's reference-format output


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_config_arguments(parser)
    parser.add_argument("--data", default=None,
                        help="reference-format directory ({'messages': [...]} JSON files) or rlsys trajectory "
                             "JSONL (file or directory); default: sft.data")
    parser.add_argument("--out", default=None, help="output directory (default: sft.output_dir)")
    parser.add_argument("--adapter", default=None, help="continue from this PEFT adapter directory")
    parser.add_argument("--resume", action="store_true", help="continue from the latest checkpoint in OUT/checkpoints")
    parser.add_argument("--max-steps", type=int, default=None, help="stop after this many optimizer steps")


def _data_path(spec: str) -> Path:
    if spec == "synthetic":
        from rlsys.paths import artifacts_dir

        path = artifacts_dir() / SYNTHETIC_DIR
        if not path.is_dir():
            raise FileNotFoundError(
                f"sft.data=synthetic reads the scripted expert's trajectories from {path}, which does not exist; "
                "generate them first (rlsys.scripted_expert.write_reference_format) or pass --data DIR"
            )
        return path
    path = Path(spec)
    if not path.exists():
        raise FileNotFoundError(f"SFT data not found: {path}")
    return path


def run(args: argparse.Namespace) -> int:
    import logging

    # the per-epoch eval loss is logged; a no-op where the caller (the demo) configured logging
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    cfg = config_from_args(args)
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
    from transformers import AutoTokenizer

    from rlsys.learner.checkpoint import CheckpointError
    from rlsys.learner.policy import load_base_model
    from rlsys.learner.sft import SFTRunner, plot_losses
    from rlsys.learner.sft_data import SFTDataError, load_examples, prepare
    from rlsys.rollout.tiny_model import ensure_model

    out = Path(args.out or cfg.sft.output_dir)
    try:
        data_path = _data_path(args.data or cfg.sft.data)
        model_path = ensure_model(cfg.model)
        tokenizer = AutoTokenizer.from_pretrained(str(model_path))
        examples, source_stats = load_examples(data_path, tokenizer)
        data = prepare(examples, cfg.sft.eval_fraction, cfg.sft.seed, cfg.sft.max_tokens, cfg.sft.dedup)
    except (FileNotFoundError, SFTDataError) as err:
        print(f"rlsys sft: {err}", file=sys.stderr)
        return 2
    print(f"SFT data {data_path}: {data.stats} ({source_stats['files']} files)")
    base = load_base_model(model_path, cfg.model.dtype)
    pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
    runner = SFTRunner(cfg.sft, cfg.learner.lora, base, pad_id, data,
                       gradient_checkpointing=cfg.learner.gradient_checkpointing, adapter_path=args.adapter)
    checkpoints = out / "checkpoints"
    use_checkpoints = args.resume or cfg.sft.checkpoint_every > 0
    if not args.resume and checkpoints.is_dir() and any(checkpoints.glob("step-*")):
        print(f"rlsys sft: {checkpoints} already holds checkpoints; pass --resume or another --out", file=sys.stderr)
        return 2
    total = runner.total_steps if args.max_steps is None else min(runner.total_steps, args.max_steps)
    columns = [TextColumn("SFT"), BarColumn(), MofNCompleteColumn(), TextColumn("loss {task.fields[loss]}"),
               TimeRemainingColumn()]
    try:
        with Progress(*columns) as progress:
            task = progress.add_task("sft", total=total, loss="-")
            result = runner.train(
                checkpoint_dir=checkpoints if use_checkpoints else None, max_steps=args.max_steps,
                on_step=lambda step, loss: progress.update(task, completed=step, loss=f"{loss:.4f}"),
            )
    except CheckpointError as err:
        print(f"rlsys sft: {err}", file=sys.stderr)
        return 2
    adapter = runner.save_adapter(out / "adapter")
    png = plot_losses(result, out / "loss.png", title=f"SFT on {data_path.name}")
    summary = {
        "steps": result.steps, "data": data.stats, "adapter": str(adapter), "loss_curve": str(png),
        "train_loss_first": result.train_losses[0][1] if result.train_losses else None,
        "train_loss_last": result.train_losses[-1][1] if result.train_losses else None,
        "eval_losses": result.eval_losses, "train_losses": result.train_losses,
    }
    (out / "sft_metrics.json").write_text(json.dumps(summary, indent=2))
    evals = ", ".join(f"{loss:.4f}@{step}" for step, loss in result.eval_losses) or "none"
    print(f"SFT done: {result.steps} steps, train loss {summary['train_loss_first']} -> {summary['train_loss_last']}, "
          f"eval loss {evals}\nadapter: {adapter}\nloss curve: {png}")
    return 0
