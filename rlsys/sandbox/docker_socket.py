"""The direct control channel of a Docker sandbox: a unix socket in a host directory that is
bind-mounted (read-only) into its container, so cell traffic never crosses dockerd or the
containerd shim (their CPU per message was what bounded the attach stream's cells/s).

Per backend one root directory `<tmp>/rlsys-docker-<pid>-<start time>-<random>/` (mode 0700: no other
host user reaches a socket in it); per container a subdirectory holding the socket `s`, which
the worker listens on *before* the container starts. The supervisor (PID 1, uid 65534)
connects once at its start; the worker accepts that one connection, then closes the listener
and removes the socket and its directory, so nothing inside the container (a cell runs only
later, and the mount is read-only) can connect again or leave a file on the host. When the
worker dies the kernel closes its end: the supervisor reads EOF and the container stops (what
`stdin_once` did for the attach stream). Root directories of dead owners (pid + start time, see
`owner.py`) are removed by the next backend on the host.
"""

from __future__ import annotations

import asyncio
import logging
import os
import shutil
import socket
import tempfile
import uuid
from pathlib import Path

from rlsys.sandbox.owner import owner_alive, owner_tag

log = logging.getLogger(__name__)
ROOT_PREFIX = "rlsys-docker-"
CONTAINER_DIR = "/run/rlsys"   # where the container sees its socket directory
CONTAINER_SOCKET = f"{CONTAINER_DIR}/s"
MAX_SOCKET_PATH = 107          # sun_path holds 108 bytes with the terminating NUL


def socket_roots(base: Path | None = None) -> list[Path]:
    """The socket root directories of every sandbox owner on this host."""
    base = base or Path(tempfile.gettempdir())
    try:
        return [p for p in base.iterdir() if p.name.startswith(ROOT_PREFIX) and p.is_dir()]
    except OSError:
        return []


def remove_orphan_roots(base: Path | None = None) -> int:
    """Removes the socket roots of owners that died (pid gone or reused); returns how many."""
    removed = 0
    for root in socket_roots(base):
        pid, started, *_ = root.name[len(ROOT_PREFIX):].split("-", 2) + [""]
        if pid.isdigit() and not owner_alive(pid, started if started.isdigit() else None):
            shutil.rmtree(root, ignore_errors=True)
            removed += not root.exists()
    return removed


class SocketRoot:
    """This backend's root directory of per-container socket directories."""

    def __init__(self, base: Path | None = None):
        self.path = (base or Path(tempfile.gettempdir())) / f"{ROOT_PREFIX}{owner_tag()}-{uuid.uuid4().hex[:8]}"

    def listen(self, name: str) -> tuple[socket.socket, Path]:
        """A listening socket in a fresh directory for the container `name` (to bind-mount)."""
        self.path.mkdir(mode=0o700, exist_ok=True)
        directory = self.path / name
        directory.mkdir(mode=0o755)
        os.chmod(directory, 0o755)  # whatever the umask: uid 65534 inside must reach the socket
        path = directory / "s"
        if len(str(path).encode()) > MAX_SOCKET_PATH:
            shutil.rmtree(directory, ignore_errors=True)
            raise OSError(f"socket path {path} is longer than a unix socket allows; set TMPDIR shorter")
        listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            listener.bind(str(path))
            os.chmod(path, 0o666)  # the supervisor runs as nobody
            listener.listen(1)
            listener.setblocking(False)
        except BaseException:
            listener.close()
            shutil.rmtree(directory, ignore_errors=True)
            raise
        return listener, directory

    @staticmethod
    def discard(listener: socket.socket, directory: Path) -> None:
        listener.close()
        shutil.rmtree(directory, ignore_errors=True)

    def remove(self) -> None:
        shutil.rmtree(self.path, ignore_errors=True)


async def accept_supervisor(listener: socket.socket, directory: Path, timeout_s: float) -> socket.socket:
    """The supervisor's connection (the first and only one); the listener and its directory are
    gone afterwards, whatever happens. Raises asyncio.TimeoutError / OSError."""
    try:
        conn, _ = await asyncio.wait_for(asyncio.get_running_loop().sock_accept(listener), timeout_s)
    finally:
        SocketRoot.discard(listener, directory)
    return conn
