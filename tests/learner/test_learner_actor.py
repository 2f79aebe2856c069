"""LearnerActor on local Ray: setup from the config, a GRPO step, adapter export and save."""

from __future__ import annotations

import pytest

from rlsys.config import Config
from rlsys.learner.config import LearnerConfig, LoraConfig
from rlsys.rollout.config import ModelConfig

from test_learner_grpo import QUESTION


@pytest.mark.slow
def test_learner_actor_steps_and_exports(tiny_model_dir, tmp_path):
    ray = pytest.importorskip("ray")
    from rlsys.actors.learner_actor import create_learner_actors
    from rlsys.rollout.types import Trajectory

    ray.init(address="local", num_cpus=2, include_dashboard=False, log_to_driver=False, configure_logging=False)
    try:
        cfg = Config(model=ModelConfig(path=str(tiny_model_dir), tiny=False, dtype="float32"),
                     learner=LearnerConfig(lora=LoraConfig(r=4, alpha=8), lr=1e-2, gradient_checkpointing=False))
        (actor,) = create_learner_actors(cfg)
        group = [Trajectory(f"e{i}", QUESTION, [5, 6, 7 + i, 8], [0, 0, 1, 1], [0.0, 0.0, -7.0, -7.5], prompt_len=2,
                            reward=float(i)) for i in range(3)]
        metrics = ray.get(actor.grpo_step.remote([group], 0), timeout=300)
        assert metrics["trained_trajectories"] == 3 and metrics["policy_version"] == 1
        version, tensors = ray.get(actor.export_adapter.remote())
        assert version == 1 and any("lora_B" in k for k in tensors)
        out = ray.get(actor.save_adapter.remote(str(tmp_path / "adapter")))
        assert (tmp_path / "adapter" / "adapter_config.json").is_file() and out.endswith("adapter")
    finally:
        ray.shutdown()
