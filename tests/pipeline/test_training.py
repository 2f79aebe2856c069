"""The system through Ray at test scale: async staleness, a killed sandbox worker, resume, learning.

These use the real actors (corpus service over LanceDB, sandbox pool, HF engine with a nano
Qwen3-architecture model, rule judge, LoRA learner) on a local Ray instance.
"""

from __future__ import annotations

import json
import time

import pytest

from rlsys.learner.checkpoint import verify_checkpoint
from rlsys.metrics import read_metrics

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def sft_adapter(pipeline_artifacts, make_config, tmp_path_factory):
    """A nano policy SFT'd on scripted-expert trajectories (run through the real sandbox)."""
    from rlsys.demo import expert_trajectories, run_sft

    root = tmp_path_factory.mktemp("sft")
    overrides = ["sft.expert_questions=120", "sft.epochs=6", "sft.batch_size=8", "sft.micro_batch=8"]
    cfg = make_config(root / "run", *overrides)
    stats = expert_trajectories(cfg, root / "data")
    assert stats["kept"] >= 60, stats
    index, model = pipeline_artifacts
    run_sft(None, [f"model.path={model}", f"corpus.index_dir={index}", "rollout.max_turns=2", *overrides],
            root / "data", root / "sft")
    return root / "sft" / "adapter"


def _controller(cfg, run_dir, **kw):
    from rlsys.controller.loop import Controller

    controller = Controller(cfg, run_dir, **kw)
    controller.setup()
    return controller


def test_async_pipeline_bounds_staleness_and_survives_a_killed_sandbox_worker(make_config, sft_adapter, local_ray, tmp_path):
    import ray

    from rlsys.controller.flight import launch_groups

    run = tmp_path / "run"
    cfg = make_config(run, "train.steps=3", "train.max_staleness=1", "sandbox.workers=2",
                          "learner.lr=5e-3")
    controller = _controller(cfg, run, init_adapter=str(sft_adapter))
    try:
        # kill one sandbox worker while the first step's episodes are running
        flight = launch_groups(controller.system, controller.weights, controller.train_questions[:2], seed=1)
        time.sleep(2.0)
        ray.kill(controller.system.sandbox[0], no_restart=False)
        outcomes = flight.collect(timeout_s=600)
        assert all(o.failure is None for o in outcomes)  # groups complete; lost episodes are infra errors
        controller.run()
    finally:
        controller.close()
    rl = read_metrics(run, stage="rl")
    assert [r["step"] for r in rl] == [1, 2, 3]
    assert all(r["staleness_max"] <= 1 for r in rl)
    assert all(r["learner_excluded_stale"] == 0 for r in rl)
    assert verify_checkpoint(run / "checkpoints" / "step-000003")


def test_resume_continues_step_count_without_duplicates(make_config, local_ray, tmp_path):
    run = tmp_path / "run"
    cfg = make_config(run, "train.steps=2")
    controller = _controller(cfg, run)
    try:
        controller.run()
    finally:
        controller.close()
    # a "crash" after step 2's checkpoint leaves a half-written metrics line behind
    with open(run / "metrics.jsonl", "a") as f:
        f.write('{"step": 3, "stage": "rl", "rew')
    cfg = make_config(run, "train.steps=4")
    controller = _controller(cfg, run, resume=True)
    try:
        assert controller.step == 2
        controller.run()
    finally:
        controller.close()
    steps = [r["step"] for r in read_metrics(run, stage="rl")]
    assert steps == [1, 2, 3, 4]
    # the controller's state is inside the checksummed checkpoint (state.json is in the manifest)
    final = run / "checkpoints" / "step-000004"
    assert verify_checkpoint(final)
    assert "state.json" in json.loads((final / "manifest.json").read_text())["files"]
    state = json.loads((final / "state.json").read_text())["data_state"]
    assert state["step"] == 4 and state["sampler_cursor"] == 4 * cfg.train.questions_per_step
