"""Wiki-search episodes are token-exact with those recorded before the task moved to `rlsys/env/`.

Set `RLSYS_RECORD_EPISODES=1` to (re)write the fixture instead of comparing (only ever from a
commit whose behaviour is the reference).
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from .episode_cases import CASES, run_case

FIXTURE = Path(__file__).parent / "fixtures" / "wiki_search_episodes.json"


@pytest.fixture(scope="module")
def tiny_engine(tiny_model_dir):
    from rlsys.rollout.hf_engine import HFEngine

    return HFEngine(str(tiny_model_dir), device="cpu", dtype="float32", max_batch=1, seed=0)


async def test_episodes_are_token_exact_with_the_recorded_ones(tiny_tokenizer, tiny_engine):
    got = {name: await run_case(name, tiny_tokenizer, tiny_engine) for name in CASES}
    if os.environ.get("RLSYS_RECORD_EPISODES") == "1":
        FIXTURE.write_text(json.dumps(got, sort_keys=True) + "\n")
        pytest.skip(f"recorded {len(got)} episodes to {FIXTURE}")
    want = json.loads(FIXTURE.read_text())
    assert sorted(got) == sorted(want)
    for name in CASES:
        assert got[name] == want[name], name
    # the cases cover what the environment owns: cells, fenced cells, answers, observations, budget
    ends = {want[n]["end_reason"] for n in CASES}
    assert {"answered", "max_turns", "budget"} <= ends
    assert sum(o is not None for n in CASES for o in want[n]["observations"]) >= 8
