"""bubblewrap backend, for hosts without a Docker engine: the same harness under
`bwrap --unshare-all --disable-userns --die-with-parent --as-pid-1`, with only /usr (read-only),
a fresh /proc, a small read-only /dev, and size-capped tmpfs on /tmp and /dev/shm. No network
peers, no host files, no host environment, no nested user namespaces (so no capabilities and no
mounts for user code; the harness's seccomp filter blocks new namespaces too). The whole sandbox
lives in its own memory cgroup (`cgroup.py`) with the container's memory cap; without one the
backend refuses to start (unless `bwrap_require_memory_cgroup: false`). Processes and file sizes
are also capped with rlimits. When run as root, bwrap itself runs as `nobody`, so the process
limit applies (root is exempt from RLIMIT_NPROC).
"""

from __future__ import annotations

import asyncio
import logging
import os
import shutil
import signal
import uuid
from typing import Any

from rlsys.sandbox.cgroup import CgroupUnavailable, MemoryCgroup, remove_orphans
from rlsys.sandbox.channel import SUPERVISOR_ARGV, HarnessChannel
from rlsys.sandbox.config import SandboxConfig
from rlsys.sandbox.tools import TOOL_SPECS

log = logging.getLogger(__name__)
NOBODY = 65534


class BwrapUnavailable(RuntimeError):
    """bubblewrap is not installed, cannot confine code here, or has no memory cgroup."""


def _system_python() -> str:
    for candidate in ("/usr/bin/python3", "/usr/local/bin/python3"):
        if os.path.exists(candidate):
            return candidate
    raise BwrapUnavailable("no system python3 under /usr to run the harness with")


def bwrap_command(config: SandboxConfig) -> list[str]:
    cmd = ["bwrap", "--unshare-all", "--unshare-user", "--disable-userns", "--die-with-parent", "--as-pid-1",
           "--new-session", "--clearenv", "--ro-bind", "/usr", "/usr"]
    for top in ("/bin", "/lib", "/lib64", "/lib32", "/sbin"):
        if os.path.islink(top):
            cmd += ["--symlink", os.readlink(top), top]
        elif os.path.isdir(top):
            cmd += ["--ro-bind", top, top]
    cmd += ["--proc", "/proc", "--dev", "/dev",
            "--size", str(config.tmpfs_mb << 20), "--tmpfs", "/tmp",
            "--size", str(4 << 20), "--tmpfs", "/dev/shm", "--remount-ro", "/dev", "--remount-ro", "/",
            "--hostname", "sandbox", "--uid", str(NOBODY), "--gid", str(NOBODY), "--chdir", "/tmp",
            "--setenv", "PATH", "/usr/local/bin:/usr/bin:/bin", "--setenv", "HOME", "/tmp",
            "--setenv", "LANG", "C.UTF-8", "--", _system_python(), *SUPERVISOR_ARGV]
    return cmd


def spawn_argv(command: list[str], procs: str | None, as_root: bool) -> tuple[list[str], dict[str, Any]]:
    """The argv and `subprocess` keywords that start a sandbox in its cgroup (as root: as nobody).

    No Python runs between fork and exec (no `preexec_fn`): it is not safe in a process with
    threads — the corpus service's LanceDB runtime and onnxruntime have some — and a child can
    deadlock before exec. A shell moves itself into the cgroup and execs `setpriv`, which drops
    to nobody and execs bubblewrap, so the pid is in the cgroup before bubblewrap starts."""
    if procs is None:
        drop = {"user": NOBODY, "group": NOBODY, "extra_groups": []} if as_root else {}
        return list(command), drop
    setpriv = ["setpriv", f"--reuid={NOBODY}", f"--regid={NOBODY}", "--clear-groups"] if as_root else []
    return ["/bin/sh", "-c", 'echo $$ > "$0" && exec "$@"', procs, *setpriv, *command], {}


