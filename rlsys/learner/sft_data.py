"""SFT examples: chat messages -> tokens with the loss on assistant tokens only.

Two sources:
  - the reference format: a directory of JSON files `{"messages": [{role, content}, ...]}`
    (tool output comes back as a user message in `<python_output>` tags);
  - rlsys's own trajectory JSONL: one `Trajectory.to_dict()` per line, whose `token_ids` and
    `loss_mask` are already exact (excluded trajectories are skipped).

Messages are rendered with the tokenizer's chat template *incrementally*: message i's text is
`render(messages[:i+1])` minus `render(messages[:i])`, so each token belongs to exactly one
message (where a template re-renders earlier turns, e.g. Qwen3 dropping old <think> blocks,
the message is rendered after an empty anchor message instead: the text an episode appends). For an assistant message the header (`render(messages[:i], add_generation_prompt=True)`
minus the prefix) is masked out and the rest — the content and the end-of-turn token
(`<|im_end|>`) — is masked in, except trailing whitespace after it (the engine never samples
that newline). Each piece is tokenized on its own, exactly as an episode appends them.
"""

from __future__ import annotations

import hashlib
import json
import random
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable


class SFTDataError(ValueError):
    """SFT data that cannot be used; the message names the file."""


@dataclass
class SFTExample:
    token_ids: list[int]
    loss_mask: list[int]
    source: str = ""

    @property
    def key(self) -> str:
        return hashlib.sha256(json.dumps([self.token_ids, self.loss_mask]).encode()).hexdigest()


@dataclass
class SFTData:
    train: list[SFTExample]
    eval: list[SFTExample]
    stats: dict[str, int] = field(default_factory=dict)


def _render(tokenizer, messages: list[dict[str, str]], generation_prompt: bool = False) -> str:
    if not messages:
        return ""
    return tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=generation_prompt)


def _encode(tokenizer, text: str) -> list[int]:
    return tokenizer(text, add_special_tokens=False)["input_ids"] if text else []


_ANCHOR = {"role": "user", "content": ""}


def _message_text(tokenizer, msgs: list[dict[str, str]]) -> tuple[str, str]:
    """(header, body) of the newest message `msgs[-1]` as the template appends it.

    The header is the assistant prompt (empty for other roles). When adding the message
    changes how the template renders earlier ones (Qwen3 drops the <think> block of assistant
    turns before the last user message), the message is rendered after an empty anchor user
    message instead, which is what a token-in/token-out episode appends.
    """
    before = _render(tokenizer, msgs[:-1])
    after = _render(tokenizer, msgs)
    if not after.startswith(before):
        before, after, msgs = _render(tokenizer, [_ANCHOR]), _render(tokenizer, [_ANCHOR, msgs[-1]]), [_ANCHOR, msgs[-1]]
        if not after.startswith(before):
            raise SFTDataError("the chat template does not render messages as appendable pieces")
    if msgs[-1]["role"] != "assistant":
        return "", after[len(before):]
    prompt = _render(tokenizer, msgs[:-1], generation_prompt=True) if len(msgs) > 1 else ""
    if not prompt.startswith(before) or not after.startswith(prompt):
        raise SFTDataError("cannot find the assistant header in the chat template's output")
    return prompt[len(before):], after[len(prompt):]


def render_messages(tokenizer, messages: list[dict[str, Any]], source: str = "") -> SFTExample:
    """Tokens and loss mask of a conversation (see the module docstring)."""
    if tokenizer.chat_template is None:
        raise SFTDataError("the tokenizer has no chat template; SFT on chat messages needs one")
    ids: list[int] = []
    mask: list[int] = []
    for i, message in enumerate(messages):
        if not isinstance(message, dict) or "role" not in message or not isinstance(message.get("content"), str):
            raise SFTDataError(f"{source}: message {i} must be {{'role': ..., 'content': str}}")
        msgs = [{"role": m["role"], "content": m["content"]} for m in messages[: i + 1]]
        try:
            header, body = _message_text(tokenizer, msgs)
        except SFTDataError as err:
            raise SFTDataError(f"{source}: message {i}: {err}") from None
        if message["role"] == "assistant":
            trained = body.rstrip()
            pieces = [(header, 0), (trained, 1), (body[len(trained):], 0)]
        else:
            pieces = [(body, 0)]
        for text, flag in pieces:
            tokens = _encode(tokenizer, text)
            ids += tokens
            mask += [flag] * len(tokens)
    return SFTExample(ids, mask, source)


