"""The rule judge: normalised answer matching plus an approach score from observable behaviour.

No model, no network: the CPU default and a cross-check next to an LLM judge.

Approach score (0..100), from what the trajectory shows:
- searched: the episode made at least one tool call                          +35
- grounded: the answer appears in the tool outputs / stdout the agent read   +35
- clean: no cell ended in an error, timeout or kill (only if it searched)    +15
- efficient: at most `efficient_tool_calls` tool calls (only if it searched) +15
An answer from memory with no search scores 0; a give-up cannot be grounded.
"""

from __future__ import annotations

import itertools
import re
from dataclasses import dataclass

from rlsys.judge.config import JudgeConfig
from rlsys.judge.matching import gives_up_as_a_whole, gold_aliases, match_answer
from rlsys.judge.normalization import normalize, normalize_tokens, strip_accents
from rlsys.judge.types import Category, Verdict
from rlsys.rollout.types import Trajectory
from rlsys.sandbox.types import ExecStatus

_FAILED = {ExecStatus.ERROR, ExecStatus.TIMEOUT, ExecStatus.KILLED, ExecStatus.INFRA_ERROR}
MAX_SCANNED_CHARS = 200_000  # of tool output per trajectory, for the grounding check


@dataclass
class Behaviour:
    """What a trajectory observably did."""

    cells: int
    tool_calls: int
    failed_cells: int
    grounded: bool

    def approach(self, efficient_tool_calls: int) -> float:
        if self.tool_calls == 0:
            return 0.0
        score = 35.0
        score += 35.0 if self.grounded else 0.0
        score += 15.0 if self.failed_cells == 0 else 0.0
        score += 15.0 if self.tool_calls <= efficient_tool_calls else 0.0
        return score

    def describe(self) -> str:
        return (
            f"{self.cells} cell(s), {self.tool_calls} tool call(s), {self.failed_cells} failed; "
            f"answer {'found' if self.grounded else 'not found'} in what it read"
        )


def _read_texts(traj: Trajectory) -> list[str]:
    texts: list[str] = []
    size = 0
    for turn in traj.turns:
        if turn.result is None:
            continue
        for text in [*turn.result.tool_outputs, turn.result.stdout]:
            if size >= MAX_SCANNED_CHARS:
                return texts
            texts.append(text[: MAX_SCANNED_CHARS - size])
            size += len(texts[-1])
    return texts


def _anchor(tokens: list[str]) -> str | None:
    """A raw-text fragment every phrasing of the answer is likely to contain: its longest word,
    else the year of a date, else the leading digits of a number."""
    words = [t for t in tokens if t.isalpha() and len(t) >= 2]
    if words:
        return max(words, key=len)
    for t in tokens:
        if t.startswith("date_"):
            return t[5:9]
        if t[:1].isdigit():
            return t.split(".")[0][:2]
    return None


def grounded_in(answer: str, texts: list[str], window: int = 240, max_windows: int = 128) -> bool:
    """Does the answer (normalised) appear in any of `texts`? Normalises only windows around
    occurrences of an anchor fragment, so page-sized outputs stay cheap."""
    tokens = normalize_tokens(answer)
    if not tokens:
        return False
    needle = f" {' '.join(tokens)} "
    anchor = _anchor(tokens)
    for text in texts:
        lowered = text.lower() if text.isascii() else strip_accents(text).lower()
        if anchor is None or len(lowered) <= 2 * window:  # short: normalise it whole
            if needle in f" {normalize(lowered, drop_asides=False)} ":
                return True
            continue
        starts = re.finditer(r"(?<![a-z0-9])" + re.escape(anchor), lowered)
        for start in itertools.islice((m.start() for m in starts), max_windows):
            piece = lowered[max(0, start - window) : start + len(anchor) + window]
            if needle in f" {normalize(piece, drop_asides=False)} ":
                return True
    return False


GROUNDED_MAX_TOKENS = 12  # a longer answer that is not correct is not looked for in what it read


def observe(traj: Trajectory, answer: str | None, matched: str | None = None) -> Behaviour:
    """Counts cells, tool calls and failures, and checks whether the answer was in what it read:
    `matched` (the gold alias a correct answer matched) where given — a sentence answer is not
    on the page word for word — else a short answer itself."""
    results = [t.result for t in traj.turns if t.result is not None]
    needle = matched or (answer if answer and len(answer.split()) <= GROUNDED_MAX_TOKENS else None)
    grounded = bool(needle) and not gives_up_as_a_whole(answer) and grounded_in(needle, _read_texts(traj))
    return Behaviour(
        cells=sum(1 for t in traj.turns if t.cell is not None),
        tool_calls=sum(r.tool_calls for r in results),
        failed_cells=sum(1 for r in results if r.status in _FAILED),
        grounded=grounded,
    )


class RuleJudge:
    """Judges by normalised matching against the gold answer (and its `|`-separated aliases);
    `unsure` where a rule cannot decide (see `matching.py`)."""

    def __init__(self, cfg: JudgeConfig | None = None):
        self.cfg = cfg or JudgeConfig()

    def judge(self, traj: Trajectory) -> Verdict:
        """The verdict on one trajectory (synchronous; `score` is the async batch interface)."""
        answer = traj.answer
        try:
            aliases = gold_aliases(traj.question.answer)
            if not aliases:
                raise ValueError("empty gold answer")
            m = match_answer(answer, aliases, self.cfg.f1_threshold, self.cfg.containment_min_ratio,
                             question=traj.question.question)
        except Exception as err:  # a bad record must not take the batch down
            return Verdict(Category.JUDGE_ERROR, 0.0, f"rule judge failed: {err}")
        behaviour = observe(traj, answer, m.alias if m.category == "correct" else None)
        approach = behaviour.approach(self.cfg.efficient_tool_calls)
        shown = "no answer" if answer is None else repr(answer[:200])
        rationale = f"{m.category} ({m.how}, f1={m.f1:.2f}) for {shown}; {behaviour.describe()}"
        return Verdict(Category(m.category), approach, rationale, missing_answer=answer is None)

    async def score(self, batch: list[Trajectory]) -> list[Verdict]:
        return [self.judge(traj) for traj in batch]
