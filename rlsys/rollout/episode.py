"""The multi-turn episode loop, token-in/token-out, and groups of episodes.

One token list per episode. The prompt is rendered once with the chat template; after that the
list only grows: sampled tokens are appended exactly as sampled (mask 1, with their log-probs)
and each observation is appended as the tokens of the new text only (mask 0) — the `<|im_end|>`
closing the assistant turn unless it was sampled, the user message(s), the next assistant
header. Only that ChatML framing is tokenised with special tokens recognised: the question, tool
output and page text are plain text (`plain_text.py`), so they cannot open a turn. The conversation is never re-rendered (Qwen3's template drops earlier `<think>` blocks,
and a re-tokenisation need not reproduce the sampled tokens).

What the turns mean is the `Environment`'s (`rlsys.env`): its opening messages, stop strings,
the action a turn asks for (a cell, an answer, neither), the observation text. Without one given,
an episode runs the default environment (`env.name`'s default) built from its `EpisodeLimits`.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

from rlsys.corpus.types import Question
from rlsys.env.base import EnvSettings, Environment
from rlsys.env.registry import DEFAULT_ENVIRONMENT, build_environment
from rlsys.rollout.chat_format import IM_END, continuation_parts
from rlsys.rollout.config import RolloutConfig
from rlsys.rollout.plain_text import encode_chat, encode_parts
from rlsys.rollout.types import EndReason, Engine, SamplingParams, Trajectory, Turn
from rlsys.sandbox.types import CodeExecutor, ExecResult, ExecStatus

log = logging.getLogger(__name__)


@dataclass
class EpisodeLimits:
    """What bounds one episode (from `RolloutConfig`, plus the sandbox's cell timeout)."""

    max_turns: int = 3
    max_new_tokens: int = 512
    max_episode_tokens: int = 4096
    top_p: float = 1.0
    cell_timeout_s: float | None = None
    prompt_style: str = "reference"
    question_variable: bool = False

    @classmethod
    def from_config(cls, cfg: RolloutConfig, cell_timeout_s: float | None = None) -> "EpisodeLimits":
        return cls(cfg.max_turns, cfg.max_new_tokens, cfg.max_episode_tokens, cfg.top_p, cell_timeout_s,
                   cfg.system_prompt, cfg.question_variable)

    def env_settings(self) -> EnvSettings:
        return EnvSettings(self.max_turns, self.prompt_style, self.question_variable)

    def default_environment(self) -> Environment:
        return build_environment(DEFAULT_ENVIRONMENT, self.env_settings())


@dataclass
class _Tokens:
    """The growing token list with its mask and behaviour log-probs."""

    ids: list[int] = field(default_factory=list)
    mask: list[int] = field(default_factory=list)
    logprobs: list[float] = field(default_factory=list)

    def add_context(self, ids: list[int]) -> None:
        self.ids += ids
        self.mask += [0] * len(ids)
        self.logprobs += [0.0] * len(ids)

    def add_sampled(self, ids: list[int], logprobs: list[float]) -> None:
        if len(ids) != len(logprobs):
            raise RuntimeError(f"engine returned {len(ids)} tokens but {len(logprobs)} log-probs")
        self.ids += ids
        self.mask += [1] * len(ids)
        self.logprobs += [float(x) for x in logprobs]


def opening_ids(tokenizer: Any, env: Environment, question: Question) -> list[int]:
    """The episode's opening tokens: the environment's messages and the assistant header (message
    texts as plain text: special-token strings in a question are ordinary tokens)."""
    return encode_chat(tokenizer, env.initial_messages(question), add_generation_prompt=True)


def prompt_ids(
    tokenizer: Any, question: str, max_turns: int, style: str = "reference", question_variable: bool = False
) -> list[int]:
    """`opening_ids` of the default environment for a question text."""
    limits = EpisodeLimits(max_turns=max_turns, prompt_style=style, question_variable=question_variable)
    return opening_ids(tokenizer, limits.default_environment(), Question(id="prompt", question=question, answer=""))


async def run_setup_cell(executor: CodeExecutor, episode_id: str, code: str) -> None:
    """Runs an environment's setup cell in an open sandbox session; a failure is an infrastructure error."""
    result = await executor.run(episode_id, code)
    if result.status is not ExecStatus.OK:
        raise RuntimeError(f"the environment's setup cell failed in the sandbox: {result.status.value}: {result.error}")


async def run_episode(
    question: Question,
    engine: Engine,
    tokenizer: Any,
    executor: CodeExecutor,
    limits: EpisodeLimits,
    temperature: float = 1.0,
    seed: int | None = None,
    episode_id: str | None = None,
    env: Environment | None = None,
) -> Trajectory:
    """Runs one episode of `env` (default: `limits.default_environment()`) to an answer, the turn
    limit, the token budget or an infrastructure error."""
    env = env or limits.default_environment()
    episode_id = episode_id or f"{question.id}-{uuid.uuid4().hex[:10]}"
    im_end = tokenizer.convert_tokens_to_ids(IM_END)
    started = time.perf_counter()
    timings = {"generate_s": 0.0, "sandbox_s": 0.0}
    toks = _Tokens()
    toks.add_context(opening_ids(tokenizer, env, question))
    prompt_len = len(toks.ids)
    turns: list[Turn] = []
    versions: list[int] = []
    answer, end, error = None, EndReason.MAX_TURNS, None
    opened = False
    try:
        for turn_index in range(limits.max_turns):
            room = limits.max_episode_tokens - len(toks.ids)
            if room <= 0:
                end = EndReason.BUDGET
                break
            params = SamplingParams(
                temperature=temperature,
                top_p=limits.top_p,
                max_new_tokens=min(limits.max_new_tokens, room),
                stop=list(env.stop_strings),
                seed=None if seed is None else seed + 7919 * turn_index,
            )
            t0 = time.perf_counter()
            gen = await engine.generate(list(toks.ids), params)
            timings["generate_s"] += time.perf_counter() - t0
            toks.add_sampled(gen.token_ids, gen.logprobs)
            versions.append(gen.policy_version)
            parsed = env.parse_turn(gen.text)
            turn = Turn(text=gen.text, cell=parsed.cell)
            turns.append(turn)
            if parsed.answer is not None:
                answer, end = parsed.answer, EndReason.ANSWERED
                break
            if len(toks.ids) >= limits.max_episode_tokens:
                end = EndReason.BUDGET
                break
            if turn_index == limits.max_turns - 1:
                end = EndReason.MAX_TURNS
                break
            if parsed.cell is None:
                messages = [env.no_action_text()]
            else:
                if parsed.empty_cell:
                    turn.result = ExecResult(error=env.empty_cell_error(), status=ExecStatus.ERROR)
                else:
                    t0 = time.perf_counter()
                    if not opened:
                        await executor.open(episode_id)
                        opened = True
                        setup = env.setup_cell(question)
                        if setup is not None:
                            await run_setup_cell(executor, episode_id, setup)
                    turn.result = await executor.run(episode_id, parsed.cell, limits.cell_timeout_s)
                    timings["sandbox_s"] += time.perf_counter() - t0
                    if turn.result.infra_failed:
                        end, error = EndReason.INFRA_ERROR, turn.result.error or "sandbox infrastructure error"
                        break
                messages = [env.observation_text(turn.result)]
            final_text = env.final_turn_text() if turn_index + 1 == limits.max_turns - 1 else None
            if final_text is not None:
                messages.append(final_text)
            sampled_end = bool(gen.token_ids) and gen.token_ids[-1] == im_end
            # observations are untrusted: only the ChatML framing may be special tokens
            context = encode_parts(tokenizer, continuation_parts(messages, im_end_sampled=sampled_end))
            if len(toks.ids) + len(context) >= limits.max_episode_tokens:
                end = EndReason.BUDGET  # no room left to generate after this observation
                break
            toks.add_context(context)
    except asyncio.CancelledError:
        raise
    except Exception as err:  # noqa: BLE001 - engine/sandbox failures end the episode, not the group
        log.warning("episode %s failed: %s: %s", episode_id, type(err).__name__, err)
        end, error = EndReason.INFRA_ERROR, f"{type(err).__name__}: {err}"
    finally:
        if opened:
            try:
                await executor.close(episode_id)
            except Exception as err:  # noqa: BLE001
                log.warning("closing sandbox session %s failed: %s", episode_id, err)
    timings["total_s"] = time.perf_counter() - started
    return Trajectory(
        episode_id=episode_id,
        question=question,
        token_ids=toks.ids,
        loss_mask=toks.mask,
        behaviour_logprobs=toks.logprobs,
        prompt_len=prompt_len,
        turns=turns,
        answer=answer,
        policy_version=min(versions) if versions else 0,
        temperature=temperature,
        end_reason=end,
        timings=timings,
        failure="infra_error" if end is EndReason.INFRA_ERROR else None,
        sampling_seed=seed,
        error=error,
    )


def draw_temperatures(k: int, low: float, high: float, seed: int, question_id: str) -> list[tuple[float, int]]:
    """(temperature, sampling seed) per rollout: T ~ U[low, high], reproducible per question and seed."""
    if not 0 <= low <= high:
        raise ValueError(f"need 0 <= temperature_min <= temperature_max, got {low}, {high}")
    rng = random.Random(f"{seed}:{question_id}")
    return [(round(rng.uniform(low, high), 6), rng.randrange(2**31)) for _ in range(k)]


async def run_group(
    question: Question,
    k: int,
    engine: Engine,
    tokenizer: Any,
    executor: CodeExecutor,
    cfg: RolloutConfig,
    cell_timeout_s: float | None = None,
    seed: int | None = None,
    semaphore: asyncio.Semaphore | None = None,
    temperature: float | None = None,
    env: Environment | None = None,
) -> list[Trajectory]:
    """K concurrent episodes of one question, each with its own temperature from U[min, max]
    (or all at `temperature` when given, e.g. for evaluation) and its own sampling seed."""
    limits = EpisodeLimits.from_config(cfg, cell_timeout_s)
    env = env or limits.default_environment()
    draws = draw_temperatures(k, cfg.temperature_min, cfg.temperature_max, cfg.seed if seed is None else seed, question.id)
    if temperature is not None:
        draws = [(temperature, s) for _, s in draws]

    async def one(temperature: float, sample_seed: int) -> Trajectory:
        if semaphore is None:
            return await run_episode(question, engine, tokenizer, executor, limits, temperature, sample_seed, env=env)
        async with semaphore:
            return await run_episode(question, engine, tokenizer, executor, limits, temperature, sample_seed, env=env)

    return list(await asyncio.gather(*(one(t, s) for t, s in draws)))
