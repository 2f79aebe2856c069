"""The tiny base model of the reverse-text check: a nano Qwen3 that can *copy* a digit string.

RL with LoRA cannot start from a random-init model (its frozen embeddings and `lm_head` keep the
logits nearly flat: see `rlsys.learner.pretrain`), so the check starts from a base built here in
seconds: the nano model, full-parameter next-token training on chat transcripts of a *different*
task, `Copy: 4071` answered `4071`. The base never sees a reversal; reversing is what GRPO has
to find (asked `Reverse: 12` the base answers some 2-3 digit string: exact match 0.8 % of 120
samples). Measured: after 300 steps (lr 3e-3) the base emits digit strings of the right shape
but does not copy (copy accuracy ~0) and RL on it stayed flat for 100 steps; after 800 steps at
5e-3 it copies 61 % of `Copy:` prompts (93 s on 2 loaded cores), and RL learns from it.

    python -m rlsys.env.reverse_text_base --out artifacts/models/nano-reverse
"""

from __future__ import annotations

import argparse
import random
from pathlib import Path

from rlsys.rollout.chat_format import ASSISTANT_HEADER, IM_END, message_text

COPY_PROMPT = "Copy:"


def copy_transcripts(n: int, alphabet: str = "0123456789", min_len: int = 1, max_len: int = 4, seed: int = 0) -> list[str]:
    """`n` ChatML transcripts `user: Copy: <s>` → `assistant: <s>` over `alphabet`."""
    rng = random.Random(f"reverse_text_base:{seed}")
    letters = sorted(set(alphabet))
    out = []
    for _ in range(n):
        s = "".join(rng.choice(letters) for _ in range(rng.randint(min_len, max_len)))
        out.append(message_text("user", f"{COPY_PROMPT} {s}") + ASSISTANT_HEADER + s + IM_END + "\n")
    return out


def build_copy_base(out_dir: str | Path, steps: int = 800, lr: float = 5e-3, seed: int = 0,
                    alphabet: str = "0123456789") -> Path:
    """The nano model at `out_dir`, trained on copy transcripts (a no-op where it exists)."""
    from rlsys.learner.pretrain import pretrain_causal_lm, pretrained_marker
    from rlsys.rollout.tiny_model import build_tiny_model

    out = Path(out_dir)
    if pretrained_marker(out) is not None:
        return out
    texts = copy_transcripts(4000, alphabet, seed=seed)
    if not (out / "config.json").is_file():
        build_tiny_model(out, texts[:500], size="nano", seed=seed)
    pretrain_causal_lm(out, texts, steps=steps, batch_size=16, seq_len=64, lr=lr, seed=seed)
    return out


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", default="artifacts/models/nano-reverse")
    parser.add_argument("--steps", type=int, default=800)
    parser.add_argument("--lr", type=float, default=5e-3)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    print(build_copy_base(args.out, args.steps, args.lr, args.seed))


if __name__ == "__main__":
    main()
