"""Docker's control channel and its host resources: the direct unix socket cannot be reached or
written from a cell, the attach-stream channel (for remote engines) still serves, the socket
directories go with their pool, and clean-up recognises a dead owner by pid AND start time
(a reused pid must not keep a dead process's containers or socket directories)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import tempfile
import uuid
from pathlib import Path

import pytest

from rlsys.sandbox.docker_socket import ROOT_PREFIX, socket_roots
from rlsys.sandbox.owner import start_time
from rlsys.sandbox.pool import SandboxPool
from rlsys.sandbox.types import ExecStatus

from .conftest import assert_serving, require, run_cells, small_config

pytestmark = pytest.mark.docker

PROBE = """
import os, socket
print(sorted(os.listdir('/run/rlsys')))
s = socket.socket(socket.AF_UNIX)
try:
    s.connect('/run/rlsys/s')
    print('connected')
except OSError as err:
    print('connect', type(err).__name__)
try:
    open('/run/rlsys/x', 'w')
    print('wrote')
except OSError as err:
    print('write', type(err).__name__)
"""


async def test_the_socket_channel_cannot_be_reached_from_a_cell(corpus):
    require("docker")
    async with SandboxPool(small_config(docker_channel="socket"), corpus, size=1, backend="docker") as pool:
        assert pool.backend.channel == "socket"
        root = pool.backend.sockets.path
        episode = uuid.uuid4().hex
        await pool.open(episode)
        name = pool._episodes[episode].slot.sandbox.name
        result = await pool.run(episode, PROBE)
        await pool.close(episode)
        assert result.status is ExecStatus.OK, result
        # the socket and its directory were removed once the supervisor connected; the mount is read-only
        assert result.stdout.split("\n")[:3] == ["[]", "connect FileNotFoundError", "write FileNotFoundError"], result
        assert not (root / name).exists(), "a connected sandbox's socket directory was kept"
        (tools,) = await run_cells(pool, "print(search_pages('Zorblat Harbor')[0]['page_id'])")
        assert tools.stdout == "zorblat_harbor\n" and tools.tool_calls == 1, tools
    assert not root.exists(), "the pool's socket root outlived it"


async def test_the_attach_channel_still_serves(corpus):
    require("docker")
    async with SandboxPool(small_config(docker_channel="attach"), corpus, size=1, backend="docker") as pool:
        assert pool.backend.channel == "attach"
        results = await run_cells(pool, "x = 6", "x * 7", "print(view_sections('mirela_quandt')[0]['section_name'])")
        assert [r.stdout for r in results] == ["", "42\n", "life\n"], results
        assert not pool.backend.sockets.path.exists(), "the attach channel made socket directories"
        await assert_serving(pool)


def _dead_pid() -> str:
    proc = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True,
                          check=True)
    return proc.stdout.strip()


def test_orphans_are_recognised_by_pid_and_start_time():
    """Containers and socket directories of a dead owner go, even when the owner's pid now runs
    another process (this one: the same pid, another start time); a live owner's stay."""
    require("docker")
    from rlsys.sandbox.docker_backend import LABEL, OWNER_LABEL, OWNER_START_LABEL, DockerBackend, docker_client

    client = docker_client(30)
    host, me, mine = socket.gethostname(), str(os.getpid()), start_time("self")
    tag = uuid.uuid4().hex[:8]
    owners = {"reused-pid": (me, "1"), "dead-pid": (_dead_pid(), mine), "old-label": (_dead_pid(), None),
              "live": (me, mine)}
    created = {}
    base = Path(tempfile.gettempdir())
    roots = {"reused-pid": base / f"{ROOT_PREFIX}{me}-1-{tag}", "live": base / f"{ROOT_PREFIX}{me}-{mine}-{tag}"}
    try:
        for what, (pid, started) in owners.items():
            labels = {LABEL: "1", OWNER_LABEL: f"{host}:{pid}", **({OWNER_START_LABEL: started} if started else {})}
            created[what] = client.containers.create("rlsys-sandbox:latest", ["true"], name=f"rlsys-orphan-{tag}-{what}",
                                                     labels=labels, network_mode="none")
        for root in roots.values():
            (root / "sbx").mkdir(parents=True)
        backend = DockerBackend(small_config(), pool_tag=f"orphans-{tag}")
        backend.close()
        left = [c.attrs["Names"] for c in client.containers.list(all=True, sparse=True,
                                                                 filters={"name": f"rlsys-orphan-{tag}-"})]
        assert left == [[f"/rlsys-orphan-{tag}-live"]], left
        assert not roots["reused-pid"].exists(), "the socket directory of a dead owner with a reused pid was kept"
        assert roots["live"].exists(), "a live owner's socket directory was removed"
    finally:
        for container in created.values():
            try:
                container.remove(force=True)
            except Exception:  # noqa: BLE001 - removed by the backend, as it should be
                pass
        for root in roots.values():
            subprocess.run(["rm", "-rf", str(root)], check=False)
        client.close()
    assert not [r for r in socket_roots() if tag in r.name]
