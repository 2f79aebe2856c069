"""A controller killed mid-run (SIGKILL of `python -m rlsys.train`, the process `ray job submit`
runs) and started again with `--resume` continues from its last checkpoint: the same step count,
and the sampler's question sequence equal to an uninterrupted run's, with no question of the
steps lost in flight duplicated or skipped (`questions.jsonl`, not only step numbers).

The run is asynchronous (`train.max_staleness=1`): when a checkpoint is written the next step's
groups are already in flight, and their questions must be handed out again after the resume."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from fault_checks import checkpoint_done, logged_question_ids, uninterrupted_question_ids, wait_for

from rlsys.learner.checkpoint import latest_checkpoint
from rlsys.metrics import read_metrics

pytestmark = [pytest.mark.slow, pytest.mark.timeout(2400)]
REPO = Path(__file__).resolve().parents[2]
STEPS = 5
# checkpoints after steps 2 and 4: the kill follows the step-2 one, and however late it lands (the
# steps are short) the run is still short of its end, with a checkpoint before the kill to resume from
CHECKPOINT_EVERY = 2


def _train(config: Path, run: Path, *extra: str) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": f"{REPO}{os.pathsep}{os.environ.get('PYTHONPATH', '')}", "OMP_NUM_THREADS": "1"}
    log = open(run.parent / f"train{'-resume' if '--resume' in extra else ''}.log", "w")
    # its own session: the kill below takes the controller, then (cleanup) what it started
    return subprocess.Popen([sys.executable, "-m", "rlsys.train", "--config", str(config), "--run-dir", str(run), *extra],
                            stdout=log, stderr=subprocess.STDOUT, env=env, cwd=REPO, start_new_session=True)


def _kill_session(proc: subprocess.Popen) -> None:
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


def test_a_killed_controller_resumes_with_the_same_steps_and_question_sequence(make_config, sft_adapter, tmp_path):
    run = tmp_path / "run"
    cfg = make_config(run, f"train.steps={STEPS}", f"train.checkpoint_every={CHECKPOINT_EVERY}",
                      "train.max_staleness=1", "judge.reward=approach", "rollout.group_size=8",
                      "learner.lr=5e-3", "train.eval_questions=2")
    config = tmp_path / "config.yaml"
    config.write_text(yaml.safe_dump(cfg.model_dump(mode="json")))

    # an SFT'd policy (its groups vary, so steps train); a resume takes the adapter from the checkpoint
    first = _train(config, run, "--init-adapter", str(sft_adapter))
    try:
        wait_for("the step-2 checkpoint", lambda: checkpoint_done(run, 2) or first.poll() is not None,
                 timeout_s=1800, poll_s=0.05)
        assert first.poll() is None, (tmp_path / "train.log").read_text()[-4000:]
        os.kill(first.pid, signal.SIGKILL)  # the controller dies mid-run: no final checkpoint, no cleanup
        first.wait(timeout=120)
    finally:
        _kill_session(first)  # the Ray instance it started, with its actors
    assert first.returncode == -signal.SIGKILL
    trained_before = [r["step"] for r in read_metrics(run, stage="rl")]
    assert 2 <= max(trained_before) < STEPS  # killed mid-run
    newest = latest_checkpoint(run / "checkpoints")
    checkpoint_step = int(newest.name.split("-")[1])
    assert checkpoint_step in (2, 4) and checkpoint_step <= max(trained_before)

    second = _train(config, run, "--init-adapter", str(sft_adapter), "--resume")
    try:
        assert second.wait(timeout=1800) == 0, (tmp_path / "train-resume.log").read_text()[-6000:]
    finally:
        _kill_session(second)
    log = (tmp_path / "train-resume.log").read_text()
    resumed = re.search(rf"resumed from {re.escape(str(newest))}: step {checkpoint_step}, policy version (-?\d+)", log)
    assert resumed, log[-4000:]
    assert "training finished" in log
    rl = read_metrics(run, stage="rl")
    assert [r["step"] for r in rl] == list(range(1, STEPS + 1))  # steps past the checkpoint ran once more, once
    steps, ids = logged_question_ids(run)
    assert steps == list(range(1, STEPS + 1))
    assert ids == uninterrupted_question_ids(cfg)  # the same order; no duplicated or lost questions
    assert len(set(ids)) == len(ids) == STEPS * cfg.train.questions_per_step
    # the resumed steps ran whole (every group back) and trained: the adapter moved past
    # the checkpoint's version (the kill lands after the step-2 checkpoint: 3 steps, 6 groups of 8 with the
    # `approach` reward, which varies within most of this SFT'd policy's groups)
    after = [r for r in rl if r["step"] > checkpoint_step]
    episodes = cfg.train.questions_per_step * cfg.rollout.group_size
    assert all(r["episodes"] == episodes for r in after), after
    assert sum(r["learner_trained_trajectories"] for r in after) > 0, after
    assert rl[-1]["learner_policy_version"] > int(resumed.group(1)) >= 0
    assert (run / "eval" / "rl.json").is_file()
