"""Host protection and honest statuses: a sandbox killed from outside mid-cell is `infra_error`,
episodes expire, a pool that cannot start any sandbox is an error, a bwrap sandbox's whole tree
shares one memory cgroup, a dead worker takes its sandboxes with it, a discarded container is
really gone, and a pool leaves no container, bwrap process or cgroup behind."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import textwrap
import time
import uuid
from pathlib import Path

import pytest

from rlsys.sandbox.cgroup import CgroupUnavailable, sandbox_cgroups
from rlsys.sandbox.pool import SandboxPool, SandboxUnavailable
from rlsys.sandbox.types import ExecStatus

from .conftest import assert_serving, require, run_cells, small_config

BACKENDS = [pytest.param("docker", marks=pytest.mark.docker), "bwrap"]


def _bwrap_children() -> set[int]:
    out = subprocess.run(["pgrep", "-P", str(os.getpid()), "-x", "bwrap"], capture_output=True, text=True)
    return {int(p) for p in out.stdout.split()}


def _leftovers(tag: str) -> dict[str, int]:
    """Containers, bwrap processes and cgroups of the pool with this tag that still exist."""
    counts = {"bwrap": len(_bwrap_children()), "cgroups": len(sandbox_cgroups(f"-rlsys-sbx-{tag}-")), "containers": 0}
    try:
        from rlsys.sandbox.docker_backend import docker_client

        client = docker_client(10)
        counts["containers"] = len(client.containers.list(all=True, sparse=True, filters={"name": f"rlsys-sbx-{tag}-"}))
        client.close()
    except Exception:  # noqa: BLE001 - no engine: no containers
        pass
    return counts


async def _poll(predicate, deadline_s: float = 60.0) -> bool:
    deadline = time.monotonic() + deadline_s
    while time.monotonic() < deadline:
        if await asyncio.to_thread(predicate):
            return True
        await asyncio.sleep(0.2)
    return False


@pytest.mark.parametrize("backend", BACKENDS)
async def test_sandbox_killed_from_outside_mid_cell_is_infra_error(corpus, backend):
    require(backend)
    async with SandboxPool(small_config(), corpus, size=1, backend=backend) as pool:
        episode = uuid.uuid4().hex
        await pool.open(episode)
        assert (await pool.run(episode, "x = 1")).status is ExecStatus.OK
        sandbox = pool._episodes[episode].slot.sandbox
        cell = asyncio.create_task(pool.run(episode, "import time\ntime.sleep(20)", timeout_s=30))
        await asyncio.sleep(1.0)
        if backend == "docker":
            await asyncio.to_thread(sandbox.container.kill)
        else:
            os.kill(sandbox.proc.pid, signal.SIGKILL)
        r = await cell
        assert r.status is ExecStatus.INFRA_ERROR and "infrastructure" in r.error, r
        later = await pool.run(episode, "x")
        assert later.status is ExecStatus.INFRA_ERROR  # its state is gone: still not the model's fault
        await pool.close(episode)
        await assert_serving(pool)


@pytest.mark.parametrize("backend", BACKENDS)
async def test_pool_leaves_nothing_behind(corpus, backend):
    require(backend)
    before_bwrap = _bwrap_children()
    pool = SandboxPool(small_config(), corpus, size=2, backend=backend)
    await pool.start()
    await run_cells(pool, "import os\nif os.fork() == 0:\n    os.setsid()\n    import time; time.sleep(60)", "1")
    episode = uuid.uuid4().hex
    await pool.open(episode)  # still open at shutdown
    await pool.run(episode, "y = 2")
    during = _leftovers(pool._tag)
    assert during["containers"] >= 1 if backend == "docker" else during["bwrap"] >= 1 and during["cgroups"] >= 1
    await pool.shutdown()
    assert await _poll(lambda: _bwrap_children() <= before_bwrap, 20)
    left = _leftovers(pool._tag)
    assert left["containers"] == 0 and left["cgroups"] == 0, left


async def test_start_with_no_sandbox_is_an_error(corpus):
    require("bwrap")
    pool = SandboxPool(small_config(start_timeout_s=0.001), corpus, size=2, backend="bwrap")
    with pytest.raises(SandboxUnavailable, match="no bwrap sandbox could be started"):
        await pool.start()
    await pool.shutdown()


async def test_episodes_expire_and_release_their_sandbox(corpus):
    require("bwrap")
    async with SandboxPool(small_config(episode_ttl_s=1.0), corpus, size=1, backend="bwrap") as pool:
        await pool.open("old")
        assert (await pool.run("old", "print('ok')")).stdout == "ok\n"
        assert await _poll(lambda: pool.counts["episodes_expired"] == 1, 30)
        r = await pool.run("old", "print('again')")
        assert r.status is ExecStatus.INFRA_ERROR and "time-to-live" in r.error
        await pool.close("old")
        await assert_serving(pool)  # the released sandbox was replaced


async def test_bwrap_sandbox_tree_shares_one_memory_cap(corpus):
    require("bwrap")
    async with SandboxPool(small_config(memory_mb=256), corpus, size=1, backend="bwrap") as pool:
        episode = uuid.uuid4().hex
        await pool.open(episode)
        cgroup = pool._episodes[episode].slot.sandbox.cgroup
        assert cgroup is not None and cgroup.limit() == 256 << 20
        code = textwrap.dedent("""
            import os, time
            pids = []
            for i in range(6):  # each below its own RLIMIT_AS, together far above the sandbox's cap
                pid = os.fork()
                if pid == 0:
                    b = bytearray(150 << 20)
                    b[::4096] = b'1' * len(b[::4096])
                    time.sleep(2)
                    os._exit(0)
                pids.append(pid)
            killed = sum(1 for p in pids if os.WIFSIGNALED(os.waitpid(p, 0)[1]))
            print('killed', killed)
        """)
        r = await pool.run(episode, code, timeout_s=20)
        assert r.status is ExecStatus.OK and r.stdout.startswith("killed "), r
        assert int(r.stdout.split()[1]) >= 4, r.stdout  # at most one 150 MB child fits in 256 MB
        assert cgroup.oom_kills() >= 4
        await pool.close(episode)
        await assert_serving(pool)


WORKER = """
import asyncio, os, signal, sys
from rlsys.sandbox.pool import SandboxPool
from tests.sandbox.conftest import small_config

