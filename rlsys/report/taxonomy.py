"""Failure taxonomy: one label per judged episode, saying why it was (not) correct.

Labels, checked in this order (the first that applies wins):

- `infra_error`: the episode or the judge failed on our side (sandbox/engine crash, judge
  error); excluded from accuracy.
- `correct`: the judge accepted the answer.
- `interface_misuse`: the model never made a working tool call *and* misused the interface:
  wrote no code cell at all, had a cell raise (unknown function names, bad arguments), or
  wrote a turn with neither a cell nor an answer (nothing parseable).
- `silent_execution`: cells ran, but none printed anything, so the model only ever saw
  "(no output)".
- `gave_up`: no answer (ran out of turns or budget) or an explicit give-up.
- `wrong_answer_gold_visible`: a wrong answer although the gold answer appeared in what its
  cells printed or in the tool results they received.
- `wrong_answer_never_found`: a wrong answer and the gold answer never appeared.

Next to these, `search_class` puts an episode whose search missed (see
`rlsys/judge/search_recovery.py`: an error, an empty search, no output, "not found", a section read
without the answer) in one of `SEARCH_CLASSES`, counted as extra columns of the report:

- `missed_then_recovered`: a correct answer that a cell printed after the first miss;
- `missed_never_retried`: no cell ran after the first miss (the episode answered or stopped).

Missed episodes that retried without recovering, and episodes that never missed, have neither.
"""

from __future__ import annotations

import re
import unicodedata

from rlsys.judge.search_recovery import search_record
from rlsys.judge.types import Category, Verdict
from rlsys.rollout.types import EndReason, Trajectory
from rlsys.sandbox.types import ExecStatus

FAILURE_CLASSES = (
    "correct",
    "interface_misuse",
    "silent_execution",
    "gave_up",
    "wrong_answer_gold_visible",
    "wrong_answer_never_found",
    "infra_error",
)

SEARCH_CLASSES = ("missed_then_recovered", "missed_never_retried")


def normalise(text: str) -> str:
    """Lowercase, strip accents and punctuation, collapse whitespace (for gold matching)."""
    text = unicodedata.normalize("NFKD", text)
    text = "".join(ch for ch in text if not unicodedata.combining(ch)).lower()
    text = re.sub(r"[^\w\s]", " ", text)
    return " ".join(text.split())


def gold_visible(gold: str, texts: list[str]) -> bool:
    """Whether the normalised gold answer occurs as whole words in any of `texts`."""
    needle = normalise(gold)
    if not needle:
        return False
    pattern = re.compile(rf"(?<!\w){re.escape(needle)}(?!\w)")
    return any(pattern.search(normalise(t)) for t in texts if t)


def _seen_texts(traj: Trajectory) -> list[str]:
    texts: list[str] = []
    for turn in traj.turns:
        if turn.result is not None:
            texts.append(turn.result.stdout)
            texts.extend(turn.result.tool_outputs)
    return texts


def _misused_interface(traj: Trajectory) -> bool:
    results = [t.result for t in traj.turns if t.cell is not None and t.result is not None]
    if sum(r.tool_calls for r in results) > 0:
        return False
    if not any(t.cell for t in traj.turns):
        return True  # never wrote code
    if any(r.status in (ExecStatus.ERROR, ExecStatus.TIMEOUT, ExecStatus.KILLED) for r in results):
        return True  # its code failed before any tool call worked
    unparseable = [t for t in traj.turns if t.cell is None and "<answer>" not in t.text]
    return bool(unparseable) and traj.answer is None


def classify_failure(traj: Trajectory, verdict: Verdict) -> str:
    """The taxonomy label of one judged episode (see the module docstring)."""
    infra = (
        traj.end_reason is EndReason.INFRA_ERROR
        or traj.failure is not None
        or verdict.category is Category.JUDGE_ERROR
        or any(t.result is not None and t.result.infra_failed for t in traj.turns)
    )
    if infra:
        return "infra_error"
    if verdict.category is Category.CORRECT:
        return "correct"
    if _misused_interface(traj):
        return "interface_misuse"
    ran = [t.result for t in traj.turns if t.cell is not None and t.result is not None]
    if any(r.status is ExecStatus.OK for r in ran) and not any(r.stdout.strip() for r in ran):
        return "silent_execution"
    if verdict.category is Category.GAVE_UP or not (traj.answer or "").strip():
        return "gave_up"
    if gold_visible(traj.question.answer, _seen_texts(traj)):
        return "wrong_answer_gold_visible"
    return "wrong_answer_never_found"


def search_class(traj: Trajectory, verdict: Verdict) -> str | None:
    """`missed_then_recovered`, `missed_never_retried` or None (see the module docstring); None for
    infra and judge errors."""
    if classify_failure(traj, verdict) == "infra_error":
        return None
    record = search_record(traj)
    if not record.missed:
        return None
    if verdict.category is Category.CORRECT and record.recovered:
        return "missed_then_recovered"
    return None if record.retried else "missed_never_retried"
