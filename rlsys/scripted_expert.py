"""A scripted expert searcher: SFT trajectories for the synthetic corpus.

For each question it writes one code cell that searches with the question text and extracts the
answer from the section it lives in, RUNS that cell through a real sandbox (`CodeExecutor`)
against the real corpus service, and then answers with what the cell printed. Only episodes whose
printed output shows the gold answer are kept (the reference SFT set was likewise filtered to
correct trajectories).

The program shape is deliberately regular so that a tiny model can learn it in minutes:

    pages = search_pages("<the question, copied>")
    text = read_section(pages[0]["page_id"] + ":<section for this kind of question>")
    print(text.split("<words before the fact>")[1].split("<character after it>")[0])

so the cell is a template with one copied slot, two choices that follow from the kind of
question, and the answer is a copy of the whole output. With `rollout.question_variable` the
sandbox defines `question` and the search is `search_pages(question)`: nothing to copy into code.
"Which X is married to Y?" questions, whose answer is the page itself, print `pages[0]["title"]`. Where no cue isolates the answer the
cell prints the whole section. The reference set in `../shared/data/seed-sft` shows the free-form
version. With `sft.recovery_share` > 0 a share of the questions gets a back-tracking episode
instead (a first cell that misses, then this one; `scripted_recovery.py`).
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable

from rlsys.corpus.types import Question
from rlsys.rollout.episode import run_setup_cell
from rlsys.rollout.prompts import final_turn_text, initial_messages, observation_text, question_setup_cell
from rlsys.sandbox.types import CodeExecutor, ExecResult, ExecStatus

MAX_CUE_WORDS = 3


def _quoted(text: str) -> str:
    return text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def answer_bounds(section_text: str, answer: str) -> tuple[str, str] | None:
    """(cue, stop) with `section_text.split(cue)[1].split(stop)[0] == answer`, or None.

    The cue is the shortest run of up to three words right before the answer's first occurrence
    that holds no digits or capitals (so it is the same for every page of a kind: "born in ",
    " in [", " married "); the stop is the character right after the answer."""
    at = section_text.find(answer)
    if at <= 0 or at + len(answer) >= len(section_text):
        return None
    stop = section_text[at + len(answer)]
    if stop in answer:
        return None
    start = at
    for _ in range(MAX_CUE_WORDS):
        space = section_text.rfind(" ", 0, max(0, start - 1))
        if space < 0 or "\n" in section_text[space:at]:
            return None
        start = space
        cue = section_text[start:at]
        if any(ch.isdigit() or ch.isupper() for ch in cue):
            return None
        parts = section_text.split(cue)
        if len(parts) > 1 and parts[1].split(stop)[0] == answer:
            return cue, stop
    return None


def expert_cell(
    question: Question, section_text: str | None = None, answer_is_title: bool = False, question_variable: bool = False
) -> str:
    """The expert's code cell (see the module docstring); with `question_variable` it searches with
    the sandbox's `question` variable instead of a copy of the question."""
    if not question.section_id or ":" not in question.section_id:
        raise ValueError(f"question {question.id} has no gold section; the scripted expert needs one")
    query = "question" if question_variable else f'"{_quoted(question.question)}"'
    search = f"pages = search_pages({query})\n"
    if answer_is_title:
        return search + 'print(pages[0]["title"])'
    read = f'text = read_section(pages[0]["page_id"] + ":{question.section_id.split(":", 1)[1]}")\n'
    bounds = answer_bounds(section_text, question.answer) if section_text else None
    if bounds is None:
        return search + read + "print(text)"
    cue, stop = bounds
    return search + read + f'print(text.split("{_quoted(cue)}")[1].split("{_quoted(stop)}")[0])'


@dataclass
class ExpertEpisode:
    question: Question
    messages: list[dict[str, str]]
    kept: bool
    reason: str
    recovery: str | None = None  # the kind of miss of a back-tracking episode (scripted_recovery.py)


def episode_messages(
    question: Question, cells: list[str], results: list[ExecResult], max_turns: int, prompt_style: str,
    question_variable: bool,
) -> list[dict[str, str]]:
    """The chat messages of an expert episode: each cell and its output, the final-turn message
    where a rollout sends it (before the last assistant turn), then the gold answer."""
    if len(cells) + 1 > max_turns:
        raise ValueError(f"{len(cells)} cells and an answer need max_turns >= {len(cells) + 1}, got {max_turns}")
    messages = initial_messages(question.question, max_turns, prompt_style, question_variable)
    for index, (cell, result) in enumerate(zip(cells, results)):
        messages.append({"role": "assistant", "content": f"<python>\n{cell}\n</python>"})
        messages.append({"role": "user", "content": observation_text(result)})
        if index + 1 == max_turns - 1:
            messages.append({"role": "user", "content": final_turn_text()})
    messages.append({"role": "assistant", "content": f"<answer>{question.answer}</answer>"})
    return messages


