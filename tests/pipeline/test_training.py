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


def _controller(cfg, run_dir, **kw):
    from rlsys.controller.loop import Controller

    controller = Controller(cfg, run_dir, **kw)
    controller.setup()
    return controller


def test_async_pipeline_trains_every_step_with_dynamic_sampling_and_survives_a_dead_sandbox_worker(
        make_config, sft_adapter, local_ray, tmp_path):
    import ray

    from rlsys.controller.flight import launch_groups
    from rlsys.rollout.types import EndReason

    run = tmp_path / "run"
    # the `approach` reward grades how an episode went (searched, printed, answered): a policy SFT'd on
    # 120 episodes has reward variance in most groups (binary correctness: in few of them)
    cfg = make_config(run, "train.steps=3", "train.max_staleness=1", "sandbox.workers=2", "learner.lr=5e-3",
                      "judge.reward=approach", "train.informative_groups=2", "train.max_groups_drawn=8")
    controller = _controller(cfg, run, init_adapter=str(sft_adapter))
    try:
        # sandbox worker 0 dies for good before any episode: each rollout worker's first episode is
        # routed to it (least loaded, lowest index) and must come back as an infra error, not a crash
        dead = controller.system.sandbox.pop(0)  # the shutdown at close() talks to the live one only
        ray.kill(dead, no_restart=True)
        flight = launch_groups(controller.system, controller.weights, controller.train_questions[:2], seed=1)
        outcomes = flight.collect(timeout_s=600)
        assert all(o.failure is None for o in outcomes)  # groups complete; lost episodes are infra errors
        episodes = [t for o in outcomes for t in o.trajectories]
        lost = [t for t in episodes if t.end_reason is EndReason.INFRA_ERROR]
        assert lost and all(t.failure == "infra_error" and t.excluded for t in lost), [t.end_reason for t in episodes]
        assert len(lost) < len(episodes)  # the other sandbox worker ran the rest
        controller.run()
    finally:
        controller.close()
    rl = read_metrics(run, stage="rl")
    check_dynamic_sampling_steps(rl, steps=3, target=2, cap=8)
    assert verify_checkpoint(run / "checkpoints" / "step-000003")


def check_dynamic_sampling_steps(rl: list[dict], steps: int, target: int, cap: int) -> None:
    """What dynamic sampling guarantees, step by step: a step draws until `target` groups have reward
    variance or `cap` groups are drawn; exactly the informative groups reach the learner, and the
    learner trains whenever there is one (it does not skip a step that has signal). Whether this
    test's barely trained policy yields any signal at all is chance (measured: 3 / 0 / 1 informative
    groups of 8 in three steps), so that is not asserted."""
    assert [r["step"] for r in rl] == list(range(1, steps + 1))
    for r in rl:
        assert r["groups_drawn"] == r["groups_informative"] + r["groups_dropped"], r
        assert r["groups_informative"] >= target or r["groups_drawn"] == cap, r  # the target, or the cap
        assert 2 <= r["groups_drawn"] <= cap, r
        assert r["groups_trained"] == r["groups_informative"] == r["learner_groups"], r
        assert r["learner_zero_std_groups"] == 0, r  # nothing without signal reached the learner
        assert (r["learner_trained_trajectories"] > 0) == (r["groups_informative"] > 0), r
        assert r["learner_skipped"] == (0 if r["groups_informative"] else 1), r
        assert r["staleness_max"] <= 1 and r["learner_excluded_stale"] == 0, r
        # in async mode a step launched before the previous step's update is trained one version later
        assert r["staleness_max"] == r["policy_version"] - r["launched_at_version"], r


