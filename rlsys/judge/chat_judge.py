"""What the LLM and HTTP judges share: rubric in, reply parsed, one repair retry, then
`judge_error` — a failed judge never turns into an "incorrect" verdict."""

from __future__ import annotations

import asyncio
import logging
from collections import Counter
from typing import Callable

from rlsys.judge.config import JudgeConfig
from rlsys.judge.parsing import VerdictParseError, parse_verdict, strip_thinking
from rlsys.judge.rubric import repair_messages, rubric_messages
from rlsys.judge.types import Category, Verdict
from rlsys.rollout.types import Trajectory

log = logging.getLogger(__name__)
Messages = list[dict[str, str]]


class JudgeRequestError(RuntimeError):
    """The judge could not be asked (endpoint down, engine failure): the verdict is `judge_error`."""


class ChatJudge:
    """Base of judges that ask a chat model; subclasses implement `complete(messages) -> str`."""

    def __init__(self, cfg: JudgeConfig | None = None, concurrency: int = 16):
        self.cfg = cfg or JudgeConfig()
        self.concurrency = max(1, concurrency)
        self.stats: Counter[str] = Counter()
        # the trajectory as the judge reads it: the environment's `judge_view` (set by build_judge)
        self.view: Callable[[Trajectory, int, int], str] | None = None  # requests, parse_failures, repairs, judge_errors, request_errors
        self._gate: asyncio.Semaphore | None = None
        self._gate_loop: asyncio.AbstractEventLoop | None = None

    def gate(self) -> asyncio.Semaphore:
        """The concurrency limit shared by every `score` call on this event loop."""
        loop = asyncio.get_running_loop()
        if self._gate is None or self._gate_loop is not loop:
            self._gate, self._gate_loop = asyncio.Semaphore(self.concurrency), loop
        return self._gate

    async def complete(self, messages: Messages) -> str:
        raise NotImplementedError

    def messages_for(self, traj: Trajectory) -> Messages:
        return rubric_messages(traj, self.cfg.max_cell_chars, self.cfg.max_trajectory_chars, self.view)

    async def judge(self, traj: Trajectory) -> Verdict:
        """One verdict: ask, parse; on an unparseable reply ask again (`parse_retries` times)
        with the bad reply and a repair instruction; then give `judge_error`."""
        verdict = await self._judge(traj)
        verdict.missing_answer = traj.answer is None
        return verdict

    async def _judge(self, traj: Trajectory) -> Verdict:
        base = self.messages_for(traj)
        messages = base
        reply, reason = "", ""
        for attempt in range(1 + max(0, self.cfg.parse_retries)):
            self.stats["requests"] += 1
            try:
                reply = await self.complete(messages)
            except Exception as err:  # transport / engine failure, already retried below us
                self.stats["request_errors"] += 1
                self.stats["judge_errors"] += 1
                log.warning("judge request failed for %s: %s", traj.episode_id, err)
                return Verdict(Category.JUDGE_ERROR, 0.0, f"judge request failed: {err}", reply)
            try:
                return parse_verdict(reply, self.cfg.default_approach)
            except VerdictParseError as err:
                self.stats["parse_failures"] += 1
                reason = str(err)
                if attempt < self.cfg.parse_retries:
                    self.stats["repairs"] += 1
                    messages = repair_messages(base, strip_thinking(reply))
        self.stats["judge_errors"] += 1
        log.warning("judge reply unparseable for %s: %s", traj.episode_id, reason)
        attempts = 1 + max(0, self.cfg.parse_retries)
        return Verdict(Category.JUDGE_ERROR, 0.0, f"unparseable after {attempts} attempt(s): {reason}", reply)

    async def score(self, batch: list[Trajectory]) -> list[Verdict]:
        """Verdicts for a batch, at most `concurrency` requests in flight (across calls)."""
        gate = self.gate()

        async def one(traj: Trajectory) -> Verdict:
            async with gate:
                return await self.judge(traj)

        return list(await asyncio.gather(*(one(t) for t in batch)))
