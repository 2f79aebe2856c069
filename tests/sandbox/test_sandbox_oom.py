"""A cell that goes over the sandbox's memory cap (a container's memory cgroup, a bwrap sandbox's
own cgroup) and gets its interpreter OOM-killed: the result is `killed` (the cell's doing, scored)
with an error that names memory, and the episode goes on in a fresh sandbox (the old one, whose
memory is still pinned, is discarded), on Docker and on bubblewrap."""

from __future__ import annotations

import uuid

import pytest

from rlsys.sandbox.pool import SandboxPool
from rlsys.sandbox.types import ExecStatus

from .conftest import assert_serving, require, small_config

BACKENDS = [pytest.param("docker", marks=pytest.mark.docker), "bwrap"]

# 3 x 60 MB of SysV shared memory, touched and detached: charged to the sandbox's memory cgroup,
# held by no process (the OOM killer cannot free it), far below the interpreter's RLIMIT_AS
PIN = """import ctypes
libc = ctypes.CDLL(None, use_errno=True)
libc.shmat.restype = ctypes.c_void_p
for i in range(3):
    sid = libc.shmget(0, 60 << 20, 0o1600)
    addr = libc.shmat(sid, None, 0)
    ctypes.memset(addr, 1, 60 << 20)
    libc.shmdt(ctypes.c_void_p(addr))
print('pinned', len(open('/proc/sysvipc/shm').read().splitlines()) - 1)
"""
# then 150 MB more, touched page by page: 330 MB in a 256 MB cap, below RLIMIT_AS (no MemoryError)
GROW = "big = bytearray(150 << 20)\nbig[::4096] = b'1' * len(big[::4096])\nprint('fit')"


@pytest.mark.parametrize("backend", BACKENDS)
async def test_out_of_memory_kill_names_memory_and_replaces_the_sandbox(corpus, backend):
    require(backend)
    async with SandboxPool(small_config(memory_mb=256), corpus, size=1, backend=backend) as pool:
        episode = uuid.uuid4().hex
        await pool.open(episode)
        first = pool._episodes[episode].slot.sandbox
        assert first.oom_kills() in (0, None)
        # the interpreter is the OOM killer's first choice, never the supervisor (PID 1)
        kept = await pool.run(episode, "kept = 1\nopen('/tmp/mine', 'w').write('x')\n"
                                       "print(open('/proc/self/oom_score_adj').read().strip(), "
                                       "open('/proc/1/oom_score_adj').read().strip())", timeout_s=10)
        pinned = await pool.run(episode, PIN, timeout_s=20)
        assert kept.status is ExecStatus.OK and pinned.status is ExecStatus.OK, (kept, pinned)
        assert kept.stdout == "1000 0\n", kept
        assert pinned.stdout == "pinned 3\n", pinned
        grown = await pool.run(episode, GROW, timeout_s=20)
        assert grown.status is ExecStatus.KILLED, grown  # scored: the cell did it
        assert "memory" in grown.error and "256 MB" in grown.error and "replaced" in grown.error, grown
        assert "fit" not in grown.stdout
        assert first.oom_kills() is None or first.oom_kills() >= 1
        assert pool.counts["cells_out_of_memory"] == 1
        # the same episode goes on in a FRESH sandbox: no pinned segment, no file, no variable
        after = await pool.run(episode, "import os\nprint(len(open('/proc/sysvipc/shm').read().splitlines()) - 1, "
                                        "os.path.exists('/tmp/mine'), 'kept' in dir())\n" + GROW, timeout_s=20)
        assert after.status is ExecStatus.OK and after.stdout == "0 False False\nfit\n", after
        assert pool._episodes[episode].slot.sandbox is not first
        await pool.close(episode)
        assert pool.counts["cells_infra_error"] == 0
        await assert_serving(pool)
