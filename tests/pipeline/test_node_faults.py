"""A whole worker node stopped mid-run on a real multi-node Ray cluster (`cluster/local-cluster.sh`:
a head and sandbox / rollout+judge / learner+corpus worker nodes, each its own `ray start`).

The sandbox node is killed (its raylet, both sandbox workers and their sandboxes) after the actors
are placed: the next step still finishes, the episodes that ran code come back as `infra_error`
(excluded, never scored as wrong) and the rest train; when the node comes back Ray re-places the
sandbox workers' placement-group bundles on it, the rollout workers route cells to them again,
and the following steps run clean and train, with every rollout replica on the last adapter."""

from __future__ import annotations

import json

import pytest
from fault_checks import wait_for
from local_cluster import LocalCluster

from rlsys.metrics import read_metrics

pytestmark = [pytest.mark.slow, pytest.mark.timeout(2700)]
# 16 episodes a step: this SFT'd policy calls a tool in about half its episodes (measured 0.25-0.75
# calls an episode), so the step with the node down has episodes that ran code, and the steps after
# it have cells run on the returned node
QUESTIONS = 4


def _sandbox_node_alive(ray) -> bool:
    return any(n["Alive"] and n["Resources"].get("sandbox", 0) > 0 for n in ray.nodes())


def _sandbox_workers_answer(ray, controller) -> bool:
    try:
        ray.get([w.stats.remote() for w in controller.system.sandbox], timeout=30)
        return True
    except (ray.exceptions.RayActorError, ray.exceptions.GetTimeoutError):
        return False


def test_a_stopped_sandbox_node_costs_its_episodes_and_the_run_goes_on_when_it_returns(make_config, sft_adapter,
                                                                                       tmp_path):
    import ray

    from rlsys.controller.loop import Controller

    run = tmp_path / "run"
    with LocalCluster() as cluster:
        cfg = make_config(
            run, "train.mode=cluster", f"train.ray_address={cluster.address}", "train.steps=1",
            "train.max_staleness=0", "train.checkpoint_every=0", "rollout.replicas=2", "sandbox.workers=2",
            f"train.questions_per_step={QUESTIONS}", "judge.reward=approach",
            # the preset's learning rate: the policy trains yet stays near the SFT one (its tool calls)
            # one CPU per worker node (cluster/local-cluster.sh), as configs/tiny-cluster.yaml sizes them
            "cluster.sandbox.cpus=0.45", "cluster.rollout.cpus=0.4", "cluster.judge.cpus=0.1",
            "cluster.learner.cpus=0.4", "cluster.corpus.cpus=0.2")
        controller = Controller(cfg, run, init_adapter=str(sft_adapter))
        try:
            controller.setup()
            stopped = cluster.script("stop-node", args=("sandbox",))
            assert stopped.returncode == 0, stopped.stderr
            wait_for("the sandbox node marked dead", lambda: not _sandbox_node_alive(ray), timeout_s=300, poll_s=1)
            controller.run()  # step 1 with the sandbox node down
            down = read_metrics(run, stage="rl")[-1]
            started = cluster.script("start-node", args=("sandbox",))
            assert started.returncode == 0, started.stderr
            wait_for("the sandbox workers back on their node",
                     lambda: _sandbox_workers_answer(ray, controller), timeout_s=600, poll_s=2)
            controller.cfg.train.steps = 3
            controller.run()  # steps 2 and 3 with the node back
        finally:
            controller.close()
            ray.shutdown()
    rl = read_metrics(run, stage="rl")
    assert [r["step"] for r in rl] == [1, 2, 3]
    # the step with the node down finished: its groups came back, the episodes that ran code as infra errors
    assert down["step"] == 1 and down["groups_lost"] == 0
    assert down["excluded_infra"] >= 1 and down["episodes"] == QUESTIONS * cfg.rollout.group_size
    # the node is back: no infra errors, and the run trains
    after = rl[1:]
    assert all(r["excluded_infra"] == 0 and r["groups_lost"] == 0 for r in after), after
    assert sum(r["mean_tool_calls"] for r in after) > 0  # cells ran on the returned node's sandboxes
    assert sum(r["learner_trained_trajectories"] for r in after) > 0
    final_version = rl[-1]["learner_policy_version"]
    assert final_version >= 1
    placement = json.loads((run / "placement.json").read_text())
    assert [row["policy_version"] for row in placement["roles"]["rollout"]] == [final_version] * 2
    for row in placement["roles"]["sandbox"]:
        assert row["state"] == "ALIVE"
        node = placement["nodes"][row["node_id"]]
        assert node["state"] == "ALIVE" and node["resources"].get("sandbox", 0) > 0
