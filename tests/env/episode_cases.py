"""Fixed wiki-search episodes used to prove the environment refactor token-exact.

`record_cases` runs every case through `run_episode` and returns a JSON-able record per case:
the token ids, the loss mask, the prompt length, the turns' cells, the answer and the end
reason. `fixtures/wiki_search_episodes.json` was recorded from main's code before the
wiki-search task moved into `rlsys/env/` (b52c76a); `test_wiki_search_token_exact.py`
recomputes the cases with today's code and compares.
"""

from __future__ import annotations

from typing import Any

from rlsys.corpus.types import Question
from rlsys.rollout.episode import EpisodeLimits, run_episode

from tests.rollout.inprocess_executor import InProcessExecutor
from tests.rollout.scripted_engine import ScriptedEngine

Q = Question(id="q1", question="In which town was the founder of Velmora Teaworks born?", answer="Harrowmere")
Q2 = Question(id="q2", question="Who founded Velmora Teaworks? <|im_end|> tricky", answer="Ostrid Kael")
CELL = "<python>\nfor r in search_pages('Ostrid Kael'):\n    print(read_section(r['page_id'] + ':full'))\n</python>"
FENCED = "Let me look.\n```python\nprint(view_sections('velmora_teaworks'))\n```"
QVAR = "<python>\nprint(search_pages(question)[0]['title'], question)\n</python>"

# name -> (question, scripted replies, EpisodeLimits keywords)
SCRIPTED: dict[str, tuple[Question, list[str], dict[str, Any]]] = {
    "cell_answer": (Q, [CELL, "<answer>Harrowmere</answer>"], {"max_turns": 2}),
    "think_fenced_no_cell": (Q, ["<think>\nhmm\n</think>\n\n" + FENCED, "No idea.<|im_end|>", "<answer> Harrowmere </answer>"], {}),
    "max_turns": (Q, [CELL, CELL, "I do not know.<|im_end|>"], {}),
    "empty_cell": (Q, ["<python>\n\n</python>", "<answer>x</answer>"], {}),
    "error_cell": (Q, ["<python>\nprint(1/0)\n</python>", "<answer>x</answer>"], {"max_turns": 2}),
    "compact": (Q2, [CELL, "<answer>Ostrid Kael</answer>"], {"max_turns": 3, "prompt_style": "compact"}),
    "question_variable": (Q, [QVAR, "<answer>Velmora Teaworks</answer>"], {"max_turns": 2, "question_variable": True}),
    "budget": (Q, [CELL, CELL, CELL], {"max_episode_tokens": 520}),
    "answer_in_cell_output": (Q, ["<python>\nprint('<answer>no</answer>')\n</python>", "<answer>yes</answer>"], {}),
}
# (question, seed, temperature, EpisodeLimits keywords) of episodes sampled from the tiny model
SAMPLED: list[tuple[Question, int, float, dict[str, Any]]] = [
    (Q, 1, 1.0, {"max_turns": 3, "max_new_tokens": 24}),
    (Q, 2, 0.8, {"max_turns": 2, "max_new_tokens": 32, "prompt_style": "compact"}),
    (Q2, 3, 1.1, {"max_turns": 3, "max_new_tokens": 16, "question_variable": True}),
]


def limits(**kw: Any) -> EpisodeLimits:
    return EpisodeLimits(**{**dict(max_turns=3, max_new_tokens=200, max_episode_tokens=4096), **kw})


def record(traj: Any) -> dict[str, Any]:
    return {
        "token_ids": traj.token_ids, "loss_mask": traj.loss_mask, "prompt_len": traj.prompt_len,
        "cells": [t.cell for t in traj.turns], "answer": traj.answer, "end_reason": traj.end_reason.value,
        "observations": [None if t.result is None else t.result.observation() for t in traj.turns],
    }


async def run_case(name: str, tokenizer: Any, engine: Any = None, **episode: Any) -> dict[str, Any]:
    """One case by name: `scripted/<name>` or `sampled/<i>` (the latter on `engine`)."""
    kind, key = name.split("/")
    if kind == "scripted":
        question, replies, kw = SCRIPTED[key]
        traj = await run_episode(question, ScriptedEngine(tokenizer, list(replies)), tokenizer, InProcessExecutor(),
                                 limits(**kw), temperature=0.9, seed=5, episode_id=f"e-{key}", **episode)
    else:
        question, seed, temperature, kw = SAMPLED[int(key)]
        traj = await run_episode(question, engine, tokenizer, InProcessExecutor(), limits(**kw), temperature=temperature,
                                 seed=seed, episode_id=f"s-{key}", **episode)
    return record(traj)


CASES = [f"scripted/{k}" for k in SCRIPTED] + [f"sampled/{i}" for i in range(len(SAMPLED))]
