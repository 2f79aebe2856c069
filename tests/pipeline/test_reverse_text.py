"""The RL machinery learns a task from scratch: reverse_text through the real Ray actors.

The policy is the nano model as rlsys builds its tiny base model (random init, then copy-drill
and LM pretraining on corpus text: it has never seen a reversed string or this prompt), trained
with GRPO alone (no SFT) by the controller, rollout worker, judge actor and LoRA learner of
`configs/reverse-text.yaml`. Held-out accuracy (exact match, strings never trained on) must rise
from near 0 to a high value. A user environment named by dotted path trains for two steps.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from rlsys.config import load_config

pytestmark = pytest.mark.slow

USER_ENVS = Path(__file__).resolve().parents[1] / "env" / "user_envs"


@pytest.fixture(scope="module")
def reverse_base_model(tmp_path_factory):
    """The preset's tiny base model, built and pretrained once (no task data)."""
    from rlsys.base_model import ensure_base_model

    cfg = load_config("configs/reverse-text.yaml", [f"model.path={tmp_path_factory.mktemp('model') / 'nano'}"])
    return ensure_base_model(cfg)


def _ray(extra_path: str | None = None):
    import ray

    env = {"OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1"}
    if extra_path:
        env["PYTHONPATH"] = os.pathsep.join([extra_path, os.environ.get("PYTHONPATH", ""), str(Path.cwd())])
    ray.init(address="local", num_cpus=2, include_dashboard=False, log_to_driver=False, runtime_env={"env_vars": env})


def _train(cfg, run_dir):
    from rlsys.controller.loop import Controller

    controller = Controller(cfg, run_dir)
    controller.setup()
    try:
        before = controller.evaluate("before")
        controller.run()
        after = controller.evaluate("after")
    finally:
        controller.close()
    return before, after


def test_reverse_text_is_learnt_with_rl_alone(reverse_base_model, tmp_path):
    import ray

    run = tmp_path / "run"
    cfg = load_config("configs/reverse-text.yaml", [f"model.path={reverse_base_model}", f"train.output_dir={run}"])
    _ray()
    try:
        before, after = _train(cfg, run)
    finally:
        ray.shutdown()
    n = before["questions"] if "questions" in before else cfg.train.eval_questions
    assert before["accuracy"] <= 0.2, before
    assert after["accuracy"] >= 0.6, after
    assert after["accuracy"] - before["accuracy"] >= 0.4, (before, after, n)


def test_a_user_environment_by_dotted_path_trains_two_steps(reverse_base_model, tmp_path):
    import ray

    from rlsys.metrics import read_metrics

    run = tmp_path / "run"
    cfg = load_config("configs/reverse-text.yaml", [
        "env.name=upper_env:UpperCase", "env.options={}", f"model.path={reverse_base_model}",
        f"train.output_dir={run}", "train.steps=2", "train.eval_every=0", "train.questions_per_step=2",
        "rollout.group_size=4",
    ])
    _ray(str(USER_ENVS))
    try:
        from rlsys.controller.loop import Controller

        controller = Controller(cfg, run)
        controller.setup()
        try:
            assert [q.question for q in controller.test_questions] == ["jar", "kit", "elm", "ink"]
            controller.run()
        finally:
            controller.close()
    finally:
        ray.shutdown()
    rows = [r for r in read_metrics(run) if r.get("stage") == "rl"]
    assert [r["step"] for r in rows][-2:] == [1, 2], rows
    config = json.loads((run / "config.json").read_text())
    assert config["env"]["name"] == "upper_env:UpperCase" and config["judge"]["kind"] == "exact_match"
