"""`rlsys model build-tiny|info`: build the tiny offline Qwen3-architecture model, or describe one."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

HELP = "build the tiny offline policy model (Qwen3 architecture, local tokenizer) or show a model"


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
