"""A scripted expert searcher: SFT trajectories for the synthetic corpus.

For each question it writes one code cell that searches with the question text and reads the
section the answer lives in, RUNS that cell through a real sandbox (`CodeExecutor`) against the
real corpus service, and then answers. Only episodes whose printed output contains the gold
answer are kept (the reference SFT set was likewise filtered to correct trajectories).

The program shape is deliberately regular (search with the question, read one section chosen
by the kind of question, answer with a span of the output) so that a tiny model can learn it in
minutes; the reference set in `../shared/data/seed-sft` shows the free-form version.
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable

from rlsys.corpus.types import Question
from rlsys.rollout.prompts import final_turn_text, initial_messages, observation_text
from rlsys.sandbox.types import CodeExecutor, ExecStatus


def expert_cell(question: Question) -> str:
    """The expert's code cell: search with the question, print the gold section of the top hit."""
    if not question.section_id or ":" not in question.section_id:
        raise ValueError(f"question {question.id} has no gold section; the scripted expert needs one")
    section = question.section_id.split(":", 1)[1]
    query = question.question.replace("\\", "\\\\").replace('"', '\\"')
    return f'pages = search_pages("{query}")\nprint(read_section(pages[0]["page_id"] + ":{section}"))'


@dataclass
class ExpertEpisode:
    question: Question
    messages: list[dict[str, str]]
    kept: bool
    reason: str


async def run_expert_episode(
    question: Question, executor: CodeExecutor, max_turns: int = 2, prompt_style: str = "reference"
) -> ExpertEpisode:
    """One expert episode through the sandbox; `kept` when the output shows the gold answer."""
    episode_id = f"expert-{question.id}"
    cell = expert_cell(question)
    await executor.open(episode_id)
    try:
        result = await executor.run(episode_id, cell)
    finally:
        await executor.close(episode_id)
    messages = initial_messages(question.question, max_turns, prompt_style)
    messages.append({"role": "assistant", "content": f"<python>\n{cell}\n</python>"})
    messages.append({"role": "user", "content": observation_text(result)})
    if max_turns == 2:
        messages.append({"role": "user", "content": final_turn_text()})
    messages.append({"role": "assistant", "content": f"<answer>{question.answer}</answer>"})
    if result.status is not ExecStatus.OK:
        return ExpertEpisode(question, messages, False, f"cell {result.status.value}: {result.error}")
    if question.answer.lower() not in result.stdout.lower():
        return ExpertEpisode(question, messages, False, "gold answer not in the output (search missed)")
    return ExpertEpisode(question, messages, True, "ok")


async def generate_expert_trajectories(
    questions: Iterable[Question], executor: CodeExecutor, max_turns: int = 2, concurrency: int = 8, progress=None,
    prompt_style: str = "reference",
) -> list[ExpertEpisode]:
    """Runs the expert on every question (bounded concurrency); returns all episodes in order."""
    questions = list(questions)
    gate = asyncio.Semaphore(concurrency)

    async def one(q: Question) -> ExpertEpisode:
        async with gate:
            episode = await run_expert_episode(q, executor, max_turns, prompt_style)
        if progress is not None:
            progress()
        return episode

    return list(await asyncio.gather(*(one(q) for q in questions)))


def write_reference_format(episodes: Iterable[ExpertEpisode], out_dir: str | Path) -> int:
    """Writes kept episodes as `traj_NNNN.json` `{"messages": …}` files (the reference SFT format)."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    manifest = []
    count = 0
    for episode in episodes:
        if not episode.kept:
            continue
        name = f"traj_{count:04d}.json"
        (out / name).write_text(json.dumps({"messages": episode.messages}, ensure_ascii=False, indent=1))
        manifest.append({"file": name, "question": episode.question.question, "answer": episode.question.answer})
        count += 1
    (out / "manifest.json").write_text(json.dumps(manifest, ensure_ascii=False, indent=1))
    return count
