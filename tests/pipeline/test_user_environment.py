"""Environments without a sandbox through the real Ray actors (controller, rollout worker, judge
actor, LoRA learner; no corpus or sandbox actors): a user environment named by dotted path,
imported in the driver and in every actor, trains for two steps.

The learning test of `reverse_text` is tests/pipeline/test_reverse_text_learns.py.
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
def raw_model(tmp_path_factory):
    """The nano model at random init (no pretraining): enough for a run that only has to work."""
    from rlsys.base_model import ensure_base_model

    cfg = load_config("configs/reverse-text.yaml", [f"model.path={tmp_path_factory.mktemp('raw') / 'nano'}",
                                                    "model.pretrain_steps=0", "model.pretrain_copy_steps=0"])
    return ensure_base_model(cfg)


def _ray(extra_path: str | None = None):
    import ray

    env = {"OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1"}
    if extra_path:
        env["PYTHONPATH"] = os.pathsep.join([extra_path, os.environ.get("PYTHONPATH", ""), str(Path.cwd())])
    ray.init(address="local", num_cpus=2, include_dashboard=False, log_to_driver=False, runtime_env={"env_vars": env})


def test_a_user_environment_by_dotted_path_trains_two_steps(raw_model, tmp_path, monkeypatch):
    import ray

    monkeypatch.syspath_prepend(str(USER_ENVS))  # the driver imports it; the actors get it on PYTHONPATH

    from rlsys.metrics import read_metrics

    run = tmp_path / "run"
    cfg = load_config("configs/reverse-text.yaml", [
        "env.name=upper_env:UpperCase", "env.options={}", f"model.path={raw_model}",
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
