"""Reading one assistant turn: its thinking, its code cell and its answer.

Rules (simple and fixed, so SFT data and rollouts agree):
- `<think>…</think>` blocks are removed before anything else; an unclosed `<think>` makes the
  rest of the turn thinking, and a lone `</think>` makes everything before it thinking.
- The cell is the first `<python>…</python>`; without one, the first ```python (or ```py) fenced
  block. An unclosed tag or fence takes the rest of the turn.
- The answer is the first `<answer>…</answer>` (unclosed: the rest of the turn), stripped.
- A turn with an answer ends the episode; a cell written in the same turn is recorded but not run.
- An empty cell (only whitespace) is reported as `empty_cell` and is not sent to the sandbox.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

__all__ = ["ParsedTurn", "parse_turn", "strip_thinking", "STOP_STRINGS"]

STOP_STRINGS = ["</python>", "</answer>"]
_END_MARKERS = ("<|im_end|>", "<|endoftext|>")
_FENCE_OPEN = re.compile(r"```(?:python|py)[ \t]*\n", re.IGNORECASE)


@dataclass
class ParsedTurn:
    visible: str             # the turn without its thinking and end markers
    thinking: str | None     # the thinking text, if any
    cell: str | None         # code to run (None: no cell written)
    answer: str | None       # the final answer (None: no answer written)

    @property
    def empty_cell(self) -> bool:
        return self.cell is not None and not self.cell.strip()


def _strip_end_markers(text: str) -> str:
    for marker in _END_MARKERS:
        text = text.replace(marker, "")
    return text


def strip_thinking(text: str) -> tuple[str, str | None]:
    """(text without thinking, thinking text or None)."""
    thoughts: list[str] = []
    if "</think>" in text and ("<think>" not in text or text.index("</think>") < text.index("<think>")):
        head, text = text.split("</think>", 1)  # the prompt opened the block (Qwen3 thinking mode)
        thoughts.append(head)
    out: list[str] = []
    while "<think>" in text:
        before, rest = text.split("<think>", 1)
        out.append(before)
        if "</think>" in rest:
            thought, text = rest.split("</think>", 1)
        else:
            thought, text = rest, ""
        thoughts.append(thought)
    out.append(text)
    thinking = "\n".join(t.strip("\n") for t in thoughts) if thoughts else None
    return "".join(out), thinking


def _span(text: str, opener: re.Pattern[str], close: str) -> tuple[int, int, str] | None:
    """(start, end, body) of the first block opened by `opener`; unclosed runs to the end."""
    match = opener.search(text)
    if not match:
        return None
    stop = text.find(close, match.end())
    if stop < 0:
        return match.start(), len(text), text[match.end():]
    return match.start(), stop + len(close), text[match.end():stop]


_PYTHON_OPEN = re.compile(re.escape("<python>"))
_ANSWER_OPEN = re.compile(re.escape("<answer>"))


def _clean_cell(code: str) -> str:
    return code.strip("\n").rstrip()


def parse_turn(text: str) -> ParsedTurn:
    """Splits one assistant turn into thinking, cell and answer (see the module rules)."""
    visible, thinking = strip_thinking(_strip_end_markers(text))
    span = _span(visible, _PYTHON_OPEN, "</python>") or _span(visible, _FENCE_OPEN, "```")
    cell, outside = None, visible
    if span is not None:
        start, end, cell = span
        outside = visible[:start] + visible[end:]  # an "<answer>" printed by the code is not an answer
    answer = _span(outside, _ANSWER_OPEN, "</answer>")
    return ParsedTurn(
        visible=visible,
        thinking=thinking,
        cell=None if cell is None else _clean_cell(cell),
        answer=None if answer is None else answer[2].strip(),
    )
