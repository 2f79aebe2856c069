"""The reverse-text task: reply with a short string reversed; exact match is correct.

A sanity check of the RL machinery that does not depend on the search task's difficulty (the
same idea as prime-rl's "reverse text"): no sandbox, no corpus, one turn, and a tiny model can
learn it from scratch with RL alone. Strings are drawn from `alphabet` (digits by default: the
Qwen pre-tokenizer splits digits one per token, so the answer is a sequence of single tokens),
`min_len`..`max_len` characters, train and held-out sets disjoint.

    env.name: reverse_text
    env.options: {train_size: 512, test_size: 64, min_len: 2, max_len: 3, alphabet: "0123456789", seed: 0}
"""

from __future__ import annotations

import random
from typing import TYPE_CHECKING, Any

from rlsys.env.base import Action, EnvironmentBase, EnvSettings
from rlsys.env.registry import register_environment

if TYPE_CHECKING:
    from rlsys.config import Config
    from rlsys.corpus.types import Question

DEFAULTS: dict[str, Any] = {"train_size": 512, "test_size": 64, "min_len": 2, "max_len": 3,
                            "alphabet": "0123456789", "seed": 0, "prompt": "Reverse:"}


def _options(options: dict[str, Any]) -> dict[str, Any]:
    unknown = sorted(set(options) - set(DEFAULTS))
    if unknown:
        raise ValueError(f"env.options: reverse_text has no option(s) {', '.join(unknown)} (known: {', '.join(DEFAULTS)})")
    out = {**DEFAULTS, **options}
    for key in ("train_size", "test_size", "min_len", "max_len", "seed"):
        if not isinstance(out[key], int) or out[key] < (0 if key == "seed" else 1):
            raise ValueError(f"env.options.{key}: must be an integer >= {0 if key == 'seed' else 1} (got {out[key]!r})")
    if out["min_len"] > out["max_len"] or out["max_len"] > 64:
        raise ValueError(f"env.options: need 1 <= min_len <= max_len <= 64 (got {out['min_len']}, {out['max_len']})")
    alphabet = out["alphabet"]
    if not isinstance(alphabet, str) or len(set(alphabet)) < 2 or any(c.isspace() for c in alphabet):
        raise ValueError(f"env.options.alphabet: at least two distinct non-space characters (got {alphabet!r})")
    k = len(set(alphabet))
    room = sum(k if n == 1 else k ** n - k ** ((n + 1) // 2) for n in range(out["min_len"], out["max_len"] + 1))
    if out["train_size"] + out["test_size"] > room:
        raise ValueError(f"env.options: {out['train_size']} + {out['test_size']} distinct strings asked for, "
                         f"only {room} (palindromes left out) exist of length {out['min_len']}..{out['max_len']} over {alphabet!r}")
    return out


def make_strings(n: int, alphabet: str, min_len: int, max_len: int, seed: int) -> list[str]:
    """`n` distinct strings, reproducible from `seed`; no palindromes longer than one character
    (their reversal is a copy, which the check must not count as reversing)."""
    rng = random.Random(f"reverse_text:{seed}")
    letters = sorted(set(alphabet))
    seen: dict[str, None] = {}
    while len(seen) < n:
        s = "".join(rng.choice(letters) for _ in range(rng.randint(min_len, max_len)))
        if len(s) == 1 or s != s[::-1]:
            seen.setdefault(s, None)
    return list(seen)


@register_environment("reverse_text")
class ReverseText(EnvironmentBase):
    """One user message `Reverse: <s>`; the answer is the reply's leading run of alphabet
    characters (thinking and outer whitespace removed): `"21 because"` answers `21`, so the
    policy need not also learn where to stop."""

    name = "reverse_text"
    default_judge = "position_match"  # correct iff exact; approach = share of positions right
    default_reward = "approach"  # exact match earns 1, a wrong reply -(1 - share of its positions right)

    def __init__(self, settings: EnvSettings | None = None):
        super().__init__(settings)
        self.options = _options(self.settings.options)

    def initial_messages(self, question: "Question") -> list[dict[str, str]]:
        return [{"role": "user", "content": f"{self.options['prompt']} {question.question}"}]

    def parse_turn(self, text: str) -> Action:
        reply = super().parse_turn(text).answer or ""
        letters = set(self.options["alphabet"])
        n = next((i for i, c in enumerate(reply) if c not in letters), len(reply))
        return Action(answer=reply[:n])

    def questions(self, cfg: "Config | None" = None) -> tuple[list["Question"], list["Question"]]:
        from rlsys.corpus.types import Question

        o = self.options
        strings = make_strings(o["train_size"] + o["test_size"], o["alphabet"], o["min_len"], o["max_len"], o["seed"])
        out = [Question(id=f"rev-{i}", question=s, answer=s[::-1], split="train" if i < o["train_size"] else "test")
               for i, s in enumerate(strings)]
        return out[: o["train_size"]], out[o["train_size"]:]
