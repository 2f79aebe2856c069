"""docs/extending.md's worked example runs: its environment loads by dotted path, its judge,
reward and engine register by name, and episodes of the tiny model are judged and rewarded."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from rlsys.config import load_config

DOC = Path(__file__).resolve().parents[2] / "docs" / "extending.md"


def worked_example() -> str:
    text = DOC.read_text()
    block = text.split("<!-- worked-example -->")[1].split("<!-- /worked-example -->")[0]
    code = block.strip()
    assert code.startswith("```python") and code.endswith("```")
    return code[len("```python"): -3]


@pytest.fixture
def letters_module(tmp_path, monkeypatch):
    (tmp_path / "letters.py").write_text(worked_example())
    monkeypatch.syspath_prepend(str(tmp_path))
    yield
    sys.modules.pop("letters", None)
    from rlsys.judge.factory import JUDGES
    from rlsys.judge.reward import REWARDS
    from rlsys.rollout.engines import ENGINES

    JUDGES.pop("number", None), REWARDS.pop("closeness", None), ENGINES.pop("hf_cpu", None)


def test_the_worked_example_is_short():
    assert len(worked_example().strip().splitlines()) < 80


async def test_the_worked_example_runs_episodes_judged_and_rewarded(letters_module, tiny_model_dir):
    from rlsys.env.registry import environment_of
    from rlsys.judge.factory import build_judge
    from rlsys.judge.reward import apply_verdicts
    from rlsys.rollout.engines import load_engine
    from rlsys.rollout.episode import run_group

    cfg = load_config(None, ["env.name=letters:CountLetters", "rollout.engine=hf_cpu", "rollout.max_turns=2",
                             "rollout.max_new_tokens=8", "rollout.group_size=4", f"model.path={tiny_model_dir}"])
    assert (cfg.judge.kind, cfg.judge.reward) == ("number", "closeness")
    env = environment_of(cfg)
    train, test = env.questions(cfg)
    assert len(train) == 9 and [q.split for q in test] == ["test"] * 3
    engine, tokenizer = load_engine(cfg.model.path, cfg.rollout.engine, max_batch=8)
    assert type(engine).__name__ == "HFEngine" and str(engine.device) == "cpu"
    group = await run_group(train[0], 4, engine, tokenizer, None, cfg.rollout, env=env)
    assert len(group) == 4 and all(not t.excluded for t in group)
    assert all(t.answer is None or t.answer.isdigit() for t in group)
    verdicts = await build_judge(cfg.judge).score(group)
    apply_verdicts(group, verdicts, cfg.judge)
    assert all(t.reward is not None and -1.0 <= t.reward <= 1.0 for t in group)
    # scripted replies through the same env, judge and reward: right count 1, two off 0.5 - 1, none -1
    from tests.rollout.scripted_engine import ScriptedEngine

    word = train[0]  # "sun"
    replies = [f"It has {word.answer} letters.", "5", "many", "many"]
    scripted = ScriptedEngine(tokenizer, lambda ids: replies.pop(0))
    group = [await run_group(word, 1, scripted, tokenizer, None, cfg.rollout, env=env) for _ in range(3)]
    trajs = [g[0] for g in group]
    assert [t.answer for t in trajs] == ["3", "5", None] and trajs[2].end_reason.value == "max_turns"
    apply_verdicts(trajs, await build_judge(cfg.judge).score(trajs), cfg.judge)
    assert [t.reward for t in trajs] == [1.0, -0.5, -1.0]
