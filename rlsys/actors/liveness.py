"""Awaiting an actor's call with a deadline, failing at once when Ray already knows the actor is gone.

A call to an actor whose node died need not fail by itself: Ray marks the actor RESTARTING and
may hold the call until the actor is re-created, which waits for the node (its placement-group
bundle) to come back (Ray 2.60 usually raises `ActorUnavailableError` at once; nothing promises
it). `await_call` polls the actor's state in the GCS while it waits and raises `ActorUnavailable`
as soon as the state is RESTARTING or DEAD; the deadline stays for the case Ray cannot tell (an
actor that is alive but slow, or a state lookup that fails).
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

NOT_SERVING = frozenset({"RESTARTING", "DEAD"})
POLL_S = 1.0  # how often a pending call checks its actor's state


class ActorUnavailable(RuntimeError):
    """Ray reports the actor RESTARTING or DEAD (its process or its node died) while a call waits on it."""


def actor_state(handle: Any) -> str | None:
    """The actor's state in the GCS (`ALIVE`, `RESTARTING`, `DEAD`, ...), or None when unknown."""
    try:
        from ray._private import state

        info = state.actors(actor_id=handle._actor_id.hex())
    except Exception:  # noqa: BLE001 - no GCS answer: unknown, the caller's deadline decides
        return None
    return info.get("State") if info else None


async def await_call(ref: Any, handle: Any, timeout_s: float, poll_s: float = POLL_S) -> Any:
    """The result of `ref` (a call on `handle`); `ActorUnavailable` as soon as Ray reports the actor
    not serving, `asyncio.TimeoutError` after `timeout_s`. The call is cancelled either way."""
    task = asyncio.ensure_future(ref)
    deadline = time.monotonic() + timeout_s
    try:
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise asyncio.TimeoutError(f"no answer within {timeout_s:g} s")
            done, _ = await asyncio.wait({task}, timeout=min(poll_s, left))
            if done:
                return task.result()
            state = await asyncio.to_thread(actor_state, handle)
            if state in NOT_SERVING:
                raise ActorUnavailable(f"the actor is {state} (its process or node died)")
    finally:
        if not task.done():
            task.cancel()
