"""Who owns a sandbox resource left on the host: a process named by its pid AND its start time.

Pids are reused (pid_max is 32768 on many hosts, and a long test session wraps it), so a pid
alone can name a live stranger: its dead predecessor's containers, cgroups and socket
directories would then be kept for ever. Every resource of a sandbox owner records both, and
clean-up removes what belongs to an owner whose pid is gone or now runs a different process.
"""

from __future__ import annotations

import os
from pathlib import Path


def start_time(pid: int | str) -> str | None:
    """The process's start time in clock ticks since boot (field 22 of /proc/PID/stat), or None
    if it is gone."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return stat.rsplit(")", 1)[1].split()[19]


def owner_tag() -> str:
    """`<pid>-<start time>` of this process: what its sandbox resources are named/labelled after."""
    return f"{os.getpid()}-{start_time('self')}"


def owner_alive(pid: str, started: str | None) -> bool:
    """Whether the process that recorded (`pid`, `started`) still runs; `started` None (a record
    without a start time) falls back to the pid alone."""
    now = start_time(pid) if pid.isdigit() else None
    if now is None:
        return False
    return started is None or now == started
