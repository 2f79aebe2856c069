"""A role or learner rank the cluster cannot place fails the start by its deadline, with a message
naming what is missing (instead of waiting forever)."""

from __future__ import annotations

import time

import pytest

from rlsys.actors.placement import PlacementError, PlacementGroups, RolePlan, plan_placement
from rlsys.config import load_config


@pytest.fixture(scope="module")
def small_ray():
    import ray

    ray.init(address="local", num_cpus=2, include_dashboard=False, log_to_driver=False,
             runtime_env={"env_vars": {"OMP_NUM_THREADS": "1"}})
    yield
    ray.shutdown()


@pytest.mark.slow
def test_a_placement_group_that_cannot_fit_fails_with_the_missing_resources(small_ray):
    groups = PlacementGroups({"rollout": RolePlan("rollout", 2, 8.0, strategy="SPREAD", resources={"rollout": 1})},
                             timeout_s=3)
    start = time.monotonic()
    with pytest.raises(PlacementError, match=r"rollout placement group \(2 x \{'CPU': 8.0\}.*within 3 s.*Nodes offer"):
        groups.options("rollout", 0)
    assert time.monotonic() - start < 60


@pytest.mark.slow
def test_a_learner_rank_that_cannot_be_placed_is_named(small_ray, tmp_path):
    from rlsys.actors.learner_actor import LearnerStartError, create_learner_actors

    cfg = load_config("configs/tiny-cluster.yaml", ["train.mode=local", "cluster.placement_timeout_s=60",
                                                     f"model.path={tmp_path / 'none'}"])
    # rank 1 asks for more CPUs than the instance has; rank 0 fits (and starts within the deadline)
    with pytest.raises(LearnerStartError, match=r"learner rank\(s\) \[1\] of 2 were not placed within 60 s; rank 1 asks for \{'num_cpus': 64\}"):
        create_learner_actors(cfg, options=lambda rank: {"num_cpus": 0.1 if rank == 0 else 64})


def test_cluster_plan_reads_the_per_role_resources():
    plan = plan_placement(load_config("configs/tiny-cluster.yaml"))
    assert {r: p.replicas for r, p in plan.items()} == {"corpus": 1, "sandbox": 2, "rollout": 2, "judge": 1, "learner": 2}
    assert plan["learner"].bundle() == {"CPU": 0.4, "learner": 1} and plan["learner"].strategy == "STRICT_PACK"
    # each worker node of cluster/local-cluster.sh has one CPU: the roles it hosts fit in it
    per_node = {"sandbox": ["sandbox"], "rollout": ["rollout", "judge"], "learner": ["learner", "corpus"]}
    for roles in per_node.values():
        assert sum(plan[r].num_cpus * plan[r].replicas for r in roles) <= 1.0
    gpu = plan_placement(load_config("configs/qwen3-4b-cluster.yaml"))
    assert gpu["rollout"].num_gpus == 1 and gpu["judge"].num_gpus == 1 and gpu["learner"].replicas == 2


def test_zero3_is_refused_at_planning():
    with pytest.raises(ValueError, match="deepspeed_stage=3 is refused"):
        plan_placement(load_config("configs/tiny-cluster.yaml", ["learner.deepspeed_stage=3"]))


@pytest.fixture(scope="module")
def start_actors():
    """An actor class for start-up failures: `mode` "raise" fails its constructor, else it starts."""
    import ray

    @ray.remote(num_cpus=0, max_restarts=-1, max_task_retries=0)
    class Replica:
        def __init__(self, mode: str = "ok"):
            if mode == "raise":
                raise RuntimeError("the index is missing on this node")

        def ready(self) -> bool:
            return True

    return Replica


def _plans(**roles: dict[str, float]) -> dict[str, RolePlan]:
    return {role: RolePlan(role, 1, 0.0, resources=res) for role, res in roles.items()}


@pytest.mark.slow
def test_a_replica_that_dies_before_it_starts_is_named_with_rays_cause(small_ray, start_actors):
    from rlsys.actors.start_wait import StartError, wait_started

    good, bad = start_actors.remote(), start_actors.remote("raise")
    calls = [("sandbox", 0, good, good.ready.remote()), ("corpus", 0, bad, bad.ready.remote())]
    with pytest.raises(StartError, match=r"corpus replica 0 of 1 died before it started \(deadline 120 s, "
                                         r"train.setup_timeout_s\): state (DEAD|RESTARTING).*Each replica asks for"):
        wait_started(calls, 120, _plans(sandbox={}, corpus={}))


@pytest.mark.slow
def test_a_replica_removed_before_it_ran_says_so(small_ray, start_actors):
    """Ray's account of an actor destroyed while it was still being created (how the node-fault
    test's CorpusActor died once) reaches the error: the cause and that it never started."""
    import ray

    from rlsys.actors.start_wait import StartError, wait_started

    pending = start_actors.options(resources={"corpus": 1}).remote()  # no node has `corpus`: never placed
    ref = pending.ready.remote()
    ray.kill(pending, no_restart=True)
    with pytest.raises(StartError, match=r"corpus replica 0 of 1 died before it started.*state DEAD, death cause: "
                                         r".*killed by `ray.kill`.* \(it never started\).*no alive node has 'corpus'"):
        wait_started([("corpus", 0, pending, ref)], 60, _plans(corpus={"corpus": 1}))


@pytest.mark.slow
def test_a_replica_that_cannot_be_placed_misses_the_deadline_naming_the_resource(small_ray, start_actors):
    from rlsys.actors.start_wait import StartError, wait_started

    pending = start_actors.options(resources={"judge": 1}).remote()
    start = time.monotonic()
    with pytest.raises(StartError, match=r"1 replica\(s\) did not start within 3 s \(train.setup_timeout_s\): judge 0 "
                                         r"\(state (PENDING_CREATION|DEPENDENCIES_UNREADY)\).*judge: Each replica asks for "
                                         r"\{'CPU': 0.0, 'judge': 1\} \(on a node with the resource 'judge'\); "
                                         r"no alive node has 'judge'.*Nodes offer"):
        wait_started([("judge", 0, pending, pending.ready.remote())], 3, _plans(judge={"judge": 1}))
    assert time.monotonic() - start < 30
