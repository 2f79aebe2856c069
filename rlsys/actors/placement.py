"""Placement plan: the Ray resources each role asks for, per mode.

- `local`      — one machine, no GPU: every actor gets a fraction of a CPU (the tiny preset).
- `collocated` — one GPU shared by rollout, judge and learner through fractional GPU shares;
                 the engines sleep outside their phase and the memory plan checks the fit.
- `cluster`    — one placement group per role, each replica a bundle, so rollout, sandbox,
                 judge, corpus and learner scale independently (`rollout.replicas`, ...).

`plan_placement(cfg)` is pure (no Ray); `actor_options(role_plan, index)` turns a bundle into
`.options(...)` keyword arguments, creating placement groups lazily on first use.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from rlsys.config import Config

ROLES = ("corpus", "sandbox", "rollout", "judge", "learner")


@dataclass
class RolePlan:
    role: str
    replicas: int
    num_cpus: float
    num_gpus: float = 0.0
    strategy: str | None = None          # placement-group strategy (cluster mode), else None
    resources: dict[str, float] = field(default_factory=dict)

    def bundle(self) -> dict[str, float]:
        bundle = {"CPU": self.num_cpus, **self.resources}
        if self.num_gpus:
            bundle["GPU"] = self.num_gpus
        return bundle


def learner_ranks(cfg: Config) -> int:
    """Learner processes: `learner.gpus` DeepSpeed ranks, or 1 on the plain torch path."""
    if cfg.learner.deepspeed_stage == 3:
        raise ValueError(
            "learner.deepspeed_stage=3 is refused: ZeRO-3 partitions the LoRA parameters, and the adapter "
            "export and checkpoints read them whole; use stage 1 or 2 (a LoRA's optimizer state is small)")
    return cfg.learner.gpus if cfg.learner.deepspeed_stage > 0 else 1


def plan_placement(cfg: Config) -> dict[str, RolePlan]:
    mode = cfg.train.mode
    replicas = {
        "corpus": cfg.corpus.replicas,
        "sandbox": cfg.sandbox.workers,
        "rollout": cfg.rollout.replicas,
        "judge": cfg.judge.replicas if cfg.judge.kind != "rule" or mode != "collocated" else 1,
        "learner": learner_ranks(cfg),
    }
    for role, n in replicas.items():
        if n < 1:
            raise ValueError(f"{role} replicas must be >= 1, got {n}")
    if mode == "local":
        # 2-core laptop: the rollout worker is the busiest (engine), the rest mostly wait.
        cpus = {"corpus": 0.2, "sandbox": 0.2, "rollout": 0.5, "judge": 0.1, "learner": 0.5}
        return {r: RolePlan(r, replicas[r], cpus[r]) for r in ROLES}
    if mode == "collocated":
        if cfg.rollout.replicas != 1 or cfg.judge.replicas != 1 or cfg.learner.gpus != 1:
            raise ValueError("collocated mode runs one rollout worker, one judge and one learner on one GPU")
        gpus = {"rollout": 0.4, "judge": 0.2 if cfg.judge.kind == "llm" else 0.0, "learner": 0.4}
        cpus = {"corpus": 1, "sandbox": 1, "rollout": 1, "judge": 1, "learner": 1}
        return {r: RolePlan(r, replicas[r], cpus[r], gpus.get(r, 0.0)) for r in ROLES}
    if mode == "cluster":
        res = cfg.cluster
        gpus = {r: getattr(res, r).gpus for r in ROLES}
        if cfg.judge.kind != "llm":
            gpus["judge"] = 0.0
        # the learner's ranks rendezvous over one node's loopback/NVLink: packed; the other roles spread
        return {
            r: RolePlan(r, replicas[r], getattr(res, r).cpus, gpus[r],
                        strategy="STRICT_PACK" if r == "learner" else "SPREAD", resources={r: 1})
            for r in ROLES
        }
    raise ValueError(f"unknown train.mode {mode!r}")


class PlacementError(RuntimeError):
    """A role (or learner rank) that the cluster cannot place; the message says what is missing."""


def describe_nodes() -> str:
    """Each alive node's available resources (for placement errors)."""
    import ray

    parts = []
    for node in ray.nodes():
        if not node.get("Alive"):
            continue
        res = {k: v for k, v in node["Resources"].items()
               if not k.startswith("node:") and k not in ("memory", "object_store_memory")}
        parts.append(f"{node['NodeID'][:8]} {res}")
    return "; ".join(parts) or "no alive node"


class PlacementGroups:
    """Creates (cluster mode) one placement group per role and hands out per-replica options."""

    def __init__(self, plan: dict[str, RolePlan], timeout_s: float = 600.0):
        self.plan = plan
        self.timeout_s = timeout_s
        self._groups: dict[str, Any] = {}

    def options(self, role: str, index: int) -> dict[str, Any]:
        role_plan = self.plan[role]
        opts: dict[str, Any] = {"num_cpus": role_plan.num_cpus}
        if role_plan.num_gpus:
            opts["num_gpus"] = role_plan.num_gpus
        if role_plan.strategy is None:
            return opts
        import ray
        from ray.util.scheduling_strategies import PlacementGroupSchedulingStrategy

        # Node labels (custom resources `rollout`, `sandbox`, `judge`, `corpus`, `learner`) pin roles to node types
        # where the cluster defines them (cluster/cluster.yaml does); elsewhere they are dropped.
        labels = {k: v for k, v in role_plan.resources.items() if k in ray.cluster_resources()}
        if role not in self._groups:
            bundle = {**{k: v for k, v in role_plan.bundle().items() if k not in role_plan.resources}, **labels}
            group = ray.util.placement_group([bundle] * role_plan.replicas, strategy=role_plan.strategy,
                                             name=f"rlsys-{role}")
            try:
                ray.get(group.ready(), timeout=self.timeout_s)
            except ray.exceptions.GetTimeoutError:
                ray.util.remove_placement_group(group)
                raise PlacementError(
                    f"the {role} placement group ({role_plan.replicas} x {bundle}, {role_plan.strategy}) could not be "
                    f"placed within {self.timeout_s:.0f} s (cluster.placement_timeout_s). Nodes offer: "
                    f"{describe_nodes()}. Lower the {role} replicas or cluster.{role}.cpus/gpus, or add a node "
                    f"with the resource '{role}'.") from None
            self._groups[role] = group
        opts["scheduling_strategy"] = PlacementGroupSchedulingStrategy(
            placement_group=self._groups[role], placement_group_bundle_index=index % role_plan.replicas
        )
        if labels:
            opts["resources"] = labels
        return opts

    def remove(self) -> None:
        """Removes the placement groups created so far (their actors are killed by Ray)."""
        import ray

        for group in self._groups.values():
            try:
                ray.util.remove_placement_group(group)
            except Exception:  # noqa: BLE001 - already removed, or the cluster is gone
                pass
        self._groups.clear()
