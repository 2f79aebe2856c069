"""The `llm` judge on vLLM (CPU build in CI): `judge.kind: llm`, `judge.engine: vllm`, built by
the judge actor's engine builder (the engine registry, no LoRA), scoring a batch. The nano model's
replies are noise, so verdicts are judge_error after one repair each — never "incorrect"."""

from __future__ import annotations

import asyncio

import pytest

from rlsys.config import Config
from rlsys.judge.factory import build_judge
from rlsys.judge.types import Category

from .trajectories import answer_turn, make_traj, search_turn

pytestmark = [pytest.mark.vllm, pytest.mark.timeout(600)]


def test_llm_judge_on_vllm_scores_a_batch(nano_model_dir):
    from rlsys.actors.judge_actor import build_judge_engine
    from rlsys.rollout.vllm_engine import VLLMEngine

    cfg = Config.model_validate({"judge": {"kind": "llm", "model": str(nano_model_dir), "engine": "vllm",
                                           "max_new_tokens": 16, "max_prompt_tokens": 1024, "batch_size": 8}})
    page = "Cast\n\nTy Simpkins as young Gavin. " + "Filler text about the production. " * 20
    batch = [make_traj("Ty Simpkins" if i % 2 == 0 else "Unknown", episode_id=f"v{i}",
                       turns=[search_turn([page]), answer_turn("Ty Simpkins")]) for i in range(6)]

    async def score_twice():
        engine, tokenizer = build_judge_engine(cfg)
        try:
            judge = build_judge(cfg.judge, engine, tokenizer)
            first = await judge.score(batch)
            second = await judge.score(batch)
            return engine, judge, first, second
        finally:
            await engine.close()

    engine, judge, first, second = asyncio.run(score_twice())
    assert isinstance(engine, VLLMEngine) and not engine.enable_lora
    assert [v.category for v in first] == [Category.JUDGE_ERROR] * 6
    assert all("unparseable after 2 attempt(s)" in v.rationale for v in first)
    assert [v.rationale for v in second] == [v.rationale for v in first]  # greedy: the same replies
    stats = getattr(judge, "primary", judge).stats  # the LLM judge inside a cross-check wrapper
    assert stats["requests"] == 24 and stats["repairs"] == 12 and stats["judge_errors"] == 12
