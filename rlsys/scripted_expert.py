"""A scripted expert searcher: SFT trajectories for the synthetic corpus.

For each question it writes one code cell that searches with the question text and reads the
section the answer lives in, RUNS that cell through a real sandbox (`CodeExecutor`) against the
real corpus service, and then answers. Only episodes whose printed output contains the gold
answer are kept (the reference SFT set was likewise filtered to correct trajectories).

The program shape is deliberately regular so that a tiny model can learn it in minutes: search
with the entity's name (a short copy from the question), read the section chosen by the kind of
question, and print a short window that starts at the words which precede the fact in the text
("born in", "married", "founded in", ...), so the answer is a copy of the start of the output.
Where that is not possible (the name is not in the question, the fact is not found) the cell
searches with the whole question and prints the section. The reference set in
`../shared/data/seed-sft` shows the free-form version.
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


WINDOW_CHARS = 48


def _quoted(text: str) -> str:
    return text.replace("\\", "\\\\").replace('"', '\\"')


def cue_before(section_text: str, answer: str) -> str | None:
    """Up to two words right before the answer's first occurrence, leaving out words with digits
    or capitals (years, names), e.g. "born in", "in [", "married"; None when there is none."""
    at = section_text.find(answer)
    if at <= 0:
        return None
    words = section_text[max(0, at - 30) : at].split(" ")[-3:]
    while words and (any(ch.isdigit() for ch in words[0]) or words[0][:1].isupper() or not words[0].strip()):
        words = words[1:]
    cue = " ".join(words)
    return cue if cue.strip() and section_text.find(cue) == section_text.find(cue + answer[:1]) else None


def expert_cell(question: Question, title: str | None = None, section_text: str | None = None) -> str:
    """The expert's code cell (see the module docstring)."""
    if not question.section_id or ":" not in question.section_id:
        raise ValueError(f"question {question.id} has no gold section; the scripted expert needs one")
    section = question.section_id.split(":", 1)[1]
    cue = cue_before(section_text, question.answer) if section_text else None
    if title and title in question.question and cue:
        return (
            f'pages = search_pages("{_quoted(title)}")\n'
            f'text = read_section(pages[0]["page_id"] + ":{section}")\n'
            f'i = text.find("{_quoted(cue)}")\n'
            f"print(text[i:i + {WINDOW_CHARS}])"
        )
    return f'pages = search_pages("{_quoted(question.question)}")\nprint(read_section(pages[0]["page_id"] + ":{section}"))'


@dataclass
class ExpertEpisode:
    question: Question
    messages: list[dict[str, str]]
    kept: bool
    reason: str


async def run_expert_episode(
    question: Question, executor: CodeExecutor, max_turns: int = 2, prompt_style: str = "reference",
    title: str | None = None, section_text: str | None = None,
) -> ExpertEpisode:
    """One expert episode through the sandbox; `kept` when the output shows the gold answer.
    `title`/`section_text` (the gold page's title and section, read host-side) let the expert
    write the short-copy cell."""
    episode_id = f"expert-{question.id}"
    cell = expert_cell(question, title, section_text)
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
    prompt_style: str = "reference", corpus=None,
) -> list[ExpertEpisode]:
    """Runs the expert on every question (bounded concurrency); returns all episodes in order.
    `corpus` (a `CorpusService`) gives the expert its privileged view of the gold page."""
    questions = list(questions)
    gate = asyncio.Semaphore(concurrency)

    async def one(q: Question) -> ExpertEpisode:
        async with gate:
            title = section_text = None
            if corpus is not None and q.page_id and q.section_id:
                page = corpus.read_section(f"{q.page_id}:full")
                title = page.split("\n", 1)[0].lstrip("#").strip() if page.startswith("#") else None
                section_text = corpus.read_section(q.section_id)
            episode = await run_expert_episode(q, executor, max_turns, prompt_style, title, section_text)
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
