"""Docker backend: one hardened container per sandbox (per episode), the harness's supervisor as PID 1.

The control channel (`sandbox.docker_channel`): by default, when the engine is local, a unix
socket in a host directory bind-mounted read-only into the container (`docker_socket.py`), so
a cell's messages never cross dockerd or the containerd shim; with a remote engine, the
container's stdin/stdout over docker's multiplexed attach stream (a hijacked socket,
demultiplexed here), attached before the container starts so nothing the supervisor says is
lost. Either way, when the worker goes (dies) the supervisor reads EOF and the container stops
(`stdin_once` for the attach stream). No log driver (a cell's output flood never reaches the
daemon's disk), an open-files limit, no capabilities, no network, read-only root, SIGKILL as
the stop signal (PID 1 ignores SIGTERM: an engine shutdown or `docker stop` ends it at once).
Every SDK call runs in a thread under the client's timeout; killing never raises and really
stops the container (the channel's socket is shut down, not only dereferenced, and the
container is removed by force). Containers are labelled with their owner's host, pid and start
time: the next backend on the host removes those of dead owners, even when the pid was reused.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
from typing import Any

from rlsys.sandbox.channel import SUPERVISOR_ARGV, HarnessChannel
from rlsys.sandbox.config import SandboxConfig
from rlsys.sandbox.docker_socket import CONTAINER_DIR, CONTAINER_SOCKET, SocketRoot, accept_supervisor, \
    remove_orphan_roots
from rlsys.sandbox.owner import owner_alive, start_time
from rlsys.sandbox.tools import TOOL_SPECS

log = logging.getLogger(__name__)
LABEL = "rlsys.sandbox"
OWNER_LABEL = "rlsys.owner"          # <host>:<pid>
OWNER_START_LABEL = "rlsys.owner_start"  # the owner's start time (clock ticks since boot)
POOL_LABEL = "rlsys.pool"


class DockerUnavailable(RuntimeError):
    """No Docker engine answers, or the sandbox image is missing; the message says which."""


def docker_client(timeout_s: float = 30.0, host: str = ""):
    """A docker SDK client with a timeout on every call, for the engine at `host` (empty: the
    DOCKER_HOST environment variable or the default socket); raises DockerUnavailable."""
    try:
        import docker

        timeout = int(max(1, timeout_s))
        client = docker.DockerClient(base_url=host, timeout=timeout) if host else docker.from_env(timeout=timeout)
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


def _force_remove(container) -> None:
    try:
        container.remove(force=True)
    except Exception as err:  # noqa: BLE001 - removed meanwhile by its own pool
        log.debug("removing %s: %s", container.id[:12], err)


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
    """One container and the channel to its supervisor (a unix socket of its own, or the attach
    stream); `sock` is the socket under either."""

    def __init__(self, client, container, name: str, sock: socket.socket, reader: asyncio.StreamReader,
                 writer: Any, holders: tuple = (), pump: asyncio.Task | None = None):
        self.client, self.container, self.name = client, container, name
        self.sock, self._holders, self._pump = sock, holders, pump  # holders: what else references the fd
        self._oom_file: tuple[str, str] | None = None
        self.channel = HarnessChannel(reader, writer, name)

    @classmethod
    async def over_socket(cls, client, container, name: str, conn: socket.socket) -> "DockerSandbox":
        reader, writer = await asyncio.open_unix_connection(sock=conn, limit=8 << 20)
        return cls(client, container, name, conn, reader, writer, holders=(writer,))

    @classmethod
    def over_attach(cls, client, container, name: str, sock_obj: Any) -> "DockerSandbox":
        sock: socket.socket = getattr(sock_obj, "_sock", sock_obj)  # the SocketIO of the HTTP response holds it too
        sock.setblocking(False)
        reader = asyncio.StreamReader(limit=8 << 20)
        pump = asyncio.create_task(_pump(sock, reader, bytearray()))
        return cls(client, container, name, sock, reader, _SocketWriter(sock), holders=(sock_obj,), pump=pump)

    def _close_socket(self) -> None:
        try:  # shutdown ends the connection whatever still references the fd; then drop every holder
            self.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        for holder in (*self._holders, self.sock):
            try:
                holder.close()
            except Exception:  # noqa: BLE001 - already closed
                pass

    async def exit_cause(self) -> str:
        """'cell' when the supervisor exited by itself (with a status below 128, not OOM-killed),
        otherwise what the host did to it: killed from outside, out of memory, engine gone."""
        try:
            status = await asyncio.to_thread(lambda: self.container.wait(timeout=10).get("StatusCode"))
            await asyncio.to_thread(self.container.reload)
            state = self.container.attrs.get("State", {})
        except Exception as err:  # noqa: BLE001 - no engine to ask: not the cell's doing
            return f"the Docker engine did not answer ({type(err).__name__})"
        if state.get("OOMKilled") and status in (137, None):  # PID 1 itself was OOM-killed
            return "the container ran out of memory"
        if not isinstance(status, int) or status >= 128 or status < 0:
            return f"the container was killed from outside (exit status {status})"
        return "cell"

    def oom_kills(self) -> int | None:
        """How many processes the kernel killed for the container's memory cap, read from the
        engine host's cgroupfs (cgroup v1 or v2, cgroupfs or systemd driver); None when it is not
        on this host (a remote engine): then `oom_killed()` asks the engine."""
        if self._oom_file is None:
            cid = self.container.id
            for path, key in ((f"/sys/fs/cgroup/memory/docker/{cid}/memory.oom_control", "oom_kill "),
                              (f"/sys/fs/cgroup/memory/system.slice/docker-{cid}.scope/memory.oom_control", "oom_kill "),
                              (f"/sys/fs/cgroup/system.slice/docker-{cid}.scope/memory.events", "oom_kill "),
                              (f"/sys/fs/cgroup/docker/{cid}/memory.events", "oom_kill ")):
                if os.path.exists(path):
                    self._oom_file = (path, key)
                    break
            else:
                self._oom_file = ("", "")
        path, key = self._oom_file
        if not path:
            return None
        try:
            with open(path) as f:
                return next((int(line.split()[1]) for line in f if line.startswith(key)), 0)
        except (OSError, ValueError):
            return None

    async def oom_killed(self) -> bool:
        """Whether the engine recorded an OOM kill in the container (sticky: any since it started)."""
        try:
            await asyncio.to_thread(self.container.reload)
            return bool(self.container.attrs.get("State", {}).get("OOMKilled"))
        except Exception:  # noqa: BLE001 - no engine to ask
            return False

    async def kill(self) -> None:
        if self._pump is not None:
            self._pump.cancel()
        self._close_socket()
        try:
            await asyncio.to_thread(self.container.remove, force=True)
        except Exception as err:  # already gone, engine hiccup: nothing the caller can do
            log.debug("removing %s: %s", self.name, err)


def _local_engine(client) -> bool:
    """Whether the engine is reached over a unix socket of this host (then it can bind-mount a
    directory of ours); tcp / ssh / npipe engines are not."""
    return str(getattr(client.api, "base_url", "")).startswith("http+docker://localhost")


class DockerBackend:
    kind = "docker"

    def __init__(self, config: SandboxConfig, client=None, pool_tag: str = "default"):
        self.config, self.pool_tag = config, pool_tag
        self.tool_specs = TOOL_SPECS  # the functions the harness defines (the pool sets its environment's)
        self.client = client or docker_client(config.docker_timeout_s, config.docker_host)
        import docker.errors

        try:
            self.client.images.get(config.image)
        except docker.errors.ImageNotFound:
            raise DockerUnavailable(f"sandbox image {config.image!r} not found; build it with "
                                    "`rlsys sandbox build-image --offline`") from None
        self.channel = config.docker_channel
        if self.channel == "auto":
            self.channel = "socket" if _local_engine(self.client) else "attach"
        self.sockets = SocketRoot()
        self.owner = f"{socket.gethostname()}:{os.getpid()}"
        self.owner_start = start_time("self") or ""
        self._remove_orphans()

    def _remove_orphans(self) -> None:
        """Removes sandbox containers (and socket directories) left by dead processes of this
        host: an owner whose pid is gone, or runs a process with another start time."""
        host = socket.gethostname()
        remove_orphan_roots()
        try:
            for container in self.client.containers.list(all=True, sparse=True, filters={"label": LABEL}):
                labels = container.attrs.get("Labels") or {}
                owner_host, _, pid = labels.get(OWNER_LABEL, "").rpartition(":")
                started = labels.get(OWNER_START_LABEL) or None  # containers of older versions have none
                if owner_host == host and pid.isdigit() and not owner_alive(pid, started):
                    _force_remove(container)
        except Exception as err:
            log.warning("could not clean up old sandbox containers: %s", err)

    def settings(self) -> dict[str, Any]:
        cfg = self.config
        return {"output_bytes": cfg.output_bytes, "memory_bytes": max(64, cfg.memory_mb - 32) << 20,
                "fsize": cfg.tmpfs_mb << 20, "max_tool_calls": cfg.max_tool_calls_per_cell}

    def _create(self, name: str):
        """Creates and starts the container; returns (container, attach socket or None, listener
        and its directory or None) — the socket channel's listener exists before the container."""
        import docker.types

        cfg = self.config
        listening = self.sockets.listen(name) if self.channel == "socket" else None
        over_socket = dict(mounts=[docker.types.Mount(target=CONTAINER_DIR, source=str(listening[1]), type="bind",
                                                      read_only=True)]) if listening else {}
        try:
            container = self.client.containers.create(
                cfg.image, command=["python3", *SUPERVISOR_ARGV, *([CONTAINER_SOCKET] if listening else [])],
                name=name, stdin_open=not listening, tty=False,  # the SDK sets StdinOnce with stdin_open
                auto_remove=False, user="65534:65534", log_config=docker.types.LogConfig(type="none"),
                ulimits=[docker.types.Ulimit(name="nofile", soft=cfg.open_files, hard=cfg.open_files)], working_dir="/tmp",
                hostname="sandbox", environment={"PATH": "/usr/local/bin:/usr/bin:/bin", "HOME": "/tmp", "LANG": "C.UTF-8"},
                network_mode="none", read_only=True, mem_limit=f"{cfg.memory_mb}m", memswap_limit=f"{cfg.memory_mb}m",
                nano_cpus=int(cfg.cpus * 1e9), pids_limit=cfg.pids, cap_drop=["ALL"],
                security_opt=["no-new-privileges"], tmpfs={"/tmp": f"size={cfg.tmpfs_mb}m,mode=1777"},
                shm_size="4m", stop_signal="SIGKILL", **over_socket,
                labels={LABEL: "1", OWNER_LABEL: self.owner, OWNER_START_LABEL: self.owner_start,
                        POOL_LABEL: f"{self.owner}:{self.pool_tag}"})
            sock = None if listening else self.client.api.attach_socket(
                container.id, params={"stdin": 1, "stdout": 1, "stderr": 1, "stream": 1})
            container.start()
        except BaseException:
            if listening:
                SocketRoot.discard(*listening)
            raise
        return container, sock, listening

    async def start(self, name: str) -> DockerSandbox:
        try:
            container, sock, listening = await asyncio.to_thread(self._create, name)
        except BaseException:
            await asyncio.to_thread(self._remove_named, name)
            raise
        try:
            if listening:
                conn = await accept_supervisor(*listening, self.config.start_timeout_s)
                sandbox = await DockerSandbox.over_socket(self.client, container, name, conn)
            else:
                sandbox = DockerSandbox.over_attach(self.client, container, name, sock)
        except BaseException:
            await asyncio.to_thread(_force_remove, container)
            raise
        try:
            await sandbox.channel.init(self.settings(), self.config.start_timeout_s, self.tool_specs)
        except BaseException:
            await sandbox.kill()
            raise
        return sandbox

    def _remove_named(self, name: str) -> None:
        try:
            self.client.containers.get(name).remove(force=True)
        except Exception:  # noqa: BLE001 - it was never created
            pass

    def close(self) -> None:
        """Removes every container this backend created that is still there, its socket
        directories, then the client."""
        try:
            label = f"{POOL_LABEL}={self.owner}:{self.pool_tag}"
            for container in self.client.containers.list(all=True, sparse=True, filters={"label": label}):
                _force_remove(container)
        except Exception as err:
            log.warning("could not remove sandbox containers: %s", err)
        self.sockets.remove()
        try:
            self.client.close()
        except Exception:
            pass
