"""Docker backend: one long-lived hardened container per sandbox, harness on its stdin/stdout.

The container is created with stdin open, attached (docker's multiplexed stream over a
hijacked socket, demultiplexed here) before it starts, so nothing the supervisor says is lost.
Every SDK call runs in a thread under the client's timeout; killing never raises.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
from typing import Any

from rlsys.sandbox.channel import SUPERVISOR_ARGV, HarnessChannel
from rlsys.sandbox.config import SandboxConfig

log = logging.getLogger(__name__)
LABEL = "rlsys.sandbox"
OWNER_LABEL = "rlsys.owner"
POOL_LABEL = "rlsys.pool"


class DockerUnavailable(RuntimeError):
    """No Docker engine answers, or the sandbox image is missing; the message says which."""


def docker_client(timeout_s: float = 30.0):
    """A docker SDK client with a timeout on every call; raises DockerUnavailable."""
    try:
        import docker

        client = docker.from_env(timeout=int(max(1, timeout_s)))
        client.ping()
        return client
    except Exception as err:  # DockerException, requests/urllib3 errors, FileNotFoundError
        raise DockerUnavailable(f"no Docker engine answers ({type(err).__name__}: {err})") from None


def engine_answers(timeout_s: float = 5.0) -> bool:
    try:
        docker_client(timeout_s).close()
        return True
    except DockerUnavailable:
        return False


class _SocketWriter:
    """The `write` + `drain` half of a stream, over the hijacked attach socket."""

    def __init__(self, sock: socket.socket):
        self.sock, self.pending = sock, bytearray()

    def write(self, data: bytes) -> None:
        self.pending += data

    async def drain(self) -> None:
        data, self.pending = bytes(self.pending), bytearray()
        await asyncio.get_running_loop().sock_sendall(self.sock, data)


async def _pump(sock: socket.socket, reader: asyncio.StreamReader, stderr_tail: bytearray) -> None:
    """Demultiplexes docker's attach stream: 8-byte header (stream id, size) + payload."""
    loop = asyncio.get_running_loop()
    buf = bytearray()
    try:
        while True:
            data = await loop.sock_recv(sock, 1 << 16)
            if not data:
                return
            buf += data
            while len(buf) >= 8:
                size = int.from_bytes(buf[4:8], "big")
                if len(buf) < 8 + size:
                    break
                stream, payload = buf[0], bytes(buf[8 : 8 + size])
                del buf[: 8 + size]
                if stream == 1:
                    reader.feed_data(payload)
                else:
                    stderr_tail += payload
                    del stderr_tail[:-4096]
    except (OSError, asyncio.CancelledError):
        pass
    finally:
        reader.feed_eof()


class DockerSandbox:
    def __init__(self, client, container, sock_obj: Any, name: str):
        self.client, self.container, self.name = client, container, name
        self._sock_obj = sock_obj  # keeps the HTTP response (and so the socket) alive
        self.sock: socket.socket = getattr(sock_obj, "_sock", sock_obj)
        self.sock.setblocking(False)
        self.stderr_tail = bytearray()
        reader = asyncio.StreamReader(limit=8 << 20)
        self._pump = asyncio.create_task(_pump(self.sock, reader, self.stderr_tail))
        self.channel = HarnessChannel(reader, _SocketWriter(self.sock), name)

    async def kill(self) -> None:
        self._pump.cancel()
        try:
            self.sock.close()
        except OSError:
            pass
        try:
            await asyncio.to_thread(self.container.remove, force=True)
        except Exception as err:  # already gone, engine hiccup: nothing the caller can do
            log.debug("removing %s: %s", self.name, err)


class DockerBackend:
    kind = "docker"

    def __init__(self, config: SandboxConfig, client=None, pool_tag: str = "default"):
        self.config, self.pool_tag = config, pool_tag
        self.client = client or docker_client(config.docker_timeout_s)
        import docker.errors

        try:
            self.client.images.get(config.image)
        except docker.errors.ImageNotFound:
            raise DockerUnavailable(f"sandbox image {config.image!r} not found; build it with "
                                    "`rlsys sandbox build-image --offline`") from None
        self.owner = f"{socket.gethostname()}:{os.getpid()}"
        self._remove_orphans()

    def _remove_orphans(self) -> None:
        """Removes sandbox containers left by dead processes of this host."""
        host = socket.gethostname()
        try:
            for container in self.client.containers.list(all=True, filters={"label": LABEL}):
                owner = container.labels.get(OWNER_LABEL, "")
                owner_host, _, pid = owner.rpartition(":")
                if owner_host == host and pid.isdigit() and not os.path.exists(f"/proc/{pid}"):
                    container.remove(force=True)
        except Exception as err:
            log.warning("could not clean up old sandbox containers: %s", err)

    def settings(self) -> dict[str, Any]:
        cfg = self.config
        return {"output_bytes": cfg.output_bytes, "memory_bytes": max(64, cfg.memory_mb - 32) << 20,
                "fsize": cfg.tmpfs_mb << 20}

    def _create(self, name: str):
        cfg = self.config
        container = self.client.containers.create(
            cfg.image, command=["python3", *SUPERVISOR_ARGV], name=name, stdin_open=True, tty=False,
            auto_remove=True, user="65534:65534", working_dir="/tmp", hostname="sandbox",
            environment={"PATH": "/usr/local/bin:/usr/bin:/bin", "HOME": "/tmp", "LANG": "C.UTF-8"},
            network_mode="none", read_only=True, mem_limit=f"{cfg.memory_mb}m", memswap_limit=f"{cfg.memory_mb}m",
            nano_cpus=int(cfg.cpus * 1e9), pids_limit=cfg.pids, cap_drop=["ALL"],
            security_opt=["no-new-privileges"], tmpfs={"/tmp": f"size={cfg.tmpfs_mb}m,mode=1777"},
            shm_size="4m", labels={LABEL: "1", OWNER_LABEL: self.owner,
                                                            POOL_LABEL: f"{self.owner}:{self.pool_tag}"})
        sock = self.client.api.attach_socket(container.id, params={"stdin": 1, "stdout": 1, "stderr": 1,
                                                                   "stream": 1})
        container.start()
        return container, sock

    async def start(self, name: str) -> DockerSandbox:
        container, sock = await asyncio.to_thread(self._create, name)
        sandbox = DockerSandbox(self.client, container, sock, name)
        try:
            await sandbox.channel.init(self.settings(), self.config.start_timeout_s)
        except BaseException:
            await sandbox.kill()
            raise
        return sandbox

    def close(self) -> None:
        """Removes every container this backend created that is still there, then the client."""
        try:
            label = f"{POOL_LABEL}={self.owner}:{self.pool_tag}"
            for container in self.client.containers.list(all=True, filters={"label": label}):
                container.remove(force=True)
        except Exception as err:
            log.warning("could not remove sandbox containers: %s", err)
        try:
            self.client.close()
        except Exception:
            pass