class BwrapSandbox:
    def __init__(self, proc: asyncio.subprocess.Process, name: str, cgroup: MemoryCgroup | None,
                 on_removed=lambda cgroup: None):
        self.proc, self.name, self.cgroup, self.on_removed = proc, name, cgroup, on_removed
        self.channel = HarnessChannel(proc.stdout, proc.stdin, name)

    async def exit_cause(self) -> str:
        """'cell' when the supervisor exited by itself (status below 128, no OOM kill in its
        cgroup), otherwise what the host did to it."""
        try:
            code = await asyncio.wait_for(self.proc.wait(), 10.0)
        except asyncio.TimeoutError:
            return "the sandbox closed its channel but did not exit"
        if self.cgroup is not None and self.cgroup.oom_kills() and code != 0 and code != 1:
            return "the sandbox ran out of memory"
        if code < 0 or code >= 128:
            return f"the sandbox was killed from outside (exit status {code})"
        return "cell"

    def oom_kills(self) -> int | None:
        """How many processes the kernel killed for this sandbox's memory cgroup (None: no cgroup)."""
        return self.cgroup.oom_kills() if self.cgroup is not None else None

    async def oom_killed(self) -> bool:
        return bool(self.oom_kills())

    async def kill(self) -> None:
        if self.proc.returncode is None:
            try:  # the process group too: a sandbox child cloned a moment before bwrap died has no
                os.killpg(self.proc.pid, signal.SIGKILL)  # --die-with-parent yet (nor its own session)
            except (ProcessLookupError, PermissionError):
                pass
            try:
                self.proc.kill()  # --die-with-parent takes the rest of the sandbox with it
            except ProcessLookupError:
                pass
        if self.cgroup is not None:
            self.cgroup.kill_all()
        try:
            await asyncio.wait_for(self.proc.wait(), 5.0)
        except asyncio.TimeoutError:
            pass
        transport = getattr(self.proc, "_transport", None)  # close the pipes now, not when collected
        if transport is not None:
            transport.close()
        if self.cgroup is not None and await asyncio.to_thread(self.cgroup.remove):
            self.on_removed(self.cgroup)


class BwrapBackend:
    kind = "bwrap"

    def __init__(self, config: SandboxConfig):
        if shutil.which("bwrap") is None:
            raise BwrapUnavailable("bubblewrap is not installed (apt-get install -y bubblewrap)")
        if os.geteuid() == 0 and shutil.which("setpriv") is None:
            raise BwrapUnavailable("setpriv (util-linux) is needed to start sandboxes as nobody: apt-get install -y util-linux")
        self.config = config
        self.tool_specs = TOOL_SPECS  # the functions the harness defines (the pool sets its environment's)
        self.command = bwrap_command(config)
        self.use_cgroup = True
        self.cgroups: set[MemoryCgroup] = set()  # created by this backend and not yet removed
        try:  # probe once: a sandbox without a memory cap for its whole tree is refused
            MemoryCgroup(f"probe-{uuid.uuid4().hex[:8]}", config.memory_mb << 20).remove()
            remove_orphans()  # cgroups of workers that died without cleaning up
        except (CgroupUnavailable, OSError) as err:
            if config.bwrap_require_memory_cgroup:
                raise BwrapUnavailable(
                    f"bubblewrap sandboxes need a memory cgroup for untrusted code and none can be created "
                    f"here: {err}. Use Docker, run as root, or set sandbox.bwrap_require_memory_cgroup=false "
                    "for trusted code") from None
            log.warning("bubblewrap sandboxes run WITHOUT a memory cgroup (%s): rlimits only", err)
            self.use_cgroup = False

    def settings(self) -> dict[str, Any]:
        cfg = self.config
        return {"output_bytes": cfg.output_bytes, "memory_bytes": cfg.memory_mb << 20,
                "nproc": cfg.pids, "fsize": cfg.tmpfs_mb << 20, "max_tool_calls": cfg.max_tool_calls_per_cell}

    async def start(self, name: str) -> BwrapSandbox:
        as_root = os.geteuid() == 0
        cgroup = None
        if self.use_cgroup:
            cgroup = MemoryCgroup(name, self.config.memory_mb << 20)  # a mkdir and two writes: never lost to a cancel
            self.cgroups.add(cgroup)
        try:
            argv, drop = spawn_argv(self.command, cgroup.procs if cgroup else None, as_root)
            proc = await asyncio.create_subprocess_exec(
                *argv, stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.DEVNULL, limit=8 << 20, start_new_session=True, cwd="/", **drop)
        except BaseException:
            if cgroup is not None and cgroup.remove():
                self.cgroups.discard(cgroup)
            raise
        sandbox = BwrapSandbox(proc, name, cgroup, self.cgroups.discard)
        try:
            await sandbox.channel.init(self.settings(), self.config.start_timeout_s, self.tool_specs)
        except BaseException:
            await sandbox.kill()
            raise
        return sandbox

    def close(self) -> None:
        """Removes any cgroup of this backend still there (a sandbox whose kill was cut short)."""
        for cgroup in list(self.cgroups):
            if cgroup.remove(wait_s=5.0):
                self.cgroups.discard(cgroup)
