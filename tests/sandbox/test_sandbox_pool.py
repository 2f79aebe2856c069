"""Pool behaviour on Docker: concurrency without crossed results, replacement of dead or worn
containers, deadlines when no sandbox is free, cancellation, and the Docker-only hostile cells."""

from __future__ import annotations

import asyncio
import os
import time
import uuid

import pytest
import pytest_asyncio

from rlsys.sandbox.pool import SandboxPool
from rlsys.sandbox.types import ExecStatus

from .conftest import assert_serving, require, run_cells, small_config

pytestmark = [pytest.mark.docker, pytest.mark.asyncio(loop_scope="module")]


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def dpool(corpus):
    require("docker")
    sandbox_pool = SandboxPool(small_config(max_cells_per_container=40), corpus, backend="docker")
    await sandbox_pool.start()
    yield sandbox_pool
    await sandbox_pool.shutdown()


async def test_many_episodes_at_once_never_cross(dpool):
    async def episode(i: int):
        eid = f"ep-{i}-{uuid.uuid4().hex[:6]}"
        await dpool.open(eid)
        try:
            outs = []
            for turn in range(3):
                code = (f"mine = {i} if {turn} == 0 else mine\nhits = search_pages('zorblat {i}')\n"
                        f"print(mine, {turn}, hits[0]['page_id'])")
                outs.append(await dpool.run(eid, code))
            return i, outs
        finally:
            await dpool.close(eid)

    results = await asyncio.gather(*(episode(i) for i in range(10)))  # 10 episodes share 3 sandboxes
    for i, outs in results:
        assert [r.stdout for r in outs] == [f"{i} {t} zorblat_harbor\n" for t in range(3)], outs
        assert all(r.tool_calls == 1 for r in outs)
    await assert_serving(dpool)


async def test_container_killed_from_outside_is_replaced(dpool):
    started = dpool.counts["sandboxes_started"]
    eid = uuid.uuid4().hex
    await dpool.open(eid)
    assert (await dpool.run(eid, "k = 1")).status is ExecStatus.OK
    slot = dpool._episodes[eid].slot
    await asyncio.to_thread(slot.sandbox.container.kill)
    await asyncio.sleep(0.5)
    r = await dpool.run(eid, "k")
    assert r.status is ExecStatus.INFRA_ERROR and "lost between cells" in r.error
    await dpool.close(eid)
    for _ in range(100):
        if dpool.counts["sandboxes_started"] > started:
            break
        await asyncio.sleep(0.1)
    assert dpool.counts["sandboxes_started"] > started
    await assert_serving(dpool)


async def test_every_episode_gets_a_fresh_container_and_its_cells_are_capped(corpus):
    require("docker")
    async with SandboxPool(small_config(max_cells_per_container=2), corpus, size=1, backend="docker") as pool:
        first = await run_cells(pool, "import socket\nprint(open('/proc/self/cgroup').read().split('/')[-1].strip())",
                                "1", "2")
        (again,) = await run_cells(pool, "print(open('/proc/self/cgroup').read().split('/')[-1].strip())")
        assert first[1].stdout == "1\n" and again.status is ExecStatus.OK
        assert first[2].status is ExecStatus.ERROR and "limit of 2 cells" in first[2].error
        assert first[0].stdout != again.stdout  # another container (cgroup named by container id)
        assert pool.counts["sandboxes_discarded"] >= 1 and pool.counts["sandboxes_started"] >= 2


async def test_no_free_sandbox_gives_infra_error_not_a_hang(corpus):
    require("docker")
    async with SandboxPool(small_config(acquire_timeout_s=0.5), corpus, size=1, backend="docker") as pool:
        await pool.open("holder")
        started = time.monotonic()
        r = await pool.run("starved", "print(1)")
        assert r.status is ExecStatus.INFRA_ERROR and r.infra_failed
        assert time.monotonic() - started < 5
        await pool.close("holder")
        await pool.close("starved")
        # the replacement container starts in the background; under load it can take longer than
        # this pool's 0.5 s acquire deadline, so wait for the spare (deadline 60 s), then serve
        deadline = time.monotonic() + 60
        while pool.stats()["free"] < 1 and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        assert pool.stats()["free"] == 1
        await assert_serving(pool)


