"""Waiting for a role's actors to start, with one deadline and an error that says what failed.

    wait_started([("corpus", i, a.ready.remote()) for i, a in enumerate(corpus)], 1800, plan)

A replica that does not answer within the deadline, or that Ray reports dead before it answered,
fails the start with a `StartError` naming the role, the replica, what it asks for (its bundle
and the node resource `<role>` that pins it to its node type), which of those resources no alive
node offers, the deadline, and Ray's own account of the actor (state, death cause) and of the
nodes. Without it a start that fails shows a bare `ActorDiedError` of one actor, and nothing of
the placement it was waiting for.
"""

from __future__ import annotations

import time
from typing import Any, Iterable

import ray

from rlsys.actors.placement import RolePlan, describe_nodes


class StartError(RuntimeError):
    """A role's replica that did not start: died before it answered, or missed the deadline."""


def _ray_account(handle: Any) -> str:
    """The actor's state and death cause in the GCS (one line each), or why they are unknown."""
    try:
        from ray._private import state

        info = state.actors(actor_id=handle._actor_id.hex()) or {}
    except Exception as err:  # noqa: BLE001 - the report must not hide the start error
        return f"(its GCS state could not be read: {type(err).__name__})"
    text, cause = "", info.get("DeathCause")
    which = cause.WhichOneof("context") if hasattr(cause, "WhichOneof") else None
    if which:  # an ActorDeathCause proto: its one context's message (and whether the actor ever ran)
        context = getattr(cause, which)
        text = getattr(context, "error_message", "") or getattr(context, "formatted_exception_string", "")
        text = ([line for line in text.strip().splitlines() if line.strip()] or [which])[-1]
        if getattr(context, "never_started", False):
            text += " (it never started)"
    return f"state {info.get('State', '?')}" + (f", death cause: {text}" if text else "")


def missing_resources(bundle: dict[str, float]) -> list[str]:
    """The resources of `bundle` that no alive node has (in total) as much of as the bundle asks."""
    nodes = [n["Resources"] for n in ray.nodes() if n.get("Alive")]
    return [k for k, v in bundle.items() if v > 0 and not any(res.get(k, 0.0) >= v for res in nodes)]


def describe_need(plan: RolePlan) -> str:
    """What one replica of the role asks for, and which of it the cluster lacks."""
    bundle = plan.bundle()
    where = f" (on a node with the resource '{plan.role}')" if plan.role in plan.resources else ""
    missing = missing_resources(bundle)
    lack = (f"no alive node has {', '.join(repr(k) for k in missing)}" if missing
            else "every resource it asks for is on some alive node")
    return f"Each replica asks for {bundle}{where}; {lack}"


def wait_started(calls: Iterable[tuple[str, int, Any, Any]], timeout_s: float,
                 plans: dict[str, RolePlan]) -> list[Any]:
    """The results of `(role, index, handle, ref)` start calls, in order, within one deadline."""
    calls = list(calls)
    results: list[Any] = [None] * len(calls)
    position = {ref: i for i, (_, _, _, ref) in enumerate(calls)}
    pending = [ref for *_, ref in calls]
    deadline = time.monotonic() + timeout_s
    while pending:
        left = deadline - time.monotonic()
        done, pending = ray.wait(pending, num_returns=1, timeout=max(0.0, left)) if left > 0 else ([], pending)
        if not done:
            late = [calls[position[ref]] for ref in pending]
            roles = sorted({role for role, *_ in late})
            raise StartError(
                f"{len(late)} replica(s) did not start within {timeout_s:g} s (train.setup_timeout_s): "
                + "; ".join(f"{role} {index} ({_ray_account(handle)})" for role, index, handle, _ in late)
                + ". " + " ".join(f"{role}: {describe_need(plans[role])}." for role in roles)
                + f" Nodes offer: {describe_nodes()}")
        for ref in done:
            i = position[ref]
            role, index, handle, _ = calls[i]
            try:
                results[i] = ray.get(ref, timeout=0)
            except ray.exceptions.RayActorError as err:
                raise StartError(
                    f"{role} replica {index} of {plans[role].replicas} died before it started "
                    f"(deadline {timeout_s:g} s, train.setup_timeout_s): {_ray_account(handle)}. "
                    f"{describe_need(plans[role])}. Nodes offer: {describe_nodes()}") from err
    return results
