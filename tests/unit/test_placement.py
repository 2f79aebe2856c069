import pytest

from rlsys.actors.placement import plan_placement
from rlsys.config import ConfigError, load_config


def test_local_mode_fits_two_cores():
    plan = plan_placement(load_config("configs/tiny-cpu.yaml"))
    total = sum(p.num_cpus * p.replicas for p in plan.values())
    assert total <= 2.0
    assert all(p.num_gpus == 0 and p.strategy is None for p in plan.values())


def test_collocated_shares_one_gpu():
    plan = plan_placement(load_config("configs/qwen3-4b-24gb.yaml"))
    assert sum(p.num_gpus * p.replicas for p in plan.values()) <= 1.0


def test_cluster_scales_roles_independently():
    cfg = load_config("configs/qwen3-4b-cluster.yaml", ["rollout.replicas=6", "sandbox.workers=10", "learner.gpus=4"])
    plan = plan_placement(cfg)
    assert (plan["rollout"].replicas, plan["sandbox"].replicas, plan["learner"].replicas) == (6, 10, 4)
    assert plan["learner"].strategy == "STRICT_PACK" and plan["rollout"].num_gpus == 1


def test_bad_replicas_are_refused():
    with pytest.raises(ConfigError, match=r"sandbox\.workers: must be >= 1 \(got 0\)"):
        load_config("configs/tiny-cpu.yaml", ["sandbox.workers=0"])
    cfg = load_config("configs/tiny-cpu.yaml")
    unchecked = cfg.model_copy(update={"sandbox": cfg.sandbox.model_copy(update={"workers": 0})})  # skips validation
    with pytest.raises(ValueError, match="sandbox replicas"):
        plan_placement(unchecked)