async def test_pool_bursts_beyond_its_warm_sandboxes_when_all_are_held(corpus):
    require("docker")
    async with SandboxPool(small_config(burst_containers=2, acquire_timeout_s=1), corpus, size=1,
                           backend="docker") as pool:
        for name in ("a", "b", "c"):
            await pool.open(name)
        results = await asyncio.gather(*(pool.run(name, f"print({name!r})") for name in ("a", "b", "c")))
        assert [r.stdout for r in results] == ["a\n", "b\n", "c\n"]
        assert pool.stats()["live"] == 3
        r = await pool.run("d", "1")  # beyond size + burst: waits, then reports infra_error
        assert r.status is ExecStatus.INFRA_ERROR and pool.stats()["live"] == 3
        for name in ("a", "b", "c", "d"):
            await pool.close(name)


async def test_cancelled_cell_discards_its_sandbox(dpool):
    eid = uuid.uuid4().hex
    await dpool.open(eid)
    task = asyncio.create_task(dpool.run(eid, "import time\ntime.sleep(30)", timeout_s=30))
    await asyncio.sleep(0.3)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    r = await dpool.run(eid, "print('new sandbox')")  # the episode's interpreter is gone: the host's doing
    assert r.status is ExecStatus.INFRA_ERROR and "lost" in r.error, r
    await dpool.close(eid)
    await assert_serving(dpool)


# a pure CPU spin (no allocation, so it cannot end early in a MemoryError on a fast machine)
SPIN = "import threading\ndef spin():\n    while True:\n        pass\n"


async def test_cpu_spin_in_a_thread_and_stopped_interpreter(dpool):
    r1, r2, r3, r4 = await run_cells(
        dpool, SPIN + "threading.Thread(target=spin, daemon=True).start()",
        "print('main thread still answers')",
        SPIN + "t = threading.Thread(target=spin)\nt.start()\nt.join()",
        "import os, signal\nos.kill(os.getpid(), signal.SIGSTOP)", timeout_s=1)
    assert r1.status is ExecStatus.OK
    assert r2.status is ExecStatus.OK and r2.stdout == "main thread still answers\n"
    assert r3.status is ExecStatus.TIMEOUT
    assert r4.status is ExecStatus.TIMEOUT and "restarted" in r4.error
    (r5,) = await run_cells(dpool, "import signal\nsignal.alarm(1)\nsignal.pause()", timeout_s=3)
    assert r5.status is ExecStatus.KILLED and "SIGALRM" in r5.error
    await assert_serving(dpool)


async def test_forged_messages_on_the_control_socket_are_checked_by_the_host(dpool, corpus):
    code = """
import os, sys, json
fd = int(sys.argv[-1])
for msg in ({"op": "tool", "call": 900, "name": "rm_rf", "kwargs": {}},
            {"op": "tool", "call": 901, "name": "search_pages", "kwargs": {"query": 7}}):
    os.write(fd, (json.dumps(msg) + "\\n").encode())
    print(os.read(fd, 4096).decode().strip())
"""
    (r,) = await run_cells(dpool, code)
    assert r.status is ExecStatus.OK, r
    lines = r.stdout.splitlines()
    assert '"ok": false' in lines[0] and "unknown tool" in lines[0]
    assert '"ok": false' in lines[1] and "search_pages() takes exactly the argument(s) query" in lines[1]
    assert r.tool_calls == 2 and not any("7" == q for q in corpus.queries())  # malformed calls count
    await assert_serving(dpool)


async def test_hardening_is_in_place(dpool):
    (r,) = await run_cells(dpool, "import os\nprint(os.getuid(), os.getgid())\n"
                                  "print(open('/proc/self/status').read().split('CapEff:')[1].split()[0])\n"
                                  "print(open('/proc/self/status').read().split('NoNewPrivs:')[1].split()[0])")
    assert r.stdout.split() == ["65534", "65534", "0000000000000000", "1"]
    name = dpool._free._queue[0].sandbox.container.name if dpool._free.qsize() else None
    if name:
        attrs = (await asyncio.to_thread(dpool.backend.client.containers.get, name)).attrs["HostConfig"]
        assert attrs["NetworkMode"] == "none" and attrs["ReadonlyRootfs"] is True
        assert attrs["CapDrop"] == ["ALL"] and attrs["PidsLimit"] == 48
        assert attrs["Memory"] == 256 << 20 and attrs["MemorySwap"] == 256 << 20


async def test_pool_shutdown_leaves_no_containers(corpus):
    require("docker")
    from rlsys.sandbox.docker_backend import docker_client

    async with SandboxPool(small_config(), corpus, size=2, backend="docker") as pool:
        await run_cells(pool, "1")
        label = f"{pool.backend.owner}:{pool._tag}"
    client = docker_client(10)
    assert client.containers.list(all=True, filters={"label": f"rlsys.pool={label}"}) == []
    assert os.environ.get("RLSYS_SANDBOX_TEST_SECRET")  # the host side keeps its secrets
