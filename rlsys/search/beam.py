"""Beam search over turns: expand `width` cells per beam, run them in the sandbox, keep the
`width` beams the progress scorer ranks highest; the finished beam the final scorer ranks highest
is the answer (no gold answer anywhere).

A turn of a beam is exactly a turn of `rollout.episode.run_episode` (same prompt, sampling
parameters, parsing, observation tokens, budget and turn limits), so a beam is a token-exact
episode and beam search with width 1 is a single episode. Turns `0 .. depth-1` branch: every alive
beam samples `width` candidates (seed `seed + 7919 * turn + CANDIDATE_STRIDE * index`, index 0
being a single episode's seed); later turns extend each beam by one candidate. Identical
candidates of one beam are kept once (greedy search does not run a cell twice).

A beam's sandbox state is its interpreter session. A branching beam's last candidate takes over
its parent's session; the others open a fresh session and replay the parent's cells (outputs
discarded, an infrastructure failure ends that candidate). Budget: every sampled token of every
candidate (pruned or not) and every sandbox cell run, replays included.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

from rlsys.corpus.types import Question
from rlsys.rollout.chat_format import IM_END, continuation_parts
from rlsys.env.base import Environment
from rlsys.rollout.episode import EpisodeLimits, opening_ids, run_setup_cell
from rlsys.rollout.plain_text import encode_parts
from rlsys.rollout.types import EndReason, Engine, Generation, SamplingParams, Trajectory, Turn
from rlsys.sandbox.types import CodeExecutor, ExecResult, ExecStatus
from rlsys.search.best_of_n import pick
from rlsys.search.scorers import progress_score

log = logging.getLogger(__name__)
TURN_STRIDE = 7919          # run_episode's per-turn seed step
CANDIDATE_STRIDE = 104_729  # per candidate of one turn


@dataclass
class Beam:
    """One partial (or finished) episode: its token list, turns and sandbox session."""

    ids: list[int]
    mask: list[int]
    logprobs: list[float]
    turns: list[Turn] = field(default_factory=list)
    versions: list[int] = field(default_factory=list)
    cells: list[str] = field(default_factory=list)  # cells run in its session, in order (for replay)
    session: str | None = None                       # open sandbox session, if any
    answer: str | None = None
    end: EndReason | None = None                     # None: still alive
    error: str | None = None

    def child(self, gen: Generation) -> "Beam":
        return Beam(self.ids + list(gen.token_ids), self.mask + [1] * len(gen.token_ids),
                    self.logprobs + [float(x) for x in gen.logprobs], list(self.turns),
                    self.versions + [gen.policy_version], list(self.cells))


@dataclass
class BeamBudget:
    generated_tokens: int = 0
    sandbox_cells: int = 0   # replays included
    replayed_cells: int = 0
    candidates: int = 0      # generate calls

    def as_dict(self) -> dict[str, int]:
        return dict(self.__dict__)


class _Run:
    """The state shared by the beams of one question's search."""

    def __init__(self, question: Question, engine: Engine, tokenizer: Any, executor: CodeExecutor,
                 limits: EpisodeLimits, temperature: float, seed: int | None, env: Environment):
        self.question, self.engine, self.tokenizer, self.executor = question, engine, tokenizer, executor
        self.env = env
        self.limits, self.temperature, self.seed = limits, temperature, seed
        self.im_end = tokenizer.convert_tokens_to_ids(IM_END)
        self.budget = BeamBudget()
        self.prefix = f"{question.id}-beam-{uuid.uuid4().hex[:8]}"
        self.sessions = 0
        self.open_sessions: set[str] = set()
        self.timings = {"generate_s": 0.0, "sandbox_s": 0.0}

    async def generate(self, beam: Beam, turn: int, index: int) -> Generation:
        room = self.limits.max_episode_tokens - len(beam.ids)
        params = SamplingParams(
            temperature=self.temperature, top_p=self.limits.top_p,
            max_new_tokens=min(self.limits.max_new_tokens, room), stop=list(self.env.stop_strings),
            seed=None if self.seed is None else self.seed + TURN_STRIDE * turn + CANDIDATE_STRIDE * index,
        )
        t0 = time.perf_counter()
        gen = await self.engine.generate(list(beam.ids), params)
        self.timings["generate_s"] += time.perf_counter() - t0
        if len(gen.token_ids) != len(gen.logprobs):
            raise RuntimeError(f"engine returned {len(gen.token_ids)} tokens but {len(gen.logprobs)} log-probs")
        self.budget.generated_tokens += len(gen.token_ids)
        self.budget.candidates += 1
        return gen

    async def session_for(self, parent: Beam, inherit: bool) -> str:
        """The session a child runs its cell in: the parent's (inherit) or a fresh replay of it."""
        if inherit and parent.session is not None:
            return parent.session
        self.sessions += 1
        session = f"{self.prefix}-{self.sessions}"
        await self.executor.open(session)
        self.open_sessions.add(session)
        setup = self.env.setup_cell(self.question)
        if setup is not None:
            await run_setup_cell(self.executor, session, setup)
        for code in parent.cells:
            result = await self.executor.run(session, code, self.limits.cell_timeout_s)
            self.budget.sandbox_cells += 1
            self.budget.replayed_cells += 1
            if result.infra_failed:
                raise RuntimeError(f"replaying a beam's cells failed: {result.error}")
        return session

    async def close(self, session: str | None) -> None:
        if session is None or session not in self.open_sessions:
            return
        self.open_sessions.discard(session)
        try:
            await self.executor.close(session)
        except Exception as err:  # noqa: BLE001
            log.warning("closing sandbox session %s failed: %s", session, err)

    async def advance(self, parent: Beam, gen: Generation, turn_index: int, inherit: bool) -> Beam:
        """`parent` extended by the sampled turn `gen`, as one turn of `run_episode`."""
        limits = self.limits
        beam = parent.child(gen)
        parsed = self.env.parse_turn(gen.text)
        turn = Turn(text=gen.text, cell=parsed.cell)
        beam.turns.append(turn)
        if inherit:
            beam.session = parent.session
        if parsed.answer is not None:
            beam.answer, beam.end = parsed.answer, EndReason.ANSWERED
            return beam
        if len(beam.ids) >= limits.max_episode_tokens:
            beam.end = EndReason.BUDGET
            return beam
        if turn_index == limits.max_turns - 1:
            beam.end = EndReason.MAX_TURNS
            return beam
        if parsed.cell is None:
            messages = [self.env.no_action_text()]
        else:
            if parsed.empty_cell:
                turn.result = ExecResult(error=self.env.empty_cell_error(), status=ExecStatus.ERROR)
            else:
                t0 = time.perf_counter()
                try:
                    beam.session = await self.session_for(parent, inherit)
                    turn.result = await self.executor.run(beam.session, parsed.cell, limits.cell_timeout_s)
                except asyncio.CancelledError:
                    raise
                except Exception as err:  # noqa: BLE001 - a sandbox failure ends this beam only
                    beam.end, beam.error = EndReason.INFRA_ERROR, f"{type(err).__name__}: {err}"
                    return beam
                self.budget.sandbox_cells += 1
                beam.cells.append(parsed.cell)
                self.timings["sandbox_s"] += time.perf_counter() - t0
                if turn.result.infra_failed:
                    beam.end, beam.error = EndReason.INFRA_ERROR, turn.result.error or "sandbox infrastructure error"
                    return beam
            messages = [self.env.observation_text(turn.result)]
        final_text = self.env.final_turn_text() if turn_index + 1 == limits.max_turns - 1 else None
        if final_text is not None:
            messages.append(final_text)
        sampled_end = bool(gen.token_ids) and gen.token_ids[-1] == self.im_end
        context = encode_parts(self.tokenizer, continuation_parts(messages, im_end_sampled=sampled_end))
        if len(beam.ids) + len(context) >= limits.max_episode_tokens:
            beam.end = EndReason.BUDGET
            return beam
        beam.ids += context
        beam.mask += [0] * len(context)
        beam.logprobs += [0.0] * len(context)
        return beam

    async def expand(self, beam: Beam, turn: int, first_index: int, n: int) -> list[Beam]:
        """Up to `n` distinct children of `beam` (the last one inherits its session)."""
        if len(beam.ids) >= self.limits.max_episode_tokens:
            beam.end = EndReason.BUDGET
            return [beam]
        gens = await asyncio.gather(*(self.generate(beam, turn, first_index + j) for j in range(n)))
        distinct: list[Generation] = []
        for gen in gens:
            if all(gen.token_ids != d.token_ids for d in distinct):
                distinct.append(gen)
        last = len(distinct) - 1
        return list(await asyncio.gather(*(self.advance(beam, g, turn, inherit=j == last)
                                           for j, g in enumerate(distinct))))

    def trajectory(self, beam: Beam, prompt_len: int, index: int, started: float) -> Trajectory:
        end = beam.end or EndReason.MAX_TURNS
        return Trajectory(
            episode_id=f"{self.prefix}-b{index}", question=self.question, token_ids=beam.ids, loss_mask=beam.mask,
            behaviour_logprobs=beam.logprobs, prompt_len=prompt_len, turns=beam.turns, answer=beam.answer,
            policy_version=min(beam.versions) if beam.versions else 0, temperature=self.temperature,
            end_reason=end, timings={**self.timings, "total_s": time.perf_counter() - started},
            failure="infra_error" if end is EndReason.INFRA_ERROR else None, sampling_seed=self.seed,
            error=beam.error,
        )