async def run_cells(
    question: Question, executor: CodeExecutor, episode_id: str, cells: list[str], question_variable: bool,
) -> list[ExecResult]:
    """Runs `cells` in one sandbox session (after the `question` setup cell where asked); a setup
    failure or a failed cell ends the episode: later cells get that error."""
    results: list[ExecResult] = []
    await executor.open(episode_id)
    try:
        if question_variable:
            await run_setup_cell(executor, episode_id, question_setup_cell(question.question))
        for cell in cells:
            result = await executor.run(episode_id, cell)
            results.append(result)
            if result.status is not ExecStatus.OK:
                break
    except RuntimeError as err:  # the setup cell failed: this episode is dropped, not the batch
        results.append(ExecResult(error=str(err), status=ExecStatus.ERROR))
    finally:
        await executor.close(episode_id)
    return results + [results[-1]] * (len(cells) - len(results))


async def run_expert_episode(
    question: Question, executor: CodeExecutor, max_turns: int = 2, prompt_style: str = "reference",
    title: str | None = None, section_text: str | None = None, question_variable: bool = False,
) -> ExpertEpisode:
    """One expert episode through the sandbox; `kept` when the output shows the gold answer.
    `title`/`section_text` (the gold page's title and section, read host-side) let the expert
    write the extracting cell."""
    cell = expert_cell(question, section_text, title is not None and title == question.answer, question_variable)
    (result,) = await run_cells(question, executor, f"expert-{question.id}", [cell], question_variable)
    messages = episode_messages(question, [cell], [result], max_turns, prompt_style, question_variable)
    if result.status is not ExecStatus.OK:
        return ExpertEpisode(question, messages, False, f"cell {result.status.value}: {result.error}")
    if question.answer.lower() not in result.stdout.lower():
        return ExpertEpisode(question, messages, False, "gold answer not in the output (search missed)")
    return ExpertEpisode(question, messages, True, "ok")


async def generate_expert_trajectories(
    questions: Iterable[Question], executor: CodeExecutor, max_turns: int = 2, concurrency: int = 8, progress=None,
    prompt_style: str = "reference", corpus=None, question_variable: bool = False, recovery_share: float = 0.0,
) -> list[ExpertEpisode]:
    """Runs the expert on every question (bounded concurrency); returns all episodes in order.
    `corpus` (a `CorpusService`) gives the expert its privileged view of the gold page.
    `recovery_share` (0..1, needs `corpus` and `max_turns >= 3`): the share of questions, chosen by
    a stable hash of their id, answered by a back-tracking episode (see `scripted_recovery.py`)."""
    from rlsys.scripted_recovery import chosen_for_recovery, run_recovery_episode

    if not 0.0 <= recovery_share <= 1.0:
        raise ValueError(f"recovery_share must be in [0, 1], got {recovery_share}")
    if recovery_share > 0 and (corpus is None or max_turns < 3):
        raise ValueError("recovery episodes (recovery_share > 0) need the corpus service and max_turns >= 3 "
                         f"(two cells and an answer); got max_turns={max_turns}, corpus={corpus is not None}")
    questions = list(questions)
    gate = asyncio.Semaphore(concurrency)

    async def one(q: Question) -> ExpertEpisode:
        async with gate:
            title = section_text = None
            if corpus is not None and q.page_id and q.section_id:
                page = corpus.read_section(f"{q.page_id}:full")
                title = page.split("\n", 1)[0].lstrip("#").strip() if page.startswith("#") else None
                section_text = corpus.read_section(q.section_id)
            episode = None
            if title is not None and chosen_for_recovery(q.id, recovery_share):
                episode = await run_recovery_episode(q, executor, corpus, title, section_text, max_turns,
                                                     prompt_style, question_variable)
            if episode is None:  # not chosen, or no first cell of either kind missed
                episode = await run_expert_episode(q, executor, max_turns, prompt_style, title, section_text,
                                                   question_variable)
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
        manifest.append({"file": name, "question": episode.question.question, "answer": episode.question.answer,
                         "recovery": episode.recovery})
        count += 1
    (out / "manifest.json").write_text(json.dumps(manifest, ensure_ascii=False, indent=1))
    return count
