"""`LocalCluster`: `cluster/local-cluster.sh` driven from a test (up on enter, down always on exit)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from rlsys.bench.scaling import free_base_port  # one rule for the cluster's port range

REPO_ROOT = Path(__file__).resolve().parents[2]
SCRIPT = REPO_ROOT / "cluster" / "local-cluster.sh"
RAY = str(Path(sys.executable).with_name("ray"))


class LocalCluster:
    def __init__(self, port: int | None = None, extra: tuple[str, ...] = ()):
        """`extra`: worker nodes beyond the default three (`rollout2`: a second rollout node)."""
        self.port = port or free_base_port()
        self.root = Path(f"/tmp/rlsys-cluster-{self.port}")
        self.env = {**os.environ, "RLSYS_CLUSTER_PORT": str(self.port), "RLSYS_CLUSTER_ROOT": str(self.root),
                    "PYTHON": sys.executable, "RAY_AUTH_MODE": "disabled", "OMP_NUM_THREADS": "1",
                    "RLSYS_CLUSTER_EXTRA": " ".join(extra),
                    "PATH": f"{Path(sys.executable).parent}:{os.environ.get('PATH', '')}"}
        self.address = f"127.0.0.1:{self.port}"
        self.dashboard = f"http://127.0.0.1:{self.port + 1}"

    def script(self, action: str, timeout: float = 600, args: tuple[str, ...] = ()) -> subprocess.CompletedProcess:
        """`cluster/local-cluster.sh ACTION ARGS` (e.g. `stop-node sandbox`) against this cluster."""
        return subprocess.run(["bash", str(SCRIPT), action, *args], capture_output=True, text=True, timeout=timeout,
                              env=self.env, cwd=REPO_ROOT)

    def __enter__(self) -> "LocalCluster":
        up = self.script("up")
        if up.returncode != 0:
            self.script("down")
            raise RuntimeError(f"local cluster did not start:\n{up.stdout}\n{up.stderr}")
        return self

    def __exit__(self, *exc) -> None:
        self.script("down", timeout=300)

    def node_processes(self, name: str) -> list[int]:
        """Pids holding a file under node `name`'s dir (its raylet, agents, workers: Ray renames
        the latter two, so their command lines no longer name the dir)."""
        node_dir = str(self.root / name) + "/"
        pids = []
        for fd_dir in Path("/proc").glob("[0-9]*/fd"):
            try:
                if any(os.readlink(fd).startswith(node_dir) for fd in fd_dir.iterdir()):
                    pids.append(int(fd_dir.parent.name))
            except OSError:  # gone, or not ours to read
                continue
        return pids

    def gcs_actor_deaths(self, limit: int = 40) -> str:
        """The head GCS's log lines on destroyed actors and failed owners (why Ray ended an actor:
        `has no references` = its owner dropped it, `Worker ... failed` = the GCS lost the owner)."""
        log = self.root / "head" / "session_latest" / "logs" / "gcs_server.out"
        try:
            lines = log.read_text(errors="replace").splitlines()
        except OSError as err:
            return f"(no GCS log: {err})"
        keys = ("estroying actor", "has no references", "out of scope", "failed, destroying", "is dead", "unavailable")
        return "\n".join([line for line in lines if any(k in line for k in keys)][-limit:]) or "(none)"

    def submit(self, *args: str, timeout: float = 1800) -> subprocess.CompletedProcess:
        """`ray job submit --working-dir . -- python -m rlsys.train ARGS` (waits for the job's end)."""
        return subprocess.run(
            [RAY, "job", "submit", "--address", self.dashboard, "--working-dir", ".",
             "--runtime-env", "cluster/runtime_env.yaml", "--", "python", "-m", "rlsys.train", *args],
            capture_output=True, text=True, timeout=timeout, env=self.env, cwd=REPO_ROOT,
        )
