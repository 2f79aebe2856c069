"""Reading a judge's reply into a `Verdict`, as forgivingly as is safe.

Handles `<think>…</think>` (closed, unopened or unclosed), code fences, prose around the
JSON, several JSON objects (the last usable one wins), trailing commas, comments, single
quotes and unquoted keys, scores given as strings ("85", "85/100", "85%", "8/10"), fractions
in (0, 1) (read as a share of 100), out-of-range scores (clamped to 0..100), a missing
approach score (the configured default) and `key: value` lines without JSON. A reply with no
recognisable category raises `VerdictParseError`; the caller retries or records `judge_error`.
"""

from __future__ import annotations

import ast
import json
import re
from typing import Any

from rlsys.judge.types import Category, Verdict

CATEGORY_KEYS = ("category", "verdict", "label", "grade", "result", "judgement", "judgment", "classification")
APPROACH_KEYS = ("approach", "approach_score", "score", "search_score", "approach_quality", "process_score")
RATIONALE_KEYS = ("rationale", "reason", "reasoning", "explanation", "justification", "comment")
CATEGORY_WORDS = {
    Category.CORRECT: {"correct", "right", "true", "yes", "correct_answer", "equivalent", "match", "pass"},
    Category.INCORRECT: {"incorrect", "wrong", "false", "no", "incorrect_answer", "partially_correct", "partial", "fail", "mismatch"},
    Category.GAVE_UP: {"gave_up", "giveup", "give_up", "gaveup", "abstain", "abstained", "no_answer", "unknown", "not_found", "refused"},
}
_WORD_TO_CATEGORY = {w: c for c, words in CATEGORY_WORDS.items() for w in words}


class VerdictParseError(ValueError):
    """The reply holds no usable verdict."""


def strip_thinking(text: str) -> str:
    """The reply without its thinking: closed `<think>` blocks, text before an unopened
    `</think>` (the template opened it) and everything after an unclosed `<think>`."""
    text = re.sub(r"<think>.*?</think>", " ", text, flags=re.S)
    if "</think>" in text:
        text = text.rsplit("</think>", 1)[1]
    if "<think>" in text:
        text = text.split("<think>", 1)[0]
    return text.strip()


def _balanced_objects(text: str) -> list[str]:
    """Every top-level `{...}` span, matching braces outside string literals."""
    spans: list[str] = []
    depth, start, quote, escaped = 0, -1, "", False
    for i, ch in enumerate(text):
        if quote:
            if escaped:
                escaped = False
            elif ch == "\\":
                escaped = True
            elif ch == quote:
                quote = ""
            continue
        if ch in "\"'" and depth > 0:
            # an apostrophe inside prose-like values is not a string start: only after : , [ {
            before = text[:i].rstrip()[-1:] if text[:i].rstrip() else ""
            if ch == '"' or before in ":,[{":
                quote = ch
            continue
        if ch == "{":
            if depth == 0:
                start = i
            depth += 1
        elif ch == "}" and depth > 0:
            depth -= 1
            if depth == 0:
                spans.append(text[start : i + 1])
    return spans


def _load_object(span: str) -> dict[str, Any] | None:
    try:
        value = json.loads(span)
    except json.JSONDecodeError:
        fixed = re.sub(r"//[^\n]*", "", span)                        # comments
        fixed = re.sub(r",\s*([}\]])", r"\1", fixed)                 # trailing commas
        fixed = re.sub(r"([{,]\s*)([A-Za-z_]\w*)\s*:", r'\1"\2":', fixed)  # unquoted keys
        try:
            value = json.loads(fixed)
        except json.JSONDecodeError:
            py = re.sub(r"\btrue\b", "True", re.sub(r"\bfalse\b", "False", re.sub(r"\bnull\b", "None", fixed)))
            try:
                value = ast.literal_eval(py)
            except (ValueError, SyntaxError, MemoryError, RecursionError):
                return None
    return value if isinstance(value, dict) else None


def _lower_keys(obj: dict[str, Any]) -> dict[str, Any]:
    return {str(k).strip().lower().replace(" ", "_"): v for k, v in obj.items()}


def _category(obj: dict[str, Any]) -> Category | None:
    for key in CATEGORY_KEYS:
        if key in obj and isinstance(obj[key], (str, bool)):
            value = obj[key]
            word = str(value).strip().lower().strip(".\"' ").replace(" ", "_").replace("-", "_")
            if word in _WORD_TO_CATEGORY:
                return _WORD_TO_CATEGORY[word]
    if isinstance(obj.get("correct"), bool):
        return Category.CORRECT if obj["correct"] else Category.INCORRECT
    return None


def parse_score(value: Any) -> float | None:
    """A 0..100 score from a number or a string like "85", "85/100", "85%", "8/10"; None if none."""
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, (int, float)):
        score = float(value)
        if 0.0 < score < 1.0:  # a fraction
            score *= 100.0
    else:
        text = str(value).strip()
        m = re.search(r"(-?\d+(?:\.\d+)?)\s*(?:/\s*(\d+(?:\.\d+)?)|out of\s*(\d+(?:\.\d+)?))?", text)
        if not m:
            return None
        score = float(m.group(1))
        denominator = m.group(2) or m.group(3)
        if denominator and float(denominator) > 0:
            score = score / float(denominator) * 100.0
        elif 0.0 < score < 1.0 and "%" not in text:
            score *= 100.0
    if score != score:  # NaN
        return None
    return min(max(score, 0.0), 100.0)


def _from_object(obj: dict[str, Any], default_approach: float, raw: str) -> Verdict | None:
    obj = _lower_keys(obj)
    category = _category(obj)
    if category is None:
        for value in obj.values():  # one level of nesting: {"verdict": {...}}
            if isinstance(value, dict) and (verdict := _from_object(value, default_approach, raw)):
                return verdict
        return None
    approach = None
    for key in APPROACH_KEYS:
        if key in obj and (approach := parse_score(obj[key])) is not None:
            break
    rationale = next((str(obj[k]) for k in RATIONALE_KEYS if k in obj and obj[k] is not None), "")
    return Verdict(category, default_approach if approach is None else approach, rationale, raw)


def _from_lines(text: str, default_approach: float, raw: str) -> Verdict | None:
    keys = "|".join(CATEGORY_KEYS)
    m = re.search(rf"\b(?:{keys})\**\s*[:=]\s*\**\s*[\"']?([A-Za-z_ -]+?)[\"']?\s*(?:[,\n*]|$)", text, re.I)
    if not m:
        return None
    obj: dict[str, Any] = {"category": m.group(1)}
    s = re.search(rf"\b(?:{'|'.join(APPROACH_KEYS)})\**\s*[:=]\s*\**\s*([^\n,]+)", text, re.I)
    if s:
        obj["approach"] = s.group(1)
    return _from_object(obj, default_approach, raw)


def parse_verdict(text: str, default_approach: float = 50.0) -> Verdict:
    """The verdict in a judge's reply; raises `VerdictParseError` when there is none."""
    if not isinstance(text, str) or not text.strip():
        raise VerdictParseError("empty reply")
    visible = strip_thinking(text)
    for span in reversed(_balanced_objects(visible)):
        obj = _load_object(span)
        if obj is not None and (verdict := _from_object(obj, default_approach, text)) is not None:
            return verdict
    verdict = _from_lines(visible, default_approach, text)
    if verdict is not None:
        return verdict
    preview = visible[:120].replace("\n", " ") or "(only thinking)"
    raise VerdictParseError(f"no verdict in reply: {preview!r}")
