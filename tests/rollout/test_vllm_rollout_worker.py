"""A RolloutWorker on vLLM whose engine dies exits, and Ray restarts it with a fresh engine:
the engine core is killed under a running group; the call fails with the actor's death (not a
hang, not a group of "finished" turns) and the restarted worker generates again."""

from __future__ import annotations

import shutil
import time

import pytest

from rlsys.config import Config
from rlsys.corpus.config import CorpusConfig
from rlsys.learner.config import LearnerConfig, LoraConfig
from rlsys.rollout.config import ModelConfig, RolloutConfig
from rlsys.rollout.types import EndReason
from rlsys.sandbox.config import SandboxConfig

from .biased_model import TARGETS

pytestmark = [pytest.mark.vllm, pytest.mark.slow, pytest.mark.timeout(1500)]


def _engine_cores(worker_pid: int) -> tuple[list, str]:
    """The vLLM engine-core processes under the rollout worker's process, and a listing of all
    its descendants (for the failure message)."""
    import psutil

    below = psutil.Process(worker_pid).children(recursive=True)
    listing = "; ".join(f"{p.pid} {p.name()!r} {' '.join(p.cmdline())[:120]!r}" for p in below)
    return [p for p in below if "EngineCore" in p.name() + " ".join(p.cmdline())], listing


def test_dead_engine_restarts_the_worker(tiny_model_dir, corpus_cfg, corpus, questions):
    import ray

    from rlsys.actors.rollout_worker import RolloutWorker

    if shutil.which("bwrap") is None:
        pytest.skip("bubblewrap is not installed (apt-get install -y bubblewrap)")
    cfg = Config(
        model=ModelConfig(path=str(tiny_model_dir), tiny=False),
        corpus=CorpusConfig(**corpus_cfg.model_dump()),
        sandbox=SandboxConfig(backend="bwrap", containers_per_worker=2, cell_timeout_s=5.0),
        rollout=RolloutConfig(engine="vllm", group_size=2, max_turns=2, max_new_tokens=12, max_episode_tokens=1024,
                              concurrency=4),
        learner=LearnerConfig(lora=LoraConfig(r=4, alpha=8, target_modules=list(TARGETS))),
    )
    ray.init(address="local", num_cpus=2, include_dashboard=False, log_to_driver=False, configure_logging=False)
    try:
        worker = RolloutWorker.options(max_restarts=1, max_task_retries=0).remote(cfg.model_dump())
        group = ray.get(worker.generate_group.remote(questions[0], 2, 1), timeout=900)
        assert len(group) == 2 and all(t.end_reason is not EndReason.INFRA_ERROR for t in group)
        first_pid = ray.get(worker.process_id.remote(), timeout=60)
        cores, listing = _engine_cores(first_pid)
        assert cores, f"no EngineCore process below the rollout worker; its descendants: {listing}"
        for p in cores:
            p.kill()
        with pytest.raises(ray.exceptions.RayActorError):
            ray.get(worker.generate_group.remote(questions[1], 2, 2), timeout=600)
        deadline = time.monotonic() + 900  # Ray restarts the actor: a new process, a new engine
        while True:
            try:
                assert ray.get(worker.ready.remote(), timeout=120)
                break
            except ray.exceptions.ActorUnavailableError:
                assert time.monotonic() < deadline, "the rollout worker was not restarted in 900 s"
                time.sleep(2)
        assert ray.get(worker.process_id.remote(), timeout=60) != first_pid  # a new process
        again = ray.get(worker.generate_group.remote(questions[0], 2, 3), timeout=900)
        assert len(again) == 2 and all(t.end_reason is not EndReason.INFRA_ERROR for t in again)
    finally:
        ray.shutdown()
