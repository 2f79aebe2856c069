"""The tiny base model of the reverse-text check: a nano Qwen3 that can *copy* a digit string.

RL with LoRA cannot start from a random-init model (its frozen embeddings and `lm_head` keep the
logits nearly flat: see `rlsys.learner.pretrain`), so the check starts from a base built here in
seconds: the nano model, full-parameter next-token training on chat transcripts of a *different*
task, `Copy: 4071` answered `4071`. The base never sees a reversal; reversing is what GRPO has
to find (asked `Reverse: 12` the base answers some 2-3 digit string: exact match 0.8 % of 120
samples). Measured: after 300 steps (lr 3e-3) the base emits digit strings of the right shape
but does not copy (copy accuracy ~0) and RL on it stayed flat for 100 steps; after 800 steps at
5e-3 it copies 61 % of `Copy:` prompts (93 s on 2 loaded cores), and RL learns from it.

Whether 800 steps are enough is a matter of luck: copying arrives as a sudden drop of the loss
whose step moves with the seed and with the machine's float kernels (wave 8: seed 0 copies 100 %
of held-out 2-digit strings, seed 1 14 %; wave 7's AVX-512 machine built a base from which RL
never learned). So the build measures what it is for, greedy copy accuracy on held-out strings
(`copy_accuracy`), and trains on in rounds of `steps` until it reaches `min_copy_accuracy`, or
fails with the figures after `max_rounds`; `rlsys_copy_base.json` records every round.

    python -m rlsys.env.reverse_text_base --out artifacts/models/nano-reverse
"""

from __future__ import annotations

import argparse
import json
import random
from pathlib import Path

from rlsys.rollout.chat_format import ASSISTANT_HEADER, IM_END, message_text

COPY_PROMPT = "Copy:"
MARKER = "rlsys_copy_base.json"


def copy_transcripts(n: int, alphabet: str = "0123456789", min_len: int = 1, max_len: int = 4, seed: int = 0) -> list[str]:
    """`n` ChatML transcripts `user: Copy: <s>` → `assistant: <s>` over `alphabet`."""
    rng = random.Random(f"reverse_text_base:{seed}")
    letters = sorted(set(alphabet))
    out = []
    for _ in range(n):
        s = "".join(rng.choice(letters) for _ in range(rng.randint(min_len, max_len)))
        out.append(message_text("user", f"{COPY_PROMPT} {s}") + ASSISTANT_HEADER + s + IM_END + "\n")
    return out


def copy_accuracy(model_dir: str | Path, n: int = 100, length: int = 2, seed: int = 1234,
                  alphabet: str = "0123456789") -> float:
    """Greedy exact-match accuracy of `model_dir` on `n` held-out `Copy:` prompts of `length` symbols
    (drawn with a seed the training transcripts do not use)."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(str(model_dir))
    model = AutoModelForCausalLM.from_pretrained(str(model_dir), dtype=torch.float32).eval()
    rng = random.Random(f"copy_accuracy:{seed}")
    letters = sorted(set(alphabet))
    correct = 0
    with torch.no_grad():
        for _ in range(n):
            s = "".join(rng.choice(letters) for _ in range(length))
            ids = tokenizer.encode(message_text("user", f"{COPY_PROMPT} {s}") + ASSISTANT_HEADER, add_special_tokens=False)
            out = model.generate(torch.tensor([ids]), attention_mask=torch.ones(1, len(ids), dtype=torch.long),
                                 max_new_tokens=length + 3, do_sample=False, pad_token_id=tokenizer.pad_token_id)
            correct += tokenizer.decode(out[0, len(ids):], skip_special_tokens=True).strip() == s
    return correct / n


class CopyBaseError(RuntimeError):
    """The copy base did not learn to copy within its rounds (the figures are in the message)."""


def build_copy_base(out_dir: str | Path, steps: int = 800, lr: float = 5e-3, seed: int = 0,
                    alphabet: str = "0123456789", min_copy_accuracy: float = 0.8, max_rounds: int = 4) -> Path:
    """The nano model at `out_dir`, trained on copy transcripts in rounds of `steps` until it copies
    `min_copy_accuracy` of held-out strings (a no-op where a finished base exists)."""
    from rlsys.learner.pretrain import MARKER as PRETRAIN_MARKER
    from rlsys.learner.pretrain import pretrain_causal_lm
    from rlsys.rollout.tiny_model import build_tiny_model

    out = Path(out_dir)
    if (out / MARKER).is_file() and json.loads((out / MARKER).read_text()).get("copies"):
        return out
    if not 0.0 <= min_copy_accuracy <= 1.0 or max_rounds < 1:
        raise ValueError("min_copy_accuracy must be in [0, 1] and max_rounds >= 1")
    rounds: list[dict] = []
    for r in range(max_rounds):
        texts = copy_transcripts(4000, alphabet, seed=seed + r)
        if not (out / "config.json").is_file():
            build_tiny_model(out, texts[:500], size="nano", seed=seed)
        (out / PRETRAIN_MARKER).unlink(missing_ok=True)  # round r > 0 continues from the saved weights
        summary = pretrain_causal_lm(out, texts, steps=steps, batch_size=16, seq_len=64, lr=lr, seed=seed + r)
        accuracy = copy_accuracy(out, alphabet=alphabet)
        rounds.append({"round": r + 1, "steps": steps, "loss_last": summary["loss_last"], "copy_accuracy": accuracy})
        print(f"copy base {out}: round {r + 1}, {steps} steps, loss {summary['loss_last']:.3f}, "
              f"held-out copy accuracy {accuracy:.2f} (needs {min_copy_accuracy:.2f})", flush=True)
        if accuracy >= min_copy_accuracy:
            (out / MARKER).write_text(json.dumps({"copies": True, "rounds": rounds}, indent=2))
            return out
    (out / MARKER).write_text(json.dumps({"copies": False, "rounds": rounds}, indent=2))
    raise CopyBaseError(f"the copy base at {out} copies {rounds[-1]['copy_accuracy']:.0%} of held-out strings after "
                        f"{max_rounds} rounds of {steps} steps (needs {min_copy_accuracy:.0%}); rounds: {rounds}. "
                        f"Try another --seed or more --steps")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", default="artifacts/models/nano-reverse")
    parser.add_argument("--steps", type=int, default=800)
    parser.add_argument("--lr", type=float, default=5e-3)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--min-copy-accuracy", type=float, default=0.8)
    parser.add_argument("--max-rounds", type=int, default=4)
    args = parser.parse_args(argv)
    print(build_copy_base(args.out, args.steps, args.lr, args.seed, min_copy_accuracy=args.min_copy_accuracy,
                          max_rounds=args.max_rounds))


if __name__ == "__main__":
    main()
