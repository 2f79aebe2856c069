"""LLMJudge end to end through the HF engine and a tiny random-init model. Its replies are
noise, so this tests the plumbing: one repair retry, then judge_error — never "incorrect"."""

from __future__ import annotations

import pytest

from rlsys.judge.config import JudgeConfig
from rlsys.judge.factory import build_judge
from rlsys.judge.cross_check import CrossCheckedJudge
from rlsys.judge.llm_judge import LLMJudge
from rlsys.judge.reward import apply_verdicts
from rlsys.judge.types import Category
from rlsys.rollout.types import SamplingParams

from .trajectories import answer_turn, make_traj, search_turn

pytestmark = [pytest.mark.asyncio(loop_scope="module"), pytest.mark.timeout(300)]


class RecordingEngine:
    """Forwards to the real engine and keeps every request (a spy, not a stand-in)."""

    def __init__(self, engine):
        self.engine = engine
        self.calls: list[tuple[list[int], SamplingParams]] = []

    async def generate(self, prompt_ids, params):
        self.calls.append((list(prompt_ids), params))
        return await self.engine.generate(prompt_ids, params)


@pytest.fixture(scope="module")
def engine(nano_model_dir):
    from rlsys.rollout.hf_engine import HFEngine

    return HFEngine(nano_model_dir, dtype="float32", max_batch=16)


def batch(n: int = 4):
    page = "Cast\n\nTy Simpkins as young Gavin. " + "Filler text about the production. " * 60
    return [
        make_traj(
            "Ty Simpkins" if i % 2 == 0 else "Unknown",
            episode_id=f"e{i}",
            turns=[search_turn([page, "sections: plot, cast"]), answer_turn("Ty Simpkins")],
        )
        for i in range(n)
    ]


async def test_noise_replies_are_retried_once_then_judge_error(engine):
    spy = RecordingEngine(engine)
    judge = LLMJudge(spy, engine.tokenizer, JudgeConfig(kind="llm", max_new_tokens=24, batch_size=8))
    trajs = batch(4)
    verdicts = await judge.score(trajs)
    assert [v.category for v in verdicts] == [Category.JUDGE_ERROR] * 4
    assert all("unparseable after 2 attempt(s)" in v.rationale for v in verdicts)
    assert len(spy.calls) == 8 and judge.stats["repairs"] == 4 and judge.stats["judge_errors"] == 4
    assert all(p.temperature == 0.0 and p.max_new_tokens == 24 for _, p in spy.calls)
    first, retry = spy.calls[0][0], spy.calls[-1][0]
    assert "could not be read" in engine.tokenizer.decode(retry)
    assert "Gold answer: Ty Simpkins" in engine.tokenizer.decode(first)
    counts = apply_verdicts(trajs, verdicts)
    assert counts["judge/judge_error"] == 4 and counts["judge/incorrect"] == 0
    assert all(t.reward is None and t.excluded for t in trajs)


async def test_seeded_judging_is_deterministic(engine):
    # greedy decoding of the random model is only newlines; a seeded sample shows more
    cfg = JudgeConfig(kind="llm", max_new_tokens=16, parse_retries=0, temperature=0.8, seed=7)
    judge = LLMJudge(engine, engine.tokenizer, cfg)
    a = await judge.score(batch(2))
    b = await judge.score(batch(2))
    assert [v.raw for v in a] == [v.raw for v in b] and a[0].raw


async def test_thinking_budget_closes_thinking(engine):
    spy = RecordingEngine(engine)
    cfg = JudgeConfig(kind="llm", thinking=True, thinking_budget=6, max_new_tokens=8, parse_retries=0)
    judge = LLMJudge(spy, engine.tokenizer, cfg)
    (verdict,) = await judge.score(batch(1))
    assert verdict.category is Category.JUDGE_ERROR
    (think_prompt, think_params), (answer_prompt, answer_params) = spy.calls
    assert think_params.max_new_tokens == 6 and think_params.stop == ["</think>"]
    assert answer_params.max_new_tokens == 8
    added = engine.tokenizer.decode(answer_prompt[len(think_prompt):])
    assert "</think>" in added  # closed by the model or by the budget
    assert "<think>\n\n</think>" not in engine.tokenizer.decode(think_prompt)  # thinking was enabled


async def test_long_trajectories_fit_the_prompt_budget(engine):
    cfg = JudgeConfig(kind="llm", max_prompt_tokens=900, max_new_tokens=4, parse_retries=0)
    judge = LLMJudge(engine, engine.tokenizer, cfg)
    long = make_traj("x", turns=[search_turn(["word " * 4000]) for _ in range(6)])
    messages = judge.messages_for(long)
    assert len(judge.encode(messages)) <= 900
    assert "chars cut" in messages[1]["content"]


async def test_factory_wraps_model_judges_with_the_rule_cross_check(engine):
    judge = build_judge(JudgeConfig(kind="llm", max_new_tokens=4, parse_retries=0), engine, engine.tokenizer)
    assert isinstance(judge, CrossCheckedJudge)
    verdicts = await judge.score(batch(2))
    assert all(v.failed for v in verdicts)
    assert judge.agreement() is None  # nothing to compare when the model judge failed
    with pytest.raises(ValueError, match="needs an engine"):
        build_judge(JudgeConfig(kind="llm"))