async def main():
    pool = SandboxPool(small_config(), lambda n, k: "x", size=2, backend=sys.argv[1])
    await pool.start()
    await pool.open("e")
    await pool.run("e", "1")
    slots = list(pool._free._queue) + [ep.slot for ep in pool._episodes.values()]
    print(pool._tag, *[getattr(s.sandbox, "proc", None) and s.sandbox.proc.pid for s in slots], flush=True)
    os.kill(os.getpid(), signal.SIGKILL)  # the worker dies without any clean-up

asyncio.run(main())
"""


@pytest.mark.parametrize("backend", BACKENDS)
async def test_a_dead_worker_takes_its_sandboxes_with_it(backend):
    require(backend)
    proc = await asyncio.to_thread(subprocess.run, [sys.executable, "-c", WORKER, backend], capture_output=True,
                                   text=True, timeout=300, env={**os.environ, "PYTHONPATH": os.getcwd()})
    assert proc.returncode == -signal.SIGKILL, proc.stderr[-2000:]
    tag, *pids = proc.stdout.split()
    if backend == "docker":
        from rlsys.sandbox.docker_backend import docker_client

        client = docker_client(10)
        mine = {"name": f"rlsys-sbx-{tag}-"}
        # the supervisors saw their stdin close and exited: nothing of that worker keeps running
        assert await _poll(lambda: not client.containers.list(sparse=True, filters=mine), 60)
        from rlsys.sandbox.docker_backend import DockerBackend
        from rlsys.sandbox.docker_socket import socket_roots

        owner = "rlsys-docker-" + "-".join(tag.split("-")[:2]) + "-"  # the dead worker's pid and start time
        assert [r for r in socket_roots() if r.name.startswith(owner)], "the dead worker had no socket directory"
        DockerBackend(small_config()).close()  # the next worker on the host removes what is left
        assert not client.containers.list(all=True, sparse=True, filters=mine)
        assert not [r for r in socket_roots() if r.name.startswith(owner)]
        client.close()
    else:
        assert len(pids) >= 2

        def gone(pid: str) -> bool:
            try:
                return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] == "Z"
            except OSError:
                return True

        assert await _poll(lambda: all(gone(p) for p in pids), 30)  # --die-with-parent took them
        assert sandbox_cgroups(f"-rlsys-sbx-{tag}-")  # the dead worker could not remove its cgroups...
        from rlsys.sandbox.bwrap_backend import BwrapBackend

        BwrapBackend(small_config())  # ...the next worker on the host does
        assert sandbox_cgroups(f"-rlsys-sbx-{tag}-") == []


async def test_a_discarded_container_is_really_gone(corpus):
    require("docker")
    async with SandboxPool(small_config(), corpus, size=1, backend="docker") as pool:
        episode = uuid.uuid4().hex
        await pool.open(episode)
        await pool.run(episode, "import time\nt = time.time()")
        name = pool._episodes[episode].slot.sandbox.name
        await pool.close(episode)
        client = pool.backend.client
        assert await _poll(lambda: not client.containers.list(all=True, sparse=True, filters={"name": name}), 30)
        await assert_serving(pool)


async def test_auto_falling_back_to_bwrap_says_so_in_one_line(corpus, caplog):
    require("bwrap")
    async with SandboxPool(small_config(image="rlsys-no-such-image:none"), corpus, size=1, backend="auto") as pool:
        assert pool.kind == "bwrap"
        warning = pool.warning
        assert "\n" not in warning and "using bubblewrap" in warning and "rlsys-no-such-image:none" in warning
        assert "setup-sandbox-host.sh" in warning and "docker.io" in warning
        assert pool.stats()["warning"] == warning
        assert [r.getMessage() for r in caplog.records if r.levelname == "WARNING"] == [warning]
        await assert_serving(pool)


def test_a_reused_pid_neither_blocks_a_new_cgroup_nor_keeps_a_dead_owners_one():
    """CI once failed here: a worker's probe cgroup `rlsys-<pid>-probe` existed already, left by
    a killed process whose pid the kernel had handed out again (pid_max 32768). Names now carry
    the owner's start time and the probe a random suffix."""
    from rlsys.sandbox.cgroup import MemoryCgroup, remove_orphans

    try:
        mine = MemoryCgroup(f"reuse-{uuid.uuid4().hex[:6]}", 64 << 20)
    except CgroupUnavailable as err:
        pytest.skip(f"no memory cgroup can be created here: {err}")
    stale = mine.path.parent / f"rlsys-{os.getpid()}-1-reuse-stale"  # this pid, an earlier process
    stale.mkdir()
    try:
        assert remove_orphans() >= 1
        assert not stale.exists(), "the dead owner's cgroup (same pid, other start time) was kept"
        assert mine.path.exists(), "the live owner's cgroup was removed"
        again = MemoryCgroup(f"reuse-{uuid.uuid4().hex[:6]}", 64 << 20)
        assert again.remove()
    finally:
        if stale.exists():
            stale.rmdir()
        assert mine.remove()
