"""bubblewrap backend, for hosts without a Docker engine: the same harness under
`bwrap --unshare-all --die-with-parent --as-pid-1`, with only /usr (read-only), a fresh /proc
and /dev, and a size-capped tmpfs on /tmp. No network namespace peers, no host files, no host
environment. Memory, processes and file sizes are capped with rlimits set by the harness in
the episode's interpreter. When run as root, bwrap itself runs as `nobody`, so the process
limit applies (root is exempt from RLIMIT_NPROC).
"""

from __future__ import annotations

import asyncio
import os
import shutil
from typing import Any

from rlsys.sandbox.channel import SUPERVISOR_ARGV, HarnessChannel
from rlsys.sandbox.config import SandboxConfig

NOBODY = 65534


class BwrapUnavailable(RuntimeError):
    """bubblewrap is not installed or cannot create namespaces here."""


def _system_python() -> str:
    for candidate in ("/usr/bin/python3", "/usr/local/bin/python3"):
        if os.path.exists(candidate):
            return candidate
    raise BwrapUnavailable("no system python3 under /usr to run the harness with")


def bwrap_command(config: SandboxConfig) -> list[str]:
    cmd = ["bwrap", "--unshare-all", "--die-with-parent", "--as-pid-1", "--new-session", "--clearenv",
           "--ro-bind", "/usr", "/usr"]
    for top in ("/bin", "/lib", "/lib64", "/lib32", "/sbin"):
        if os.path.islink(top):
            cmd += ["--symlink", os.readlink(top), top]
        elif os.path.isdir(top):
            cmd += ["--ro-bind", top, top]
    cmd += ["--proc", "/proc", "--dev", "/dev",
            "--size", str(config.tmpfs_mb << 20), "--tmpfs", "/tmp",
            "--size", str(4 << 20), "--tmpfs", "/dev/shm", "--remount-ro", "/",
            "--hostname", "sandbox", "--uid", str(NOBODY), "--gid", str(NOBODY), "--chdir", "/tmp",
            "--setenv", "PATH", "/usr/local/bin:/usr/bin:/bin", "--setenv", "HOME", "/tmp",
            "--setenv", "LANG", "C.UTF-8", "--", _system_python(), *SUPERVISOR_ARGV]
    return cmd


class BwrapSandbox:
    def __init__(self, proc: asyncio.subprocess.Process, name: str):
        self.proc, self.name = proc, name
        self.channel = HarnessChannel(proc.stdout, proc.stdin, name)

    async def kill(self) -> None:
        if self.proc.returncode is None:
            try:
                self.proc.kill()  # --die-with-parent takes the whole sandbox with it
            except ProcessLookupError:
                pass
        try:
            await asyncio.wait_for(self.proc.wait(), 5.0)
        except asyncio.TimeoutError:
            pass


class BwrapBackend:
    kind = "bwrap"

    def __init__(self, config: SandboxConfig):
        if shutil.which("bwrap") is None:
            raise BwrapUnavailable("bubblewrap is not installed (apt-get install -y bubblewrap)")
        self.config = config
        self.command = bwrap_command(config)

    def settings(self) -> dict[str, Any]:
        cfg = self.config
        return {"output_bytes": cfg.output_bytes, "memory_bytes": cfg.memory_mb << 20,
                "nproc": cfg.pids, "fsize": cfg.tmpfs_mb << 20}

    async def start(self, name: str) -> BwrapSandbox:
        as_root = os.geteuid() == 0
        proc = await asyncio.create_subprocess_exec(
            *self.command, stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.DEVNULL, limit=8 << 20, start_new_session=True,
            user=NOBODY if as_root else None, group=NOBODY if as_root else None,
            extra_groups=[] if as_root else None, cwd="/")
        sandbox = BwrapSandbox(proc, name)
        try:
            await sandbox.channel.init(self.settings(), self.config.start_timeout_s)
        except BaseException:
            await sandbox.kill()
            raise
        return sandbox

    def close(self) -> None:
        pass
