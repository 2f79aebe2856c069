"""A Docker engine restart mid-run, on a PRIVATE dockerd this test starts (own data root, exec
root, pid file and socket, no bridge, no iptables; the shared engine is never touched): the cell
in flight and the later cells of its episode are `infra_error` (the host's doing, excluded from
the group), and once the engine is back the pool serves fresh episodes again by itself."""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import subprocess
import tempfile
import time
import uuid
from pathlib import Path

import pytest

from rlsys.sandbox.config import SandboxConfig
from rlsys.sandbox.pool import SandboxPool
from rlsys.sandbox.types import ExecStatus

from .conftest import require, run_cells, small_config

pytestmark = pytest.mark.docker
START_S = 180.0  # a quiet start is ~5 s, an image load ~5 s: generous deadlines for a loaded CI machine


class PrivateEngine:
    """A second dockerd in a temp directory (its own containerd under its exec root)."""

    def __init__(self):
        self.dir = Path(tempfile.mkdtemp(prefix="rlsys-dkd-", dir="/tmp"))
        self.sock = self.dir / "docker.sock"
        self.host = f"unix://{self.sock}"
        # containerd namespaces must match ^[A-Za-z0-9]+(?:[._-][A-Za-z0-9]+)*$: mkdtemp's random
        # part may end in "_" (CI failed on "rlsys-rlsys-dkd-462l8f2_"), so the name is hex
        self.namespace = f"rlsys-dkd-{uuid.uuid4().hex[:12]}"
        self.proc: subprocess.Popen | None = None

    def start(self) -> None:
        log = open(self.dir / "dockerd.log", "ab")
        self.proc = subprocess.Popen(
            ["dockerd", "--data-root", str(self.dir / "data"), "--exec-root", str(self.dir / "exec"),
             "--pidfile", str(self.dir / "dockerd.pid"), "-H", self.host, "--bridge=none", "--iptables=false",
             "--ip6tables=false", "--ip-masq=false", "--containerd-namespace", self.namespace,
             "--containerd-plugins-namespace", f"{self.namespace}-plugins"],
            stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True)
        deadline = time.monotonic() + START_S
        while not self.answers():
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"the private dockerd did not start: {self.log_tail()}")
            time.sleep(0.2)

    def answers(self) -> bool:
        return subprocess.run(["docker", "-H", self.host, "info"], capture_output=True, timeout=30).returncode == 0

    def stop(self) -> None:
        """SIGTERM, as a service manager's restart does; waits until it is gone."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=START_S)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=30)

    def load(self, image: str) -> None:
        save = subprocess.Popen(["docker", "save", image], stdout=subprocess.PIPE)
        loaded = subprocess.run(["docker", "-H", self.host, "load", "-q"], stdin=save.stdout, capture_output=True,
                                timeout=600)
        save.stdout.close()
        assert save.wait(timeout=60) == 0 and loaded.returncode == 0, loaded.stderr

    def containers(self) -> list[str]:
        out = subprocess.run(["docker", "-H", self.host, "ps", "-aq", "--filter", "label=rlsys.sandbox"],
                             capture_output=True, text=True, timeout=60)
        return out.stdout.split()

    def log_tail(self) -> str:
        try:
            return (self.dir / "dockerd.log").read_text()[-2000:]
        except OSError:
            return ""

    def remove(self) -> None:
        self.stop()
        subprocess.run(["umount", "-R", "-l", str(self.dir)], capture_output=True, timeout=60)
        shutil.rmtree(self.dir, ignore_errors=True)


@pytest.fixture
def engine():
    require("docker")
    if os.geteuid() != 0 or shutil.which("dockerd") is None:
        pytest.skip("a private Docker engine needs root and dockerd")
    private = PrivateEngine()
    try:
        private.start()
        private.load(SandboxConfig().image)
        yield private
    finally:
        private.remove()


async def _first_ok_episode(pool, deadline_s: float) -> float:
    deadline = time.monotonic() + deadline_s
    while True:
        (result,) = await run_cells(pool, "print(6 * 7)", timeout_s=10)
        if result.status is ExecStatus.OK:
            assert result.stdout == "42\n"
            return time.monotonic()
        assert result.status is ExecStatus.INFRA_ERROR, result  # never the model's fault
        assert time.monotonic() < deadline, f"the pool did not recover within {deadline_s:.0f}s: {pool.stats()}"
        await asyncio.sleep(0.5)


async def test_engine_restart_mid_cell_is_infra_error_and_the_pool_recovers(engine):
    config = small_config(docker_host=engine.host, acquire_timeout_s=START_S, cell_timeout_s=10.0)
    async with SandboxPool(config, lambda name, kwargs: "x", size=2, backend="docker") as pool:
        episode = uuid.uuid4().hex
        await pool.open(episode)
        assert (await pool.run(episode, "x = 1")).status is ExecStatus.OK
        cell = asyncio.create_task(pool.run(episode, "import time\ntime.sleep(60)\nprint('done')", timeout_s=90))
        await asyncio.sleep(0.5)  # (if the restart came before the cell reached the sandbox, same outcome)
        await asyncio.to_thread(engine.stop)
        assert engine.proc.returncode is not None  # the engine is really down
        await asyncio.to_thread(engine.start)
        result = await asyncio.wait_for(cell, START_S)
        assert result.status is ExecStatus.INFRA_ERROR and "infrastructure" in result.error, result
        later = await pool.run(episode, "print(x)")
        assert later.status is ExecStatus.INFRA_ERROR, later  # its state went with the engine
        await pool.close(episode)
        await _first_ok_episode(pool, START_S)
        for _ in range(2 * pool.size):  # and then every episode: spares are back to normal
            (result,) = await run_cells(pool, "print('again')")
            assert result.status is ExecStatus.OK and result.stdout == "again\n", result
        assert pool.counts["cells_killed"] == 0 and pool.counts["cells_timeout"] == 0
        assert pool.counts["spares_lost"] >= 1  # the spare that died with the engine was not handed out
    assert engine.containers() == []  # nothing of the pool is left in the restarted engine
