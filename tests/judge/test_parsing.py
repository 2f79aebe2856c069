"""The reply parser against collected judge outputs (thinking, fenced, prose, malformed)."""

from __future__ import annotations

import json

import pytest

from rlsys.judge.parsing import VerdictParseError, parse_score, parse_verdict, strip_thinking
from rlsys.judge.types import Category

from .trajectories import FIXTURES

REPLIES = [json.loads(line) for line in (FIXTURES / "judge_replies.jsonl").open()]
GOOD = [r for r in REPLIES if r["category"] is not None]
BAD = [r for r in REPLIES if r["category"] is None]


def test_fixture_set_covers_the_hard_shapes():
    names = {r["name"] for r in REPLIES}
    assert len(GOOD) >= 20 and len(BAD) >= 5
    assert {"qwen3_thinking_then_json", "json_fence", "trailing_commas", "malformed_only_thinking_unclosed"} <= names


@pytest.mark.parametrize("reply", GOOD, ids=[r["name"] for r in GOOD])
def test_parses_real_looking_replies(reply):
    verdict = parse_verdict(reply["text"], default_approach=42.0)
    assert verdict.category is Category(reply["category"])
    expected = 42.0 if reply["approach"] == "default" else float(reply["approach"])
    assert verdict.approach == pytest.approx(expected)
    assert 0.0 <= verdict.approach <= 100.0
    assert verdict.raw == reply["text"]


@pytest.mark.parametrize("reply", BAD, ids=[r["name"] for r in BAD])
def test_malformed_replies_raise(reply):
    with pytest.raises(VerdictParseError):
        parse_verdict(reply["text"])


def test_never_returns_judge_error_from_model_text():
    with pytest.raises(VerdictParseError):
        parse_verdict('{"category": "judge_error", "approach": 0}')


def test_thinking_json_is_ignored_in_favour_of_the_answer():
    text = '<think>{"category": "correct", "approach": 99}</think>\n{"category": "incorrect", "approach": 5}'
    verdict = parse_verdict(text)
    assert verdict.category is Category.INCORRECT and verdict.approach == 5


def test_strip_thinking_forms():
    assert strip_thinking("<think>a</think>b") == "b"
    assert strip_thinking("a</think>b") == "b"
    assert strip_thinking("b<think>never closed") == "b"
    assert strip_thinking("<think>x</think>y<think>z</think>w") == "y w"


@pytest.mark.parametrize(
    "value, expected",
    [(85, 85.0), ("85", 85.0), ("85/100", 85.0), ("7/10", 70.0), ("90%", 90.0), ("score: 64 out of 100", 64.0),
     (250, 100.0), (-3, 0.0), ("-3", 0.0), (0.5, 50.0), (1, 1.0), (100.0, 100.0), ("n/a", None), (None, None), (True, None)],
)
def test_parse_score(value, expected):
    assert parse_score(value) == expected
