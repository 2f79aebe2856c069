"""The prompt protocol: system prompt, question message, observation and final-turn messages.

The protocol is the reference one (see `../shared/data/seed-sft`): the model writes code in
`<python>…</python>`, the cell's output comes back as a *user* message
`<python_output>\\n…\\n</python_output>`, and the final answer goes in `<answer>…</answer>`.
Before the last assistant turn a separate user message asks for the answer now.

Message texts are built here and only here, so SFT data (the lead's scripted expert) and
rollouts use byte-identical prompts. Token-level framing (ChatML) is in `chat_format.py`.
"""

from __future__ import annotations

from typing import Any

from rlsys.sandbox.types import ExecResult

__all__ = [
    "SYSTEM_TEMPLATE",
    "FINAL_TURN_TEXT",
    "NO_CELL_TEXT",
    "system_prompt",
    "question_text",
    "initial_messages",
    "observation_text",
    "final_turn_text",
    "prompt_corpus_text",
    "QUESTION_VARIABLE_TEXT",
    "question_setup_cell",
]

SYSTEM_TEMPLATE = """Answer questions using Python code to search Wikipedia.

You have {max_turns} turns. Write code in <python> tags, final answer in <answer> tags.

FUNCTIONS:
- search_pages(query: str) -> list[dict] with {{page_id, title, score}} (top 10 pages)
- view_sections(page_id: str) -> list[dict] with {{section_id, section_name, level}}
- read_section(section_id: str) -> str  (use "page_id:full" for the entire page)

Also available: re, json, string, Counter, defaultdict.

STRATEGY:
1. One script per turn - do as much as you can in it
2. Check more than one page or section before you answer
3. Print what you find; only printed output comes back to you

EXAMPLE:

Question: In which city was the founder of Velmora Teaworks born?

<python>
for r in search_pages("Velmora Teaworks founder")[:3]:
    print(r['page_id'], r['title'])
    for s in view_sections(r['page_id']):
        if 'history' in s['section_name'].lower():
            print(read_section(s['section_id'])[:400])
</python>
<python_output>
velmora_teaworks Velmora Teaworks
Velmora Teaworks was founded in 1871 by Ostrid Kael, born in Harrowmere.
</python_output>

<answer>Harrowmere</answer>

RULES:
1. If search returns nothing useful, try different keywords
2. Use view_sections() to find specific sections in large pages
3. You MUST give <answer> by turn {max_turns} - a partial answer beats no answer
4. If you cannot find the answer, output exactly: <answer>Answer not found</answer>
5. Extract from content only - never make up facts"""

FINAL_TURN_TEXT = (
    "[FINAL TURN] You MUST provide your answer NOW using <answer>your answer</answer>. "
    "A partial or uncertain answer is better than no answer."
)

NO_CELL_TEXT = (
    "No code found. Write code in <python></python> tags, or give the final answer "
    "in <answer></answer> tags."
)


COMPACT_SYSTEM_TEMPLATE = """Answer the question with Python code that searches Wikipedia, then answer.

FUNCTIONS:
- search_pages(query: str) -> list[dict] with {{page_id, title, score}}
- view_sections(page_id: str) -> list[dict] with {{section_id, section_name, level}}
- read_section(section_id: str) -> str  ("page_id:full" is the whole page)

Write code in <python> tags and the final answer in <answer> tags. You have {max_turns} turns."""

QUESTION_VARIABLE_TEXT = "The variable `question` holds the question text."

PROMPT_STYLES = {"reference": SYSTEM_TEMPLATE, "compact": COMPACT_SYSTEM_TEMPLATE}


def system_prompt(max_turns: int, style: str = "reference", question_variable: bool = False) -> str:
    """The system prompt: `reference` lists the three functions with signatures, a worked example
    and the rules; `compact` only the functions and the protocol (a quarter of the tokens, for
    tiny models whose cost is dominated by the prompt). `question_variable` adds a line saying
    that the sandbox defines `question` (see `question_setup_cell`)."""
    if max_turns < 1:
        raise ValueError(f"max_turns must be >= 1, got {max_turns}")
    if style not in PROMPT_STYLES:
        raise ValueError(f"unknown system prompt style {style!r}; choose one of {', '.join(PROMPT_STYLES)}")
    text = PROMPT_STYLES[style].format(max_turns=max_turns)
    return f"{text}\n\n{QUESTION_VARIABLE_TEXT}" if question_variable else text


def question_text(question: str) -> str:
    """The first user message."""
    return f"Question: {question.strip()}"


def question_setup_cell(question: str) -> str:
    """The code run in an episode's sandbox before its first cell when `rollout.question_variable`
    is on: it defines `question`. `repr` of a str is a Python literal of exactly that string (a JSON
    literal is not: it writes characters outside the BMP as surrogate pairs)."""
    return f"question = {question.strip()!r}"


def initial_messages(
    question: str, max_turns: int, style: str = "reference", question_variable: bool = False
) -> list[dict[str, str]]:
    """`[system, user]` chat messages that open an episode."""
    return [
        {"role": "system", "content": system_prompt(max_turns, style, question_variable)},
        {"role": "user", "content": question_text(question)},
    ]


def observation_text(result: ExecResult | str) -> str:
    """The user message that returns a cell's output: `<python_output>\\n…\\n</python_output>`."""
    body = result.observation() if isinstance(result, ExecResult) else (result.rstrip("\n") or "(no output)")
    return f"<python_output>\n{body}\n</python_output>"


def final_turn_text() -> str:
    """The user message sent before the last assistant turn."""
    return FINAL_TURN_TEXT


def prompt_corpus_text() -> list[str]:
    """Every fixed prompt text, e.g. to train a tokenizer that knows the protocol."""
    texts: list[Any] = [system_prompt(n) for n in (1, 2, 3, 4)]
    texts += [QUESTION_VARIABLE_TEXT, question_setup_cell("What is it?"), FINAL_TURN_TEXT, NO_CELL_TEXT, observation_text("(no output)"), question_text("What is it?")]
    return [str(t) for t in texts]
