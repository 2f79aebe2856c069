"""Parsing of assistant turns: tags, fences, thinking, unclosed and empty blocks."""

from __future__ import annotations

import pytest

from rlsys.rollout.parsing import parse_turn, strip_thinking
from rlsys.rollout.prompts import (
    FINAL_TURN_TEXT,
    QUESTION_VARIABLE_TEXT,
    initial_messages,
    observation_text,
    question_setup_cell,
    system_prompt,
)
from rlsys.sandbox.types import ExecResult, ExecStatus


@pytest.mark.parametrize(
    "text, cell, answer",
    [
        ("<python>\nprint(1)\n</python>", "print(1)", None),
        ("Let me look.\n<python>\nx = search_pages('a')\nprint(x)\n</python>", "x = search_pages('a')\nprint(x)", None),
        ("<answer>Paris</answer>", None, "Paris"),
        ("<answer>  Paris \n</answer><|im_end|>", None, "Paris"),
        ("```python\nprint(2)\n```", "print(2)", None),
        ("```py\nprint(3)\n```\nthen", "print(3)", None),
        ("<python>\nprint(4)", "print(4)", None),                        # unclosed tag: the rest
        ("```python\nprint(5)\n", "print(5)", None),                      # unclosed fence
        ("<answer>Rome", None, "Rome"),                                   # unclosed answer
        ("<python>\n\n</python>", "", None),                              # empty cell
        ("```python\nprint(6)\n```\n<answer>6</answer>", "print(6)", "6"),  # cell and answer in one turn
        ("<answer>7</answer><python>print(7)</python>", "print(7)", "7"),
        ("<python>\nprint('<answer>x</answer>')\n</python>", "print('<answer>x</answer>')", None),
        ("no tags at all<|im_end|>", None, None),
        ("```\nplain fence is not python\n```", None, None),
        ("<python>a</python><python>b</python>", "a", None),              # first cell only
    ],
)
def test_cells_and_answers(text, cell, answer):
    parsed = parse_turn(text)
    assert parsed.cell == cell
    assert parsed.answer == answer


def test_thinking_is_removed_before_parsing():
    parsed = parse_turn("<think>\nmaybe <answer>wrong</answer>\n</think>\n\n<python>\nprint(1)\n</python>")
    assert parsed.cell == "print(1)" and parsed.answer is None
    assert parsed.thinking == "maybe <answer>wrong</answer>"
    unclosed = parse_turn("<think>\nI will write <python>print(2)</python> later")
    assert unclosed.cell is None and unclosed.thinking.startswith("I will write")
    opened_by_prompt = parse_turn("reasoning here\n</think>\n\n<answer>A</answer>")
    assert opened_by_prompt.answer == "A" and opened_by_prompt.thinking == "reasoning here"
    assert strip_thinking("a<think>x</think>b<think>y</think>c") == ("abc", "x\ny")


def test_empty_cell_flag():
    assert parse_turn("<python>  \n</python>").empty_cell
    assert not parse_turn("<python>1</python>").empty_cell
    assert not parse_turn("<answer>1</answer>").empty_cell


def test_prompt_texts():
    sys = system_prompt(3)
    for name in ("search_pages(query: str)", "view_sections(page_id: str)", "read_section(section_id: str)"):
        assert name in sys
    assert "You have 3 turns" in sys and "<python_output>" in sys and "<answer>" in sys
    messages = initial_messages("  Who?  ", 2)
    assert [m["role"] for m in messages] == ["system", "user"] and messages[1]["content"] == "Question: Who?"
    assert observation_text(ExecResult(stdout="hi\n")) == "<python_output>\nhi\n</python_output>"
    err = ExecResult(stdout="", error="NameError: x", status=ExecStatus.ERROR)
    assert observation_text(err) == "<python_output>\nNameError: x\n</python_output>"
    assert observation_text("") == "<python_output>\n(no output)\n</python_output>"
    assert "<answer>" in FINAL_TURN_TEXT
    with pytest.raises(ValueError):
        system_prompt(0)


@pytest.mark.parametrize("question", ['He said "hi" \\ bye', "Clio Torström's\nyear?", "  padded  ", "Who wrote 🎵 Ode?"])
def test_question_setup_cell_defines_the_question_exactly(question):
    env: dict = {}
    exec(question_setup_cell(question), {}, env)
    assert env == {"question": question.strip()}
    assert QUESTION_VARIABLE_TEXT in system_prompt(2, "compact", question_variable=True)
    assert QUESTION_VARIABLE_TEXT not in system_prompt(2, "compact")
