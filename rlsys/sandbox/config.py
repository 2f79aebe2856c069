"""Config of the sandbox pool that runs model-written code."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from rlsys.config_base import Section


class SandboxConfig(Section):
    backend: Literal["auto", "docker", "bwrap"] = "auto"
    """Isolation backend: `docker`, `bwrap` (bubblewrap) or `auto` (Docker when an engine answers)."""
    image: str = Field("rlsys-sandbox:latest", min_length=1)
    """Docker image that runs the harness (built by `rlsys sandbox build-image`)."""
    workers: int = Field(1, ge=1)
    """Number of `SandboxWorker` actors."""
    containers_per_worker: int = Field(4, ge=1)
    """Warm containers (or bwrap processes) each worker keeps; one episode holds one from its first cell to its end."""
    burst_containers: int = Field(12, ge=0)
    """Extra sandboxes a worker may start on demand when all warm ones are held by open episodes."""
    cell_timeout_s: float = Field(10.0, gt=0)
    """Wall-clock limit of one code cell."""
    output_bytes: int = Field(8192, ge=64)
    """Cap on captured stdout+stderr of one cell; longer output is truncated with a marker."""
    memory_mb: int = Field(512, ge=64)
    """Memory limit of one container."""
    cpus: float = Field(1.0, gt=0)
    """CPU limit of one container."""
    pids: int = Field(64, ge=8)
    """Process limit of one container."""
    max_tool_calls_per_cell: int = Field(20, ge=1)
    """Tool calls allowed in one cell."""
    max_tool_bytes_per_cell: int = Field(262144, ge=1024)
    """Bytes of tool results one cell may receive; further calls fail with a message to the model."""
    tmpfs_mb: int = Field(16, ge=1)
    """Size of the writable /tmp of a sandbox (the only writable place)."""
    max_cells_per_container: int = Field(2000, ge=1)
    """Cells one sandbox serves; a sandbox serves one episode, so this caps an episode's cells
    (further cells fail with an error the model reads)."""
    start_timeout_s: float = Field(60.0, gt=0)
    """Deadline for a sandbox to start and answer."""
    acquire_timeout_s: float = Field(120.0, gt=0)
    """How long opening an episode waits for a free sandbox before its cells fail as infra errors."""
    docker_host: str = ""
    """Address of the Docker engine (e.g. `unix:///run/docker.sock`, `tcp://host:2375`); empty:
    the `DOCKER_HOST` environment variable, else the default socket."""
    docker_channel: Literal["auto", "socket", "attach"] = "auto"
    """How the worker talks to a container's supervisor: `socket` (a unix socket in a host
    directory bind-mounted read-only into the container; cells never cross dockerd or the
    containerd shim), `attach` (the container's stdin/stdout over the engine's attach stream; works
    with a remote engine), or `auto` (socket when the engine is reached over a local unix
    socket, attach otherwise)."""
    docker_timeout_s: float = Field(30.0, gt=0)
    """Timeout of every Docker API call."""
    episode_ttl_s: float = Field(3600.0, ge=1.0, le=7 * 86400.0)
    """Time-to-live of an open episode: after it, its sandbox is released (a crashed rollout
    worker's episodes cannot hold sandboxes for ever) and its further cells are infra errors."""
    open_files: int = Field(256, ge=32, le=65536)
    """Open-files limit (RLIMIT_NOFILE) of every process in a Docker sandbox."""
    bwrap_require_memory_cgroup: bool = True
    """Refuse bubblewrap sandboxes when no memory cgroup can be created for each (a cgroup v2
    leaf, or v1 memory on older hosts); False accepts rlimits only (trusted code only)."""
