"""`rlsys model build-tiny|pretrain|info`: build the tiny offline Qwen3-architecture model, pretrain
it with a preset's recipe (how the shipped base `models/nano-qwen3` is made), or describe a model."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

HELP = "build (and pretrain) the tiny offline policy model (Qwen3 architecture, local tokenizer) or show a model"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from rlsys.rollout.tiny_model import SIZES

    sub = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
    build = sub.add_parser("build-tiny", help="train a tokenizer and save a random-init tiny model")
    build.add_argument("--out", required=True, help="output directory (a Hugging Face model folder)")
    build.add_argument("--size", default="tiny", choices=list(SIZES), help="size preset (default: tiny)")
    build.add_argument("--seed", type=int, default=0, help="seed of the weights (default: 0)")
    build.add_argument(
        "--texts",
        default=None,
        help="train the tokenizer on this text/JSONL file instead of the synthetic corpus + seed SFT text",
    )
    pretrain = sub.add_parser(
        "pretrain", help="build the tiny model and pretrain it with the config's model.pretrain_* recipe "
                         "(the shipped base: rlsys model pretrain --out models/nano-qwen3 --force)")
    from rlsys.config import add_config_arguments

    add_config_arguments(pretrain)
    pretrain.add_argument("--out", default=None, help="output directory (default: the config's model.path)")
    pretrain.add_argument("--force", action="store_true",
                          help="delete a model already at the output directory and build it again")
    info = sub.add_parser("info", help="parameters, vocabulary and special tokens of a model folder")
    info.add_argument("path", help="model directory")


def _read_texts(path: Path) -> list[str]:
    if not path.is_file():
        raise SystemExit(f"rlsys model: texts file not found: {path}")
    if path.suffix == ".jsonl":
        rows = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
        return [str(r.get("content") or r.get("text") or "") if isinstance(r, dict) else str(r) for r in rows]
    return path.read_text().split("\n\n")


def run(args: argparse.Namespace) -> int:
    import logging

    logging.basicConfig(level=logging.INFO, format="%(message)s")
    if args.action == "build-tiny":
        from rlsys.rollout.tiny_model import build_tiny_model, default_texts

        texts = _read_texts(Path(args.texts)) if args.texts else default_texts()
        out = build_tiny_model(args.out, texts, size=args.size, seed=args.seed)
        print(f"built {args.size} model at {out}: {(out / 'rlsys_tiny.json').read_text().strip()}")
        return 0
    if args.action == "pretrain":
        return _pretrain(args)
    path = Path(args.path)
    if not (path / "config.json").is_file():
        print(f"rlsys model: {path} is not a model directory (no config.json)")
        return 2
    from transformers import AutoConfig, AutoTokenizer

    config = AutoConfig.from_pretrained(path)
    tok = AutoTokenizer.from_pretrained(path)
    print(f"{path}: {config.model_type}, hidden {config.hidden_size}, layers {config.num_hidden_layers}, "
          f"vocab {config.vocab_size} (tokenizer {len(tok)}), eos {tok.eos_token!r}, pad {tok.pad_token!r}")
    return 0


def _pretrain(args: argparse.Namespace) -> int:
    import shutil

    from rlsys.base_model import ensure_base_model
    from rlsys.config import config_from_args

    if args.out:
        args.overrides = [*args.overrides, f"model.path={args.out}"]
    cfg = config_from_args(args)
    if not cfg.model.tiny or cfg.model.pretrain_steps <= 0:
        print(f"rlsys model pretrain: {args.config} has model.tiny={cfg.model.tiny}, "
              f"model.pretrain_steps={cfg.model.pretrain_steps}: nothing to pretrain")
        return 2
    out = Path(cfg.model.path)
    if (out / "config.json").is_file():
        if not args.force:
            print(f"rlsys model pretrain: {out} already holds a model; --force rebuilds it")
            return 2
        shutil.rmtree(out)
    total = cfg.model.pretrain_copy_steps + cfg.model.pretrain_steps

    def on_step(step: int, loss: float) -> None:  # a line per 50 steps: reads well in a log file too
        if step % 50 == 0 or step == total:
            print(f"pretrain step {step}/{total}: loss {loss:.3f}", flush=True)

    path = ensure_base_model(cfg, on_step=on_step)
    print(f"pretrained {cfg.model.tiny_size} base at {path}: {(path / 'rlsys_pretrain.json').read_text().strip()}")
    return 0
