"""`ray job submit` of the tiny preset to a local `ray start --head` cluster (what a cluster user runs)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from rlsys.metrics import read_metrics

pytestmark = pytest.mark.slow
RAY = str(Path(sys.executable).with_name("ray"))


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_ray_job_submit_trains_and_writes_metrics(pipeline_artifacts, tmp_path):
    index, model = pipeline_artifacts
    port, dashboard = _free_port(), _free_port()
    # the cluster's `python` is this virtualenv's, as on a cluster node built from the trainer image;
    # the throwaway cluster listens on loopback only, so it runs without Ray's token auth
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}:{os.environ.get('PATH', '')}",
           "RAY_AUTH_MODE": "disabled"}
    head = subprocess.run(
        [RAY, "start", "--head", "--node-ip-address=127.0.0.1", "--num-cpus=2", f"--port={port}", "--include-dashboard=true",
         "--dashboard-host=127.0.0.1", f"--dashboard-port={dashboard}", "--disable-usage-stats"],
        capture_output=True, text=True, timeout=300, env=env,
    )
    assert head.returncode == 0, head.stdout + head.stderr
    run_dir = tmp_path / "run"
    try:
        job = subprocess.run(
            [RAY, "job", "submit", "--address", f"http://127.0.0.1:{dashboard}", "--working-dir", ".",
             "--runtime-env", "cluster/runtime_env.yaml", "--",
             "python", "-m", "rlsys.train", "--config", "configs/tiny-cpu.yaml",
             "--set", f"model.path={model}", "--set", f"corpus.index_dir={index}",
             "--set", "corpus.synthetic_entities=60", "--set", f"train.ray_address=127.0.0.1:{port}",
             "--set", "train.steps=2", "--set", "train.questions_per_step=1", "--set", "rollout.group_size=4",
             "--set", "rollout.max_new_tokens=32", "--set", "train.eval_questions=2", "--set", "train.eval_every=0",
             "--set", "sandbox.containers_per_worker=2", "--set", "sandbox.burst_containers=2",
             "--run-dir", str(run_dir)],
            capture_output=True, text=True, timeout=1200, env=env,
        )
        output = job.stdout + job.stderr
        assert job.returncode == 0, output[-4000:]
        assert "succeeded" in output and "training finished" in output, output[-4000:]
    finally:
        subprocess.run([RAY, "stop", "--force"], capture_output=True, timeout=120, env=env)
    steps = [r["step"] for r in read_metrics(run_dir, stage="rl")]
    assert steps == [1, 2]
    assert (run_dir / "eval" / "rl.json").is_file()
