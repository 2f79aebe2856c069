"""Scripted expert episodes that back-track: the first cell misses, the second finds the answer.

A share of the SFT questions (`sft.recovery_share`) is answered by a two-cell episode whose first
cell misses in a way its real output shows, run through the real sandbox and corpus service:

- `vague_query`: the first cell searches with the question stripped of its names and numbers
  ("What is the birth year of the sculptor") and prints the top titles; none of them is the page
  asked about;
- `wrong_section`: the first cell reads a section of the right page that does not hold the fact;
  it prints `not in this section` when the words before the fact are missing (or the section
  itself, where no such words isolate the fact).

The second cell is the plain expert cell (the whole question, the right section), after a comment
saying why it searches again. An episode is kept only when the first output really missed (no
gold answer, and for `vague_query` no gold title in it) and the second shows the gold answer.
Where neither kind can miss for a question, the plain one-cell episode is used instead.
"""

from __future__ import annotations

import hashlib

from rlsys.corpus.types import Question
from rlsys.sandbox.types import CodeExecutor, ExecStatus
from rlsys.scripted_expert import (
    ExpertEpisode,
    _quoted,
    answer_bounds,
    episode_messages,
    expert_cell,
    run_cells,
)

MISS_KINDS = ("vague_query", "wrong_section")
VAGUE_TITLES = 3
NOT_IN_SECTION = "not in this section"
SKIPPED_SECTIONS = ("see_also", "references", "external_links")


def chosen_for_recovery(question_id: str, share: float) -> bool:
    """Whether a question gets a back-tracking episode: a stable hash of its id below `share`."""
    if share <= 0:
        return False
    digest = int(hashlib.sha256(question_id.encode("utf-8")).hexdigest()[:8], 16)
    return digest < share * 0x1_0000_0000


def vague_query(question: str) -> str | None:
    """The question without its names and numbers (words with a capital after the first, or a
    digit); None when that leaves it unchanged or empty."""
    words = question.strip().rstrip("?").split()
    kept = [w for i, w in enumerate(words)
            if not any(ch.isdigit() for ch in w) and (i == 0 or not w.lstrip("\"'(").lstrip()[:1].isupper())]
    query = " ".join(kept).strip(" ,;:")
    return query if query and len(kept) < len(words) else None


def vague_query_cell(query: str) -> str:
    return f'for page in search_pages("{_quoted(query)}")[:{VAGUE_TITLES}]:\n    print(page["title"])'


def wrong_section_cell(question: Question, slug: str, cue_stop: tuple[str, str] | None, question_variable: bool) -> str:
    query = "question" if question_variable else f'"{_quoted(question.question)}"'
    cell = f'pages = search_pages({query})\ntext = read_section(pages[0]["page_id"] + ":{slug}")\n'
    if cue_stop is None:
        return cell + "print(text)"
    cue, stop = (_quoted(x) for x in cue_stop)
    return cell + f'print(text.split("{cue}")[1].split("{stop}")[0] if "{cue}" in text else "{NOT_IN_SECTION}")'


def wrong_section(corpus, question: Question, cue: str | None) -> str | None:
    """The slug of the first section of the gold page (below the title) that is not the gold
    section and holds neither the gold answer nor the cue; None when there is none."""
    sections = corpus.view_sections(question.page_id)
    if isinstance(sections, str):
        return None
    for s in sections:
        sid = s["section_id"]
        slug = sid.split(":", 1)[1]
        if s.get("level", 2) < 2 or sid == question.section_id or slug in SKIPPED_SECTIONS:
            continue
        text = corpus.read_section(sid).lower()
        if question.answer.lower() not in text and (cue is None or cue.lower() not in text):
            return slug
    return None


def first_cell(kind: str, corpus, question: Question, section_text: str | None, question_variable: bool
               ) -> tuple[str, str] | None:
    """(missing cell, comment opening the second cell) of one kind; None when it cannot miss."""
    if kind == "vague_query":
        query = vague_query(question.question)
        if query is None:
            return None
        return vague_query_cell(query), "# no title is the page asked about: search with the whole question"
    bounds = answer_bounds(section_text, question.answer) if section_text else None
    slug = wrong_section(corpus, question, bounds[0] if bounds else None)
    if slug is None:
        return None
    right = question.section_id.split(":", 1)[1]
    return wrong_section_cell(question, slug, bounds, question_variable), f'# not in "{slug}": read "{right}"'


async def run_recovery_episode(
    question: Question, executor: CodeExecutor, corpus, title: str, section_text: str | None, max_turns: int,
    prompt_style: str = "reference", question_variable: bool = False,
) -> ExpertEpisode | None:
    """A back-tracking episode through the sandbox (kinds tried in an order set by the question's
    hash); None when no first cell of either kind missed."""
    order = MISS_KINDS if int(hashlib.sha256(question.id.encode()).hexdigest()[-1], 16) % 2 == 0 else MISS_KINDS[::-1]
    second = expert_cell(question, section_text, title == question.answer, question_variable)
    for kind in order:
        made = first_cell(kind, corpus, question, section_text, question_variable)
        if made is None:
            continue
        miss, comment = made
        cells = [miss, f"{comment}\n{second}"]
        r1, r2 = await run_cells(question, executor, f"expert-{kind}-{question.id}", cells, question_variable)
        seen = r1.stdout.lower()
        if r1.status is ExecStatus.OK and (question.answer.lower() in seen or (kind == "vague_query" and title.lower() in seen)):
            continue  # the first cell found it after all: not a miss
        messages = episode_messages(question, cells, [r1, r2], max_turns, prompt_style, question_variable)
        if r1.status is not ExecStatus.OK or r2.status is not ExecStatus.OK:
            bad = r1 if r1.status is not ExecStatus.OK else r2
            return ExpertEpisode(question, messages, False, f"cell {bad.status.value}: {bad.error}", kind)
        if question.answer.lower() not in r2.stdout.lower():
            return ExpertEpisode(question, messages, False, "gold answer not in the output (search missed)", kind)
        return ExpertEpisode(question, messages, True, "ok", kind)
    return None
