"""Where every actor of a run actually runs, from Ray's state API (not from the config).

    report = placement_report(system)      # {"nodes": {...}, "roles": {"rollout": [{...}], ...}}
    write_placement(run_dir / "placement.json", system)

Each replica: its actor id, class, state, node id, pid, and (rollout workers) the policy version
of the adapter it holds; each node: its custom resources (`rollout`, `sandbox`, ...). Joining
the two shows which role landed on which kind of node. Needs the dashboard's state API (a
`ray start` cluster has it; a local instance started without a dashboard does not).
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import ray

STANDARD = ("CPU", "GPU", "memory", "object_store_memory")


def _custom(resources: dict[str, float]) -> dict[str, float]:
    return {k: v for k, v in resources.items() if k not in STANDARD and not k.startswith("node:")}


def _state_address() -> str:
    """The connected cluster's GCS address for the state API: without it the API autodetects, and
    fails where other Ray instances run on the driver's machine (a driver joined by address)."""
    return ray.get_runtime_context().gcs_address


def nodes_by_id() -> dict[str, dict[str, Any]]:
    from ray.util.state import list_nodes

    return {n.node_id: {"ip": n.node_ip, "state": n.state, "cpus": n.resources_total.get("CPU", 0.0),
                        "resources": _custom(n.resources_total)} for n in list_nodes(address=_state_address(), limit=1000)}


def actors_by_id(actor_ids: list[str], timeout_s: float = 60.0) -> dict[str, Any]:
    """State-API records of these actors, waiting (bounded) until each has a node."""
    from ray.util.state import list_actors

    deadline = time.monotonic() + timeout_s
    wanted = set(actor_ids)
    while True:
        found = {a.actor_id: a for a in list_actors(address=_state_address(), limit=10000, detail=True) if a.actor_id in wanted}
        if all(i in found and found[i].node_id for i in wanted) or time.monotonic() > deadline:
            return found
        time.sleep(1.0)


def placement_report(system: Any, timeout_s: float = 60.0) -> dict[str, Any]:
    roles = {"corpus": system.corpus, "sandbox": system.sandbox, "rollout": system.rollout,
             "judge": system.judges, "learner": system.learners}
    ids = {role: [h._actor_id.hex() for h in handles] for role, handles in roles.items()}
    actors = actors_by_id([i for role_ids in ids.values() for i in role_ids], timeout_s)
    versions: list[int | None] = []
    for worker in system.rollout:
        try:
            versions.append(int(ray.get(worker.policy_version.remote(), timeout=timeout_s)))
        except Exception:  # noqa: BLE001 - a lost replica is reported as such
            versions.append(None)
    report: dict[str, Any] = {"nodes": nodes_by_id(), "roles": {}}
    for role, role_ids in ids.items():
        rows = []
        for replica, actor_id in enumerate(role_ids):
            state = actors.get(actor_id)
            row = {"replica": replica, "actor_id": actor_id,
                   "class_name": getattr(state, "class_name", None), "state": getattr(state, "state", "UNKNOWN"),
                   "node_id": getattr(state, "node_id", None), "pid": getattr(state, "pid", None)}
            if role == "rollout":
                row["policy_version"] = versions[replica]
            rows.append(row)
        report["roles"][role] = rows
    return report


def write_placement(path: str | Path, system: Any) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(placement_report(system), indent=2))
    return path