def read_reference_dir(path: str | Path) -> list[tuple[str, list[dict[str, Any]]]]:
    """(file name, messages) of every `*.json` with a `messages` list in a directory (sorted)."""
    path = Path(path)
    out = []
    for file in sorted(path.glob("*.json")):
        try:
            data = json.loads(file.read_text())
        except ValueError as err:
            raise SFTDataError(f"{file} is not valid JSON: {err}") from None
        if isinstance(data, dict) and isinstance(data.get("messages"), list):
            out.append((file.name, data["messages"]))
    if not out:
        raise SFTDataError(f"no trajectory files ({{\"messages\": [...]}} JSON) in {path}")
    return out


def read_trajectory_jsonl(path: str | Path) -> tuple[list[SFTExample], int]:
    """Examples from rlsys trajectory JSONL (token ids and mask as recorded); also the number skipped."""
    path = Path(path)
    examples, skipped = [], 0
    for lineno, line in enumerate(path.read_text().splitlines(), 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
            ids, mask = row["token_ids"], row["loss_mask"]
        except (ValueError, KeyError, TypeError) as err:
            raise SFTDataError(f"{path}:{lineno}: not a trajectory line ({err})") from None
        if row.get("failure") or row.get("end_reason") == "infra_error":
            skipped += 1
            continue
        if len(ids) != len(mask):
            raise SFTDataError(f"{path}:{lineno}: token_ids and loss_mask lengths differ")
        examples.append(SFTExample(list(ids), list(mask), f"{path.name}:{lineno}"))
    return examples, skipped


def load_examples(source: str | Path, tokenizer) -> tuple[list[SFTExample], dict[str, int]]:
    """All examples of a reference directory, a JSONL file, or a directory of JSONL files."""
    source = Path(source)
    stats = {"files": 0, "skipped_excluded": 0}
    examples: list[SFTExample] = []
    if source.is_file() and source.suffix == ".jsonl":
        jsonl = [source]
    elif source.is_dir():
        jsonl = sorted(source.glob("*.jsonl"))
    else:
        raise SFTDataError(f"SFT data {source} is neither a directory nor a .jsonl file")
    for file in jsonl:
        found, skipped = read_trajectory_jsonl(file)
        examples += found
        stats["files"] += 1
        stats["skipped_excluded"] += skipped
    if source.is_dir() and not jsonl:
        for name, messages in read_reference_dir(source):
            examples.append(render_messages(tokenizer, messages, name))
            stats["files"] += 1
    return examples, stats


def prepare(
    examples: Iterable[SFTExample], eval_fraction: float, seed: int, max_tokens: int, dedup: bool = True
) -> SFTData:
    """Dedup (same tokens and mask), drop over-long and empty-mask examples, split off the eval set."""
    kept: list[SFTExample] = []
    seen: set[str] = set()
    stats = {"examples": 0, "duplicates": 0, "too_long": 0, "no_trained_tokens": 0}
    for ex in examples:
        stats["examples"] += 1
        if dedup:
            if ex.key in seen:
                stats["duplicates"] += 1
                continue
            seen.add(ex.key)
        if len(ex.token_ids) > max_tokens:
            stats["too_long"] += 1
            continue
        if not any(ex.loss_mask[1:]):
            stats["no_trained_tokens"] += 1
            continue
        kept.append(ex)
    order = list(range(len(kept)))
    random.Random(seed).shuffle(order)
    n_eval = int(round(len(kept) * eval_fraction)) if len(kept) > 1 else 0
    eval_idx = set(order[:n_eval])
    train = [ex for i, ex in enumerate(kept) if i not in eval_idx]
    held = [ex for i, ex in enumerate(kept) if i in eval_idx]
    if not train:
        raise SFTDataError("no SFT examples left to train on after filtering")
    stats.update(train=len(train), eval=len(held))
    return SFTData(train, held, stats)