@dataclass
class BeamResult:
    trajectory: Trajectory            # the picked finished beam
    finished: list[Trajectory]        # every finished beam, in the order they finished
    budget: dict[str, int]


async def beam_search(
    question: Question, engine: Engine, tokenizer: Any, executor: CodeExecutor, limits: EpisodeLimits, *,
    width: int, depth: int, scorer: str = "grounded", temperature: float = 1.0, seed: int | None = None,
    env: Environment | None = None,
) -> BeamResult:
    """Beam search over the turns of one question's episode of `env` (default:
    `limits.default_environment()`; see the module docstring)."""
    if width < 1 or depth < 0:
        raise ValueError(f"beam search needs width >= 1 and depth >= 0, got width={width}, depth={depth}")
    env = env or limits.default_environment()
    run = _Run(question, engine, tokenizer, executor, limits, temperature, seed, env)
    started = time.perf_counter()
    start = opening_ids(tokenizer, env, question)
    alive = [Beam(list(start), [0] * len(start), [0.0] * len(start))]
    finished: list[Beam] = []
    try:
        for turn in range(limits.max_turns):
            if not alive:
                break
            n = width if turn < depth else 1
            groups = await asyncio.gather(*(run.expand(b, turn, i * n, n) for i, b in enumerate(alive)),
                                          return_exceptions=True)
            children: list[Beam] = []
            for parent, group in zip(alive, groups):
                if isinstance(group, asyncio.CancelledError):
                    raise group
                if isinstance(group, BaseException):  # the engine failed: this beam ends as an infra error
                    log.warning("beam of %s failed: %s: %s", question.id, type(group).__name__, group)
                    parent.end, parent.error = EndReason.INFRA_ERROR, f"{type(group).__name__}: {group}"
                    children.append(parent)
                else:
                    children += group
            finished += [c for c in children if c.end is not None]
            ranked = sorted((c for c in children if c.end is None), key=progress_score, reverse=True)  # stable
            alive = ranked[:width]
            for ended in ranked[width:] + [c for c in children if c.end is not None]:
                await run.close(ended.session)  # sessions are never shared between beams
        finished += alive  # only reached with turns left over: ended at the turn limit
    finally:
        for session in list(run.open_sessions):
            await run.close(session)
    trajectories = [run.trajectory(b, len(start), i, started) for i, b in enumerate(finished)]
    best = trajectories[pick(trajectories, scorer)]
    return BeamResult(best, trajectories, {**run.budget.as_dict(), "finished_beams": len(trajectories)})