def test_resume_falls_back_from_a_corrupt_checkpoint_and_continues_without_duplicates(make_config, local_ray, tmp_path):
    run = tmp_path / "run"
    cfg = make_config(run, "train.steps=3", "learner.checkpoint_keep=3")
    controller = _controller(cfg, run)
    try:
        controller.run()
    finally:
        controller.close()
    root = run / "checkpoints"
    assert sorted(p.name for p in root.iterdir()) == ["step-000001", "step-000002", "step-000003"]
    # the newest checkpoint is corrupt (a flipped byte), and a "crash" left a half-written metrics line
    trainer = root / "step-000003" / "trainer.pt"
    data = bytearray(trainer.read_bytes())
    data[len(data) // 2] ^= 0xFF
    trainer.write_bytes(bytes(data))
    with open(run / "metrics.jsonl", "a") as f:
        f.write('{"step": 4, "stage": "rl", "rew')
    cfg = make_config(run, "train.steps=4", "learner.checkpoint_keep=2")
    controller = _controller(cfg, run, resume=True)
    try:
        assert controller.step == 2  # the corrupt step-3 checkpoint is refused, step 2 taken
        controller.run()
    finally:
        controller.close()
    steps = [r["step"] for r in read_metrics(run, stage="rl")]
    assert steps == [1, 2, 3, 4]
    # `learner.checkpoint_keep` newest complete ones are kept (the corrupt one was replaced)
    assert sorted(p.name for p in root.iterdir()) == ["step-000003", "step-000004"]
    # the controller's state is inside the checksummed checkpoint (state.json is in the manifest)
    final = root / "step-000004"
    assert verify_checkpoint(final)
    assert "state.json" in json.loads((final / "manifest.json").read_text())["files"]
    state = json.loads((final / "state.json").read_text())["data_state"]
    assert state["step"] == 4 and state["sampler_cursor"] == 4 * cfg.train.questions_per_step


def _restart(worker) -> int:
    """Kills the actor, waits (bounded) until Ray has restarted it in a new process, and returns
    the new instance's adapter version."""
    import ray

    old_pid = ray.get(worker.process_id.remote(), timeout=300)
    ray.kill(worker, no_restart=False)
    deadline = time.monotonic() + 600
    while time.monotonic() < deadline:
        try:
            if ray.get(worker.process_id.remote(), timeout=300) != old_pid:
                return ray.get(worker.policy_version.remote(), timeout=300)
        except ray.exceptions.RayActorError:
            pass  # dead or restarting
        time.sleep(1.0)
    raise TimeoutError("the rollout worker was not restarted within 600 s")


def test_restarted_worker_gets_the_sft_adapter_and_depth_two_bounds_staleness(make_config, sft_adapter, local_ray,
                                                                              tmp_path):
    import ray

    from rlsys.controller.flight import launch_groups

    run = tmp_path / "run"
    cfg = make_config(run, "train.steps=4", "train.max_staleness=2", "rollout.concurrency=32",
                      "judge.reward=approach", "learner.lr=5e-3")
    controller = _controller(cfg, run, init_adapter=str(sft_adapter))
    try:
        worker = controller.system.rollout[0]
        assert ray.get(worker.policy_version.remote()) == 0  # the SFT adapter is version 0
        assert _restart(worker) == -1  # restarted before step 1: back without an adapter (the base model)
        flight = launch_groups(controller.system, controller.weights, controller.train_questions[:1], seed=3)
        (outcome,) = flight.collect(timeout_s=600)
        assert outcome.failure is None and outcome.trajectories
        assert all(t.policy_version == 0 for t in outcome.trajectories)  # generated with the SFT adapter
        assert ray.get(worker.engine_version.remote()) == 0
        controller.run()
    finally:
        controller.close()
    rl = read_metrics(run, stage="rl")
    assert [r["step"] for r in rl] == [1, 2, 3, 4]
    # generation runs up to two steps ahead of the learner, never three; in policy versions the
    # lag is the learner steps taken since launch (a skipped step, no signal, leaves the version)
    assert [r["steps_ahead"] for r in rl] == [0, 1, 2, 2]
    for r in rl:
        assert r["staleness_max"] == r["policy_version"] - r["launched_at_version"] <= r["steps_ahead"]
        assert r["learner_excluded_stale"] == 0
    # the checkpoints' cursors exclude the questions of the steps still in flight
    for step in (3, 4):
        state = json.loads((run / "checkpoints" / f"step-{step:06d}" / "state.json").read_text())["data_state"]
        assert state["sampler_cursor"] == step * cfg.train.questions_per_step


def test_sequential_phases_keep_one_engine_awake_and_apply_the_adapter_at_wake(make_config, pipeline_artifacts,
                                                                               local_ray, tmp_path):
    """The collocated phase schedule on CPU (`train.phase_schedule=sequential`) with two real HF
    engines (the policy's and an `llm` judge's): generate -> judge -> learn with barriers."""
    import ray

    _, model = pipeline_artifacts
    run = tmp_path / "run"
    cfg = make_config(run, "train.steps=2", "train.phase_schedule=sequential", "train.checkpoint_every=0",
                      "judge.kind=llm", f"judge.model={model}", "judge.engine=hf", "judge.cross_check=false",
                      "judge.max_new_tokens=8", "judge.batch_size=8")
    controller = _controller(cfg, run)
    try:
        # both engines were started one after another and put to sleep; the setup's push of
        # adapter v0 reached a sleeping worker: kept, not yet in the engine
        state = ray.get(controller.system.rollout[0].phase_state.remote())
        assert state == {"asleep": True, "engine": True, "version": 0, "engine_version": -1}
        assert ray.get(controller.system.judges[0].phase_state.remote()) == {"asleep": True, "engine": True}
        controller.run()
        trace = list(controller.phases.trace)
        # after the learn phase the rollout engine sleeps: a group sent to it anyway raises inside
        # `generate_group` (a RayTaskError, not a dead actor), and comes back dropped, not fatal
        from rlsys.controller.flight import launch_groups

        (lost,) = launch_groups(controller.system, controller.weights, controller.train_questions[:1], seed=5,
                                judge=False).collect(timeout_s=300)
        assert lost.failure == "rollout_error" and not lost.trajectories
    finally:
        controller.close()
    one_step = [("generate", "rollout", "wake"), ("judge", "rollout", "sleep"), ("judge", "judge", "wake"),
                ("learn", "judge", "sleep"), ("learn", "learner", "release")]
    assert [(e.phase, e.role, e.action) for e in trace] == one_step * 2
    assert all(len(e.awake) <= 1 for e in trace)  # never two engines awake
    rl = read_metrics(run, stage="rl")
    assert [r["step"] for r in rl] == [1, 2]
    # applied at wake, with its version: the first step's rollouts come from adapter v0
    assert rl[0]["rollout_version_min"] == rl[0]["rollout_version_max"] == 0
    for r in rl:
        assert {"phase_generate_s", "phase_judge_s", "phase_learn_s", "wake_rollout_s", "sleep_rollout_s",
                "wake_judge_s", "sleep_judge_s", "phase_switch_s"} <= set(r)
        assert r["excluded_infra"] == 0  # no generation was refused: the rollout engine was awake
