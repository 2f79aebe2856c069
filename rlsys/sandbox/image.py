"""Building the sandbox image: from `deploy/sandbox/Dockerfile` where a base image can be
pulled, or offline from a `debootstrap --variant=minbase --include=python3` root filesystem
imported with `docker import` (machines with a Debian mirror but no registry).

The image holds only Debian's python3; the harness is passed on the command line at container
start, so changing the harness never needs a rebuild.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Callable

from rlsys.paths import REPO_ROOT

DOCKERFILE_DIR = REPO_ROOT / "deploy" / "sandbox"
IMAGE_LABEL = "rlsys.sandbox"
# Trimmed from the root filesystem before import: docs, caches, package lists.
_PRUNE = ["usr/share/doc", "usr/share/man", "usr/share/info", "usr/share/locale",
          "var/cache/apt", "var/lib/apt/lists", "var/log"]


class ImageBuildError(RuntimeError):
    """The sandbox image could not be built; the message says which step failed and why."""


def image_exists(client, tag: str) -> bool:
    import docker.errors

    try:
        client.images.get(tag)
        return True
    except docker.errors.ImageNotFound:
        return False


def _run(cmd: list[str], log: Callable[[str], None], timeout: float) -> None:
    log("$ " + " ".join(cmd))
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    except FileNotFoundError:
        raise ImageBuildError(f"{cmd[0]} is not installed (apt-get install -y {cmd[0]})") from None
    except subprocess.TimeoutExpired:
        raise ImageBuildError(f"{cmd[0]} did not finish within {timeout:.0f}s") from None
    if proc.returncode != 0:
        tail = "\n".join((proc.stderr or proc.stdout).strip().splitlines()[-15:])
        raise ImageBuildError(f"{cmd[0]} failed (exit {proc.returncode}):\n{tail}")


def _unmount_under(root: Path) -> None:
    """An interrupted debootstrap leaves /proc (and others) mounted inside the target: unmount them
    before the directory is removed, or the removal walks the host's /proc."""
    try:
        mounts = [line.split()[1] for line in Path("/proc/mounts").read_text().splitlines()]
    except OSError:
        return
    for point in sorted((m for m in mounts if m.startswith(str(root) + "/")), key=len, reverse=True):
        subprocess.run(["umount", "-l", point], capture_output=True, timeout=30)


def build_offline(client, tag: str, suite: str = "bookworm", mirror: str | None = None,
                  log: Callable[[str], None] = print, workdir: str | None = None) -> str:
    """debootstrap a minimal Debian with python3, prune it, `docker import` it as `tag`."""
    if shutil.which("debootstrap") is None:
        raise ImageBuildError("debootstrap is not installed (apt-get install -y debootstrap)")
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="rlsys-rootfs-", dir=workdir or "/var/tmp") as tmp:
        root = Path(tmp) / "rootfs"
        cmd = ["debootstrap", "--variant=minbase", "--include=python3", suite, str(root)]
        if mirror:
            cmd.append(mirror)
        try:
            _run(cmd, log, timeout=1200)
        finally:
            _unmount_under(root)
        for rel in _PRUNE:
            shutil.rmtree(root / rel, ignore_errors=True)
            (root / rel).mkdir(parents=True, exist_ok=True)
        if not (root / "usr" / "bin" / "python3").exists():
            raise ImageBuildError("debootstrap finished but the root filesystem has no /usr/bin/python3")
        tarball = Path(tmp) / "rootfs.tar"
        _run(["tar", "-C", str(root), "--numeric-owner", "-cf", str(tarball), "."], log, timeout=600)
        log(f"importing {tarball.stat().st_size / 1e6:.0f} MB root filesystem as {tag}")
        repository, _, version = tag.rpartition(":") if ":" in tag.split("/")[-1] else (tag, "", "latest")
        changes = [f"LABEL {IMAGE_LABEL}=offline", "USER 65534:65534", "WORKDIR /tmp",
                   "ENV PYTHONDONTWRITEBYTECODE=1", 'CMD ["python3"]']
        try:
            client.api.import_image_from_file(str(tarball), repository=repository, tag=version or "latest",
                                              changes=changes)
        except Exception as err:  # docker.errors.APIError, requests errors
            raise ImageBuildError(f"docker import failed: {err}") from None
    if not image_exists(client, tag):
        raise ImageBuildError(f"docker import reported success but {tag} is not listed")
    log(f"built {tag} offline in {time.monotonic() - started:.0f}s")
    return tag


def registry_reachable(host: str = "registry-1.docker.io", timeout_s: float = 4.0) -> bool:
    """Whether a TCP connection to the registry opens within the timeout (DNS included)."""
    import socket
    import threading

    result: list[bool] = []

    def probe() -> None:
        try:
            socket.create_connection((host, 443), timeout=timeout_s).close()
            result.append(True)
        except OSError:
            result.append(False)

    thread = threading.Thread(target=probe, daemon=True)
    thread.start()
    thread.join(timeout_s + 1)
    return bool(result and result[0])


def build_from_dockerfile(client, tag: str, log: Callable[[str], None] = print) -> str:
    """`docker build deploy/sandbox` (needs a registry to pull the python base image)."""
    if not (DOCKERFILE_DIR / "Dockerfile").is_file():
        raise ImageBuildError(f"no Dockerfile in {DOCKERFILE_DIR}")
    started = time.monotonic()
    try:
        client.images.build(path=str(DOCKERFILE_DIR), tag=tag, rm=True, pull=True)
    except Exception as err:
        raise ImageBuildError(f"docker build failed (no registry? try --offline): {err}") from None
    log(f"built {tag} from {DOCKERFILE_DIR}/Dockerfile in {time.monotonic() - started:.0f}s")
    return tag
