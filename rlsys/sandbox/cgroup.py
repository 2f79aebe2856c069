"""A memory cgroup per bubblewrap sandbox: the whole process tree of one sandbox shares one cap
(rlimits are per process; without this, `RLIMIT_AS x pids` lets a sandbox fork its way to tens
of GiB). cgroup v2: a leaf under this process's cgroup (which must have the memory controller
delegated to its children); cgroup v1: a group under this process's memory cgroup. The
sandbox's first process moves itself in before it execs bwrap, so every descendant is inside.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

from rlsys.sandbox.owner import owner_alive, owner_tag

ROOT = Path("/sys/fs/cgroup")
PROC_CGROUP = Path("/proc/self/cgroup")  # (both module constants: tests point them at a fake cgroupfs)


class CgroupUnavailable(RuntimeError):
    """No memory cgroup can be created here; the message says why and what would fix it."""


def _own_path(controller_line: str) -> str:
    for line in PROC_CGROUP.read_text().splitlines():
        hier, controllers, path = line.split(":", 2)
        if controller_line in controllers.split(",") or (controller_line == "" and hier == "0" and not controllers):
            return path.lstrip("/")
    raise CgroupUnavailable(f"this process is in no {controller_line or 'v2'} cgroup")


def _parent() -> tuple[str, Path]:
    """('v2' | 'v1', the directory under which sandbox cgroups are created)."""
    if (ROOT / "cgroup.controllers").exists():  # unified hierarchy
        parent = ROOT / _own_path("")
        if "memory" not in (parent / "cgroup.subtree_control").read_text().split():
            try:
                (parent / "cgroup.subtree_control").write_text("+memory")
            except OSError as err:
                raise CgroupUnavailable(
                    f"cgroup v2: cannot enable the memory controller for children of {parent} ({err.strerror}); "
                    "run the worker in a delegated cgroup (e.g. `systemd-run --scope -p Delegate=yes`)") from None
        return "v2", parent
    memory = ROOT / "memory"
    if (memory / "memory.limit_in_bytes").exists():
        return "v1", memory / _own_path("memory")
    raise CgroupUnavailable("no cgroup memory controller is mounted under /sys/fs/cgroup")


PREFIX = "rlsys-"


def _owner_alive(name: str) -> bool | None:
    """Whether the owner a sandbox cgroup's name records is still running; None if the name is
    not one of ours."""
    fields = name[len(PREFIX):].split("-", 2)
    if not fields[0].isdigit():
        return None
    return owner_alive(fields[0], fields[1] if len(fields) > 1 and fields[1].isdigit() else None)


def sandbox_cgroups(part: str = "") -> list[Path]:
    """The sandbox cgroups (of any process of this host) whose name contains `part`."""
    try:
        parent = _parent()[1]
        return [p for p in parent.iterdir() if p.name.startswith(PREFIX) and part in p.name and p.is_dir()]
    except (CgroupUnavailable, OSError):
        return []


def remove_orphans(wait_s: float = 10.0) -> int:
    """Removes the cgroups of sandbox owners that died (named rlsys-<pid>-...), waiting up to
    `wait_s` for their last processes to be gone; returns how many were removed."""
    orphans = [p for p in sandbox_cgroups() if _owner_alive(p.name) is False]
    deadline = time.monotonic() + wait_s
    removed = 0
    while orphans:
        for path in list(orphans):
            _kill_procs(path)  # a sandbox process can outlive its owner (killed between clone and setup)
            try:
                os.rmdir(path)
            except FileNotFoundError:
                pass
            except OSError:
                continue
            orphans.remove(path)
            removed += 1
        if not orphans or time.monotonic() > deadline:
            break
        time.sleep(0.05)
    return removed


class MemoryCgroup:
    """One sandbox's memory cgroup (named after the owning process and its start time, so orphans
    can be found even after the pid is reused); `procs` is the file its first process writes its
    pid to."""

    def __init__(self, name: str, limit_bytes: int):
        self.version, parent = _parent()
        self.path = parent / f"{PREFIX}{owner_tag()}-{name}"
        try:
            self.path.mkdir()
            if self.version == "v2":
                (self.path / "memory.max").write_text(str(limit_bytes))
                if (self.path / "memory.swap.max").exists():
                    (self.path / "memory.swap.max").write_text("0")
                (self.path / "memory.oom.group").write_text("0")
            else:
                (self.path / "memory.limit_in_bytes").write_text(str(limit_bytes))
                if (self.path / "memory.memsw.limit_in_bytes").exists():
                    (self.path / "memory.memsw.limit_in_bytes").write_text(str(limit_bytes))
        except OSError as err:
            self.remove()
            raise CgroupUnavailable(f"cannot create the memory cgroup {self.path} ({err.strerror})") from None
        self.procs = str(self.path / "cgroup.procs")

    def limit(self) -> int:
        name = "memory.max" if self.version == "v2" else "memory.limit_in_bytes"
        return int((self.path / name).read_text())

    def oom_kills(self) -> int:
        """How many processes the kernel killed for this cgroup's memory cap."""
        try:
            if self.version == "v2":
                for line in (self.path / "memory.events").read_text().splitlines():
                    if line.startswith("oom_kill "):
                        return int(line.split()[1])
                return 0
            for line in (self.path / "memory.oom_control").read_text().splitlines():
                if line.startswith("oom_kill "):
                    return int(line.split()[1])
        except OSError:
            pass
        return 0

    def remove(self, wait_s: float = 15.0) -> bool:
        """Removes the cgroup, killing whatever of the sandbox is still in it (its processes need a
        moment to be gone after a kill); returns whether the cgroup is gone."""
        deadline = time.monotonic() + wait_s
        while True:
            try:
                os.rmdir(self.path)
                return True
            except FileNotFoundError:
                return True
            except OSError:
                if time.monotonic() > deadline:
                    return False
                self.kill_all()
                time.sleep(0.02)

    def kill_all(self) -> None:
        """SIGKILLs every process in the cgroup (only the sandbox's own processes are in it)."""
        _kill_procs(self.path)


def _kill_procs(path: Path) -> None:
    try:
        pids = [int(p) for p in (path / "cgroup.procs").read_text().split()]
    except (OSError, ValueError):
        return
    for pid in pids:
        try:
            os.kill(pid, 9)
        except OSError:
            pass


def enter(procs_file: str) -> None:
    """Moves the calling process into a cgroup (used between fork and exec)."""
    fd = os.open(procs_file, os.O_WRONLY)
    try:
        os.write(fd, b"0")
    finally:
        os.close(fd)
