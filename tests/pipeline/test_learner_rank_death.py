"""A learner rank that dies mid-run (its process killed) fails the run at once with a message
naming the rank, instead of leaving the other rank waiting in a collective until a deadline; a
`--resume` of the run continues from its last checkpoint with the same question sequence.

The learner is a real two-rank DeepSpeed ZeRO-2 learner (gloo on CPU) on a local Ray instance."""

from __future__ import annotations

import os
import signal
import threading

import pytest
from fault_checks import checkpoint_done, logged_question_ids, uninterrupted_question_ids, wait_for

from rlsys.controller.deadlines import LearnerRankLost
from rlsys.learner.checkpoint import latest_checkpoint
from rlsys.metrics import read_metrics

pytestmark = [pytest.mark.slow, pytest.mark.timeout(2400)]
STEPS = 4
OVERRIDES = [f"train.steps={STEPS}", "train.max_staleness=1", "learner.deepspeed_stage=2", "learner.gpus=2",
             "sandbox.workers=1", "learner.lr=5e-3",
             # the `approach` reward grades how an episode went (searched, printed, answered): it varies
             # within most of this SFT'd policy's groups (binary correctness: measured in none of 4 steps)
             "judge.reward=approach", "train.questions_per_step=3", "rollout.group_size=8",
             "train.learn_timeout_s=1200", "cluster.rendezvous_timeout_s=600"]


def _controller(cfg, run_dir, **kw):
    from rlsys.controller.loop import Controller

    controller = Controller(cfg, run_dir, **kw)
    controller.setup()
    return controller


def test_a_dead_learner_rank_fails_the_run_by_name_and_resume_recovers(make_config, sft_adapter, local_ray, tmp_path):
    import ray

    run = tmp_path / "run"
    cfg = make_config(run, *OVERRIDES)
    controller = _controller(cfg, run, init_adapter=str(sft_adapter))  # an SFT'd policy: its groups vary
    killed: list[int] = []
    try:
        rank1_pid = ray.get(controller.system.learners[1].process_id.remote(), timeout=300)

        def kill_rank1_after_step_1() -> None:
            try:
                wait_for("the step-1 checkpoint", lambda: checkpoint_done(run, 1), timeout_s=1500)
            except TimeoutError:
                return  # the run failed before: the assertions below say how
            os.kill(rank1_pid, signal.SIGKILL)
            killed.append(rank1_pid)

        killer = threading.Thread(target=kill_rank1_after_step_1, daemon=True)
        killer.start()
        # the live rank 0 would wait in DeepSpeed's all-reduce for its dead peer (train.learn_timeout_s is
        # 20 minutes): the run must fail on the dead rank itself, naming it
        with pytest.raises(LearnerRankLost, match=r"learner rank 1 of 2 died during .*--resume") as failure:
            controller.run()
        killer.join(timeout=60)
    finally:
        controller.close()
    assert killed == [rank1_pid]
    assert "DeadlineExceeded" not in repr(failure.value)
    failed_at = max(r["step"] for r in read_metrics(run, stage="rl"))
    assert 1 <= failed_at < STEPS

    newest = latest_checkpoint(run / "checkpoints")
    assert newest is not None
    checkpoint_step = int(newest.name.split("-")[1])
    assert 1 <= checkpoint_step <= failed_at
    controller = _controller(make_config(run, *OVERRIDES), run, init_adapter=str(sft_adapter), resume=True)
    try:
        assert controller.step == checkpoint_step  # the last checkpoint, on two fresh ranks
        resumed_version = controller.weights.version
        controller.run()
    finally:
        controller.close()
    rl = read_metrics(run, stage="rl")
    assert [r["step"] for r in rl] == list(range(1, STEPS + 1))
    # the resumed run trains the questions an uninterrupted one would: no step's questions repeated or skipped
    steps, ids = logged_question_ids(run)
    assert steps == list(range(1, STEPS + 1))
    assert ids == uninterrupted_question_ids(cfg)
    assert len(set(ids)) == len(ids)
    # the fresh ranks trained: the resumed steps (2-3 steps of 3 groups of 8, `approach` reward) learned from
    # rollouts, and the adapter version moved past the checkpoint's
    after = [r for r in rl if r["step"] > checkpoint_step]
    assert sum(r["learner_trained_trajectories"] for r in after) > 0, after
    assert rl[-1]["learner_policy_version"] > resumed_version >= 0
