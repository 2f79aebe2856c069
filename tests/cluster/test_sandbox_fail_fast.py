"""`SandboxClient` against sandbox workers whose node is gone, on a real local Ray instance.

A worker on a dead node is RESTARTING in Ray (re-created when its placement-group bundle can be
placed again) and a call to it waits in Ray's queue: the client must see the state and fail the
episode as `infra_error` at once instead of waiting out its open deadline (3 x 60 s per episode
before). A worker that Ray reports alive but that never answers still fails by the deadline.
"""

from __future__ import annotations

import asyncio
import os

import pytest

from rlsys.actors.liveness import ActorUnavailable, actor_state, await_call
from rlsys.actors.sandbox_worker import SandboxClient
from rlsys.sandbox.types import ExecResult, ExecStatus

pytestmark = pytest.mark.slow
# far above what failing fast takes (one state poll, ~1 s) and far below the 180 s open deadline
FAST_S = 60.0


def _worker_class(ray):
    @ray.remote(num_cpus=0.1, max_restarts=1, max_concurrency=8)
    class Worker:
        """The SandboxWorker interface; once crashed, its re-creation never completes (its node is gone)."""

        def __init__(self):
            if ray.get_runtime_context().was_current_actor_reconstructed:
                import time

                time.sleep(3600)  # the restart waits like one for a node that does not come back

        async def open(self, episode_id: str) -> None:
            if episode_id.startswith("hang"):
                await asyncio.Event().wait()  # alive, never answers: Ray cannot tell

        async def run(self, episode_id: str, code: str, timeout_s: float | None = None) -> ExecResult:
            return ExecResult(status=ExecStatus.OK, stdout=f"ran {code}")

        async def close(self, episode_id: str) -> None:
            return None

        def crash(self) -> None:
            os._exit(1)

    return Worker


def _wait_state(ray, worker, want: str) -> None:
    async def poll() -> None:
        while actor_state(worker) != want:
            await asyncio.sleep(0.2)

    asyncio.run(asyncio.wait_for(poll(), 120))


def test_episodes_on_a_worker_ray_reports_restarting_fail_fast_as_infra_error(small_ray):
    ray = small_ray
    worker, silent = _worker_class(ray).remote(), _worker_class(ray).remote()
    try:
        client = SandboxClient([worker])
        assert asyncio.run(_episode(client, "ok-1")).status == ExecStatus.OK  # a live worker runs the cell
        worker.crash.remote()
        _wait_state(ray, worker, "RESTARTING")
        result = asyncio.run(asyncio.wait_for(_episode(client, "down-1"), FAST_S))
        assert result.status == ExecStatus.INFRA_ERROR, result
        assert client.suspect_until.get(0, 0) > 0  # no new episodes for a while

        # a call queued for an actor whose node is gone never fails by itself (Ray waits to re-create
        # the actor); a call that never answers stands in for it: the state poll ends the wait
        async def queued() -> None:
            await await_call(silent.open.remote("hang-2"), worker, timeout_s=600)

        with pytest.raises(ActorUnavailable, match="RESTARTING"):
            asyncio.run(asyncio.wait_for(queued(), FAST_S))
    finally:
        ray.kill(worker, no_restart=True)
        ray.kill(silent, no_restart=True)


def test_a_worker_alive_but_silent_still_fails_by_the_open_deadline(small_ray):
    ray = small_ray
    worker = _worker_class(ray).remote()
    try:
        client = SandboxClient([worker], open_timeout_s=3)
        result = asyncio.run(asyncio.wait_for(_episode(client, "hang-1"), FAST_S))
        assert result.status == ExecStatus.INFRA_ERROR, result
        assert actor_state(worker) == "ALIVE"
        assert client.suspect_until.get(0, 0) == 0  # a slow worker is not marked as restarting
    finally:
        ray.kill(worker, no_restart=True)


async def _episode(client: SandboxClient, episode_id: str) -> ExecResult:
    await client.open(episode_id)
    try:
        return await client.run(episode_id, "1 + 1")
    finally:
        await client.close(episode_id)
