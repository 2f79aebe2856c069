"""Whole worker nodes stopped mid-run on a real multi-node Ray cluster (`cluster/local-cluster.sh`:
a head and sandbox / rollout+judge / learner+corpus / second-rollout worker nodes, each its own
`ray start`), one cluster and one run for both faults:

1. the sandbox node (its raylet, both sandbox workers and their sandboxes) is killed: the step
   still finishes, every episode (each runs the environment's setup cell) comes back
   `infra_error` (excluded, never scored as wrong) and fast (the client sees the workers
   RESTARTING instead of waiting out the open deadline); the node comes back, Ray re-places the
   sandbox workers on it and the rollout workers route cells to them again;
2. the node of one rollout replica is killed: that replica's groups are dropped as infra errors,
   the other replica's groups finish the step; the node comes back, Ray restarts the replica,
   which is re-sent the current adapter;
3. with both nodes back, the following steps run clean, train, and every rollout replica ends on
   the last adapter version."""

from __future__ import annotations

import json
import os

import pytest
from fault_checks import wait_for
from local_cluster import LocalCluster

from rlsys.actors.liveness import actor_state
from rlsys.metrics import read_metrics

pytestmark = [
    pytest.mark.slow, pytest.mark.timeout(2700),
    # Opt-in until its one failed start is explained: in the wave-6 fresh-clone run a CorpusActor
    # died in System.start before any fault ("all references to the actor were removed ... cancelled
    # before it started running"); it passed in every other run (README, "What is not yet verified").
    # A failed start now reports Ray's account and the GCS's lines on ended actors.
    pytest.mark.skipif(os.environ.get("RLSYS_NODE_FAULT_TESTS") != "1",
                       reason="node-fault test is opt-in (RLSYS_NODE_FAULT_TESTS=1): its cluster start failed once "
                              "(a CorpusActor ended by Ray before it ran), cause not yet pinned; see README"),
]
# 4 groups of 8 a step; after both nodes are back 5 steps (20 groups) with the `approach` reward.
# Measured with groups of 4 and 3 steps after the return: 2 of 12 groups had reward variance (all
# in one step), so groups of 8 over 5 steps leave nothing-trained a very unlikely outcome
QUESTIONS = 4
GROUP = 8
STEPS_AFTER = 5


def _node_alive(ray, name: str) -> bool:
    """The worker node of `cluster/local-cluster.sh` called `name` is alive (by its resources)."""
    want = {"sandbox": ("sandbox", None), "rollout2": ("rollout", "judge")}[name]
    return any(n["Alive"] and n["Resources"].get(want[0], 0) > 0 and (want[1] is None or want[1] not in n["Resources"])
               for n in ray.nodes())


def _answer(ray, handles) -> bool:
    try:
        ray.get([h.__ray_ready__.remote() for h in handles], timeout=30)
        return True
    except (ray.exceptions.RayActorError, ray.exceptions.GetTimeoutError):
        return False


def _node_of(handle) -> str:
    from ray._private import state

    return state.actors(actor_id=handle._actor_id.hex())["Address"]["NodeID"]


