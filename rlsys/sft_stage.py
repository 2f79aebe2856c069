"""The SFT stage as a function (`rlsys sft` and the demo call it): LoRA SFT of the policy on
expert trajectories; writes an adapter, `sft_metrics.json` and a loss curve."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from rlsys.config import Config

SYNTHETIC_DIR = "sft/synthetic"  # under artifacts/: the scripted expert's reference-format output


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


def run_sft(cfg: Config, data: str | None = None, out: str | Path | None = None, adapter: str | None = None,
            resume: bool = False, max_steps: int | None = None) -> int:
    """Trains the SFT adapter into `out` (default `sft.output_dir`) from `data` (default
    `sft.data`); prints what it did and returns an exit code (2: bad data or checkpoints)."""
    import logging

    # the per-epoch eval loss is logged; a no-op where the caller (the demo) configured logging
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
    from transformers import AutoTokenizer

    from rlsys.learner.checkpoint import CheckpointError
    from rlsys.learner.policy import load_base_model
    from rlsys.learner.sft import SFTRunner, plot_losses
    from rlsys.learner.sft_data import SFTDataError, load_examples, prepare
    from rlsys.rollout.tiny_model import ensure_model

    out = Path(out or cfg.sft.output_dir)
    try:
        data_path = _data_path(data or cfg.sft.data)
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
                       gradient_checkpointing=cfg.learner.gradient_checkpointing, adapter_path=adapter)
    checkpoints = out / "checkpoints"
    use_checkpoints = resume or cfg.sft.checkpoint_every > 0
    if not resume and checkpoints.is_dir() and any(checkpoints.glob("step-*")):
        print(f"rlsys sft: {checkpoints} already holds checkpoints; pass --resume or another --out", file=sys.stderr)
        return 2
    total = runner.total_steps if max_steps is None else min(runner.total_steps, max_steps)
    columns = [TextColumn("SFT"), BarColumn(), MofNCompleteColumn(), TextColumn("loss {task.fields[loss]}"),
               TimeRemainingColumn()]
    try:
        with Progress(*columns) as progress:
            task = progress.add_task("sft", total=total, loss="-")
            result = runner.train(
                checkpoint_dir=checkpoints if use_checkpoints else None, max_steps=max_steps,
                on_step=lambda step, loss: progress.update(task, completed=step, loss=f"{loss:.4f}"),
            )
    except CheckpointError as err:
        print(f"rlsys sft: {err}", file=sys.stderr)
        return 2
    saved = runner.save_adapter(out / "adapter")
    png = plot_losses(result, out / "loss.png", title=f"SFT on {data_path.name}")
    summary = {
        "steps": result.steps, "data": data.stats, "adapter": str(saved), "loss_curve": str(png),
        "train_loss_first": result.train_losses[0][1] if result.train_losses else None,
        "train_loss_last": result.train_losses[-1][1] if result.train_losses else None,
        "eval_losses": result.eval_losses, "train_losses": result.train_losses,
    }
    (out / "sft_metrics.json").write_text(json.dumps(summary, indent=2))
    evals = ", ".join(f"{loss:.4f}@{step}" for step, loss in result.eval_losses) or "none"
    print(f"SFT done: {result.steps} steps, train loss {summary['train_loss_first']} -> {summary['train_loss_last']}, "
          f"eval loss {evals}\nadapter: {saved}\nloss curve: {png}")
    return 0
