"""RolloutWorker on local Ray: groups over the real corpus + bubblewrap sandbox, adapter push."""

from __future__ import annotations

import shutil

import pytest
import torch

from rlsys.config import Config
from rlsys.corpus.config import CorpusConfig
from rlsys.learner.config import LearnerConfig, LoraConfig
from rlsys.rollout.config import ModelConfig, RolloutConfig
from rlsys.rollout.types import EndReason
from rlsys.sandbox.config import SandboxConfig

from .biased_model import TARGETS, merge_lora, random_lora, reference_logprobs


@pytest.fixture(scope="module")
def ray_local():
    ray = pytest.importorskip("ray")
    ray.init(address="local", num_cpus=2, include_dashboard=False, log_to_driver=False, configure_logging=False)
    yield ray
    ray.shutdown()


def test_worker_generates_groups_and_takes_adapter_pushes(ray_local, tiny_model_dir, corpus_cfg, corpus, questions):
    from transformers import AutoModelForCausalLM

    from rlsys.actors.rollout_worker import RolloutWorker

    if shutil.which("bwrap") is None:
        pytest.skip("bubblewrap is not installed (apt-get install -y bubblewrap)")
    ray = ray_local
    cfg = Config(
        model=ModelConfig(path=str(tiny_model_dir), tiny=False, dtype="float32"),
        corpus=CorpusConfig(**corpus_cfg.model_dump()),
        sandbox=SandboxConfig(backend="bwrap", containers_per_worker=2, cell_timeout_s=5.0),
        rollout=RolloutConfig(group_size=3, max_turns=2, max_new_tokens=12, max_episode_tokens=1000, concurrency=8),
        learner=LearnerConfig(lora=LoraConfig(r=4, alpha=8, target_modules=list(TARGETS))),
    )
    worker = RolloutWorker.remote(cfg.model_dump())
    groups = ray.get(worker.generate_groups.remote(questions[:2], 3, 7), timeout=300)
    assert [len(g) for g in groups] == [3, 3]
    # no adapter pushed yet: version -1, the base model (not "version 0", the initial adapter)
    assert all(t.end_reason is not EndReason.INFRA_ERROR and t.policy_version == -1 for g in groups for t in g)
    assert ray.get(worker.policy_version.remote()) == -1

    # asleep (outside its phase) the worker refuses to generate; an adapter pushed meanwhile
    # waits and is installed at wake with its version
    assert ray.get(worker.sleep.remote(), timeout=120)["asleep"] is True
    with pytest.raises(ray.exceptions.RayTaskError, match="asleep"):
        ray.get(worker.generate_group.remote(questions[0], 1, 8), timeout=120)
    reference = AutoModelForCausalLM.from_pretrained(tiny_model_dir, dtype=torch.float32).eval()
    tensors = random_lora(reference, r=4, seed=9)
    assert ray.get(worker.load_adapter.remote(5, ray.put(tensors)), timeout=120) == 5
    assert ray.get(worker.engine_version.remote()) == -1  # not applied while asleep
    assert ray.get(worker.policy_version.remote()) == 5   # what it will generate with once awake
    state = ray.get(worker.wake.remote(), timeout=120)
    assert state["asleep"] is False and state["engine_version"] == 5
    group = ray.get(worker.generate_group.remote(questions[0], 2, 8, 0.5), timeout=300)
    assert all(t.policy_version == 5 and t.temperature == 0.5 for t in group)
    merge_lora(reference, tensors, alpha=8)
    for traj in group:
        ref = reference_logprobs(reference, traj.token_ids, traj.temperature)
        diffs = [abs(r - b) for r, b, m in zip(ref, traj.behaviour_logprobs, traj.loss_mask) if m]
        assert diffs and max(diffs) < 2e-4
    stats = ray.get(worker.stats.remote())
    assert stats["rollout/generated_tokens"] > 0
    ray.get(worker.shutdown.remote())