def test_stopped_worker_nodes_cost_their_episodes_and_the_run_goes_on_when_they_return(make_config, sft_adapter,
                                                                                       tmp_path):
    import ray

    from rlsys.controller.loop import Controller

    run = tmp_path / "run"
    with LocalCluster(extra=("rollout2",)) as cluster:
        cfg = make_config(
            run, "train.mode=cluster", f"train.ray_address={cluster.address}", "train.steps=1",
            "train.max_staleness=0", "train.checkpoint_every=0", "rollout.replicas=2", "sandbox.workers=2",
            f"train.questions_per_step={QUESTIONS}", f"rollout.group_size={GROUP}", "judge.reward=approach",
            "train.eval_questions=2",
            # guards only: a dead replica's calls fail at once, these bound a step that would hang instead
            "train.collect_timeout_s=900", "train.push_timeout_s=300",
            # one CPU per worker node (cluster/local-cluster.sh), as configs/tiny-cluster.yaml sizes them
            "cluster.sandbox.cpus=0.45", "cluster.rollout.cpus=0.4", "cluster.judge.cpus=0.1",
            "cluster.learner.cpus=0.4", "cluster.corpus.cpus=0.2")
        controller = Controller(cfg, run, init_adapter=str(sft_adapter))
        try:
            try:
                controller.setup()
            except Exception as err:  # the start's error with Ray's record of why actors ended
                raise AssertionError(f"the cluster's start failed: {err}\nGCS on ended actors:\n"
                                     f"{cluster.gcs_actor_deaths()}") from err
            system = controller.system
            rollout2 = {n["NodeID"] for n in ray.nodes() if n["Alive"] and "rollout" in n["Resources"]
                        and "judge" not in n["Resources"]}
            on_rollout2 = [i for i, w in enumerate(system.rollout) if _node_of(w) in rollout2]
            assert len(on_rollout2) == 1, "the two rollout replicas must be spread over the two rollout nodes"

            # 1. the sandbox node goes away for a step
            assert cluster.script("stop-node", args=("sandbox",)).returncode == 0
            # the whole node goes: its renamed agents and workers too (SIGKILLed: gone within seconds)
            wait_for("no process of the sandbox node", lambda: not cluster.node_processes("sandbox"), timeout_s=15)
            wait_for("the sandbox node marked dead", lambda: not _node_alive(ray, "sandbox"), timeout_s=300, poll_s=1)
            controller.run()  # step 1
            assert cluster.script("start-node", args=("sandbox",)).returncode == 0
            wait_for("the sandbox workers back on their node", lambda: _answer(ray, system.sandbox),
                     timeout_s=600, poll_s=2)

            # 2. the node of one rollout replica goes away for a step
            assert cluster.script("stop-node", args=("rollout2",)).returncode == 0
            wait_for("no process of the rollout2 node", lambda: not cluster.node_processes("rollout2"), timeout_s=15)
            wait_for("the second rollout node marked dead", lambda: not _node_alive(ray, "rollout2"),
                     timeout_s=300, poll_s=1)
            controller.cfg.train.steps = 2
            controller.run()  # step 2
            assert cluster.script("start-node", args=("rollout2",)).returncode == 0
            lost = system.rollout[on_rollout2[0]]
            wait_for("the rollout replica back on its node",
                     lambda: actor_state(lost) == "ALIVE" and _answer(ray, [lost]), timeout_s=600, poll_s=2)

            # 3. both nodes back
            controller.cfg.train.steps = 2 + STEPS_AFTER
            controller.run()
        finally:
            controller.close()
            ray.shutdown()
    rl = read_metrics(run, stage="rl")
    assert [r["step"] for r in rl] == list(range(1, 3 + STEPS_AFTER))
    episodes = QUESTIONS * cfg.rollout.group_size
    sandbox_down, rollout_down, after = rl[0], rl[1], rl[2:]
    # the step with the sandbox node down finished: every group came back, every episode an infra error
    assert sandbox_down["groups_lost"] == 0, sandbox_down
    assert sandbox_down["episodes"] == sandbox_down["excluded_infra"] == episodes, sandbox_down
    assert sandbox_down["learner_trained_trajectories"] == 0, sandbox_down  # nothing scored as wrong
    # the step with one rollout node down: its replica's groups lost, the other replica's kept and clean
    assert 1 <= rollout_down["groups_lost"] < QUESTIONS, rollout_down
    assert rollout_down["excluded_infra"] == 0, rollout_down
    # both back: no lost group, no infra error (every episode ran its setup cell on the returned sandbox
    # node's workers), and it trained
    assert all(r["excluded_infra"] == 0 and r["groups_lost"] == 0 and r["episodes"] == episodes for r in after), after
    assert sum(r["learner_trained_trajectories"] for r in after) > 0
    final_version = rl[-1]["learner_policy_version"]
    assert final_version > rollout_down["learner_policy_version"]  # the adapter advanced after the returns
    placement = json.loads((run / "placement.json").read_text())
    assert [row["policy_version"] for row in placement["roles"]["rollout"]] == [final_version] * 2
    for role in ("sandbox", "rollout"):
        for row in placement["roles"][role]:
            node = placement["nodes"][row["node_id"]]
            assert row["state"] == "ALIVE" and node["state"] == "ALIVE" and node["resources"].get(role, 0) > 0
