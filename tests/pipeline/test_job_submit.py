"""`ray job submit` of the cluster preset to a real multi-node Ray cluster on this machine
(`cluster/local-cluster.sh`: a head and sandbox / rollout+judge / learner+corpus worker nodes)."""

from __future__ import annotations

import json

import pytest
from local_cluster import LocalCluster

from rlsys.metrics import read_metrics

pytestmark = [pytest.mark.slow, pytest.mark.timeout(2700)]  # the shared SFT fixture (if first) + the job: ~10 min
ROLE_CLASSES = {"corpus": "CorpusActor", "sandbox": "SandboxWorker", "rollout": "RolloutWorker",
                "judge": "JudgeActor", "learner": "LearnerActor"}
REPLICAS = {"corpus": 1, "sandbox": 2, "rollout": 2, "judge": 1, "learner": 2}  # configs/tiny-cluster.yaml


@pytest.fixture(scope="module")
def policy(pipeline_artifacts, sft_adapter):
    """(base model, SFT adapter): the pipeline tests' nano model, pretrained as the demo does, and its
    adapter SFT'd on scripted-expert trajectories, so that its rollouts call tools now and then and
    groups vary (a random-init policy never calls a tool: every reward is the same and every step is
    skipped). Both are read-only here: every node reads them from this machine's disk."""
    _, model = pipeline_artifacts
    return model, sft_adapter


def test_cluster_job_places_every_role_on_its_nodes_and_trains(policy, tmp_path):
    from ray.util.state import list_actors, list_nodes

    model, sft_adapter = policy
    run_dir = tmp_path / "run"
    with LocalCluster() as cluster:
        # the index dir is relative: the corpus node builds it inside its copy of the working dir
        job = cluster.submit("--config", "configs/tiny-cluster.yaml", "--set", f"model.path={model}",
                             "--set", "corpus.index_dir=artifacts/index/job-synthetic-60",
                             "--init-adapter", str(sft_adapter), "--run-dir", str(run_dir))
        output = job.stdout + job.stderr
        assert job.returncode == 0, output[-6000:]
        assert "succeeded" in output and "training finished" in output, output[-6000:]
        # from Ray's state API, independently of what the run wrote: each role's actors ran on nodes
        # that advertise the role's resource
        nodes = {n.node_id: n.resources_total for n in list_nodes(address=cluster.dashboard, limit=100)}
        actors = list_actors(address=cluster.dashboard, limit=10000, detail=True)
    for role, class_name in ROLE_CLASSES.items():
        placed = {a.actor_id: a.node_id for a in actors if a.class_name == class_name}
        assert len(placed) == REPLICAS[role], (role, placed)
        for node_id in placed.values():
            assert nodes[node_id].get(role, 0) > 0, (role, node_id, nodes[node_id])

    rl = read_metrics(run_dir, stage="rl")
    assert [r["step"] for r in rl] == [1, 2, 3]
    assert sum(r["learner_trained_trajectories"] for r in rl) > 0
    final_version = rl[-1]["learner_policy_version"]
    assert final_version >= 1
    # the run's own placement record (written from the state API at the end) agrees, and every
    # rollout replica holds the last adapter: versions advanced on each of them
    placement = json.loads((run_dir / "placement.json").read_text())
    for role, rows in placement["roles"].items():
        assert len(rows) == REPLICAS[role]
        for row in rows:
            assert row["state"] == "ALIVE"
            assert placement["nodes"][row["node_id"]]["resources"].get(role, 0) > 0, (role, row)
    assert [row["policy_version"] for row in placement["roles"]["rollout"]] == [final_version] * 2
    learner_nodes = {row["node_id"] for row in placement["roles"]["learner"]}
    assert len(learner_nodes) == 1  # the two DeepSpeed ranks are packed on the learner node
    # the DeepSpeed learner checkpointed (every 2 steps and at the end)
    checkpoints = sorted(p.name for p in (run_dir / "checkpoints").glob("step-*"))
    assert checkpoints == ["step-000002", "step-000003"]
    assert (run_dir / "eval" / "rl.json").is_file()
