"""Misses and rescued searches, read from an episode's own tool outputs (never from the gold).

A cell turn *missed* when it searched (made at least one tool call: printing "not found" or
raising without searching is no miss, so the bonus cannot be had for free) and what it ran showed
it found nothing:

- `error`: the cell raised, timed out or was killed;
- `tool_error`: a tool answered with an `Error…` string, or the cell printed a line starting `Error`;
- `empty_search`: a search returned no pages (`[]`);
- `no_output`: the cell printed nothing;
- `said_not_found`: the cell printed that it found nothing (`not found`, `not in this section`, …);
- `read_without_fact`: the cell read sections, none of them held the episode's final answer, and a
  later cell printed it (a section read that did not contain what was printed next).

An episode *recovered* when a cell after its first miss printed the final answer (the answer
came from what the search found, not from a guess), and *retried* when any cell ran after its
first miss. The shaping term `judge.recovery_bonus` pays only a correct answer that recovered:
a lucky first guess (an answer no cell printed) and a first search that hit get nothing extra.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from typing import Any, Iterable

from rlsys.judge.types import Category, Verdict
from rlsys.rollout.types import Trajectory, Turn
from rlsys.sandbox.types import ExecStatus

NOT_FOUND_PHRASES = ("not found", "not in this section", "no match", "nothing found", "no results")


def _norm(text: str) -> str:
    text = unicodedata.normalize("NFKD", text or "")
    text = "".join(ch for ch in text if not unicodedata.combining(ch)).lower()
    return " ".join(re.sub(r"[^\w\s]", " ", text).split())


def _holds(text: str, answer: str) -> bool:
    needle = _norm(answer)
    return bool(needle) and re.search(rf"(?<!\w){re.escape(needle)}(?!\w)", _norm(text)) is not None


def _is_section_read(output: str) -> bool:
    head = output.lstrip()[:1]
    return bool(head) and head not in "[{" and not output.lstrip().startswith("Error")


def turn_miss(turn: Turn, answer: str | None, printed_later: bool) -> str | None:
    """The kind of miss of one cell turn (see the module docstring), or None. `printed_later`: a
    later cell printed the final answer `answer`."""
    r = turn.result
    if turn.cell is None or r is None or r.infra_failed or r.tool_calls < 1:
        return None
    if r.status is not ExecStatus.OK or r.error:
        return "error"
    stdout = r.stdout or ""
    if any(o.lstrip().startswith("Error") for o in r.tool_outputs) or any(
            line.lstrip().startswith("Error") for line in stdout.splitlines()):
        return "tool_error"
    if any(o.strip() == "[]" for o in r.tool_outputs):
        return "empty_search"
    if not stdout.strip():
        return "no_output"
    lowered = stdout.lower()
    if any(p in lowered for p in NOT_FOUND_PHRASES):
        return "said_not_found"
    reads = [o for o in r.tool_outputs if _is_section_read(o)]
    if answer and printed_later and reads and not any(_holds(o, answer) for o in reads) and not _holds(stdout, answer):
        return "read_without_fact"
    return None


@dataclass(frozen=True)
class SearchRecord:
    """What an episode's searches did: miss kinds per cell turn (None: no miss), and the outcome."""

    misses: tuple[str | None, ...]
    retried: bool    # a cell ran after the first miss
    recovered: bool  # a cell after the first miss printed the final answer

    @property
    def missed(self) -> bool:
        return any(m is not None for m in self.misses)


def search_record(traj: Trajectory) -> SearchRecord:
    """The `SearchRecord` of one episode, from its cells' outputs and its final answer."""
    cells = [t for t in traj.turns if t.cell is not None and t.result is not None]
    answer = (traj.answer or "").strip() or None
    printed = [bool(answer) and _holds(t.result.stdout, answer) for t in cells]
    misses = tuple(turn_miss(t, answer, any(printed[i + 1:])) for i, t in enumerate(cells))
    first = next((i for i, m in enumerate(misses) if m is not None), None)
    if first is None:
        return SearchRecord(misses, False, False)
    return SearchRecord(misses, retried=first + 1 < len(cells), recovered=any(printed[first + 1:]))


def rescued(traj: Trajectory, verdict: Verdict) -> bool:
    """A correct answer that a cell printed after an observed miss."""
    return verdict.category is Category.CORRECT and search_record(traj).recovered


def recovery_bonus(traj: Trajectory, verdict: Verdict, bonus: float) -> float:
    """The opt-in shaping term: `bonus` for a rescued search, else 0."""
    return float(bonus) if bonus > 0 and rescued(traj, verdict) else 0.0


def recovery_metrics(pairs: Iterable[tuple[Trajectory, Verdict]]) -> dict[str, Any]:
    """Per-step figures: `search_misses` (episodes with a miss), `search_recoveries` (of those, correct
    and recovered), `search_recovery_rate` (recoveries / misses, 0 without misses), `search_no_retry`
    (missed and ran no cell after)."""
    missed = recoveries = no_retry = 0
    for traj, verdict in pairs:
        record = search_record(traj)
        if not record.missed:
            continue
        missed += 1
        recoveries += verdict.category is Category.CORRECT and record.recovered
        no_retry += not record.retried
    return {"search_misses": missed, "search_recoveries": recoveries,
            "search_recovery_rate": recoveries / missed if missed else 0.0, "search_no_retry": no_retry}
