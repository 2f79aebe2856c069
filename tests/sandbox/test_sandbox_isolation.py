"""Nothing an episode leaves behind is visible to the next one, on Docker and on bubblewrap.

Each case plants something (files behind a `chmod 0` directory, SysV shared memory and message
queues, POSIX shm and message queues, an abstract unix socket, a double-forked `setsid` daemon,
a full tmpfs, changed rlimits, hundreds of MB pinned in SysV segments with no process attached),
checks in the SAME episode that the probe sees it (so the probe can fail), closes the episode,
and then probes fresh episodes: they must see nothing, and the pool must still serve.
"""

from __future__ import annotations

import uuid

import pytest

from rlsys.sandbox.types import ExecStatus

from .conftest import assert_serving, run_cells

pytestmark = pytest.mark.asyncio(loop_scope="module")

LIBC = "import ctypes, os\nlibc = ctypes.CDLL(None, use_errno=True)\n"
KEY = 0x5EED  # a fixed SysV key: a later episode looking it up finds it if it leaked

CASES = {
    "files_behind_chmod_0": (
        "import os\nos.makedirs('/tmp/d/e', exist_ok=True)\nopen('/tmp/d/e/f', 'w').write('M')\n"
        "open('/tmp/.hidden', 'w').write('M')\nos.chmod('/tmp/d/e', 0)\nos.chmod('/tmp/d', 0)\n"
        "os.chmod('/tmp/.hidden', 0)\nprint('PLANTED')",
        "import os\nprint('SEEN' if os.listdir('/tmp') else 'clean')", True),
    "sysv_shm_and_msg_queue": (
        LIBC + f"shm = libc.shmget({KEY}, 1 << 20, 0o1600)\nmsg = libc.msgget({KEY}, 0o1600)\n"
        "buf = ctypes.create_string_buffer(b'\\x01\\x00\\x00\\x00\\x00\\x00\\x00\\x00M', 9)\n"
        "sent = libc.msgsnd(msg, buf, 1, 0)\nprint('PLANTED' if shm >= 0 and msg >= 0 and sent == 0 else 'fail')",
        LIBC + f"found = libc.shmget({KEY}, 0, 0) >= 0 or libc.msgget({KEY}, 0) >= 0\n"
        "lines = [l for f in ('/proc/sysvipc/shm', '/proc/sysvipc/msg') for l in open(f).read().splitlines()[1:]]\n"
        "print('SEEN' if found or lines else 'clean')", True),
    "posix_shm_and_mqueue": (
        LIBC + "open('/dev/shm/rlsys-posix', 'w').write('M')\nrt = ctypes.CDLL('librt.so.1', use_errno=True)\n"
        "rt.mq_open.restype = ctypes.c_int\nq = rt.mq_open(b'/rlsysq', os.O_CREAT | os.O_RDWR, 0o600, None)\n"
        "print('PLANTED' if q >= 0 else f'fail {ctypes.get_errno()}')",
        LIBC + "rt = ctypes.CDLL('librt.so.1', use_errno=True)\nq = rt.mq_open(b'/rlsysq', os.O_RDONLY)\n"
        "print('SEEN' if q >= 0 or os.listdir('/dev/shm') else 'clean')", True),
    "abstract_unix_socket": (
        "import socket\nsrv = socket.socket(socket.AF_UNIX)\nsrv.bind('\\0rlsys-abstract')\nsrv.listen(4)\n"
        "print('PLANTED')",
        "import socket\nc = socket.socket(socket.AF_UNIX)\ntry:\n    c.connect('\\0rlsys-abstract')\n"
        "    print('SEEN')\nexcept OSError:\n    print('SEEN' if 'rlsys-abstract' in open('/proc/net/unix').read() "
        "else 'clean')", True),
    "double_forked_setsid_daemon": (
        "import os, time\nif os.fork() == 0:\n    os.setsid()\n    if os.fork() == 0:\n"
        "        while True:\n            open('/tmp/alive', 'w').write(str(time.time()))\n            time.sleep(0.05)\n"
        "    os._exit(0)\nos.wait()\nfor _ in range(200):\n    if os.path.exists('/tmp/alive'):\n        break\n"
        "    time.sleep(0.02)\nprint('PLANTED' if os.path.exists('/tmp/alive') else 'fail')",
        "import os\nprocs = [p for p in os.listdir('/proc') if p.isdigit() and int(p) not in (1, os.getpid())]\n"
        "print('SEEN' if procs or os.path.exists('/tmp/alive') else 'clean')", False),
    "full_tmpfs": (
        "try:\n    with open('/tmp/fill', 'wb') as f:\n        while True:\n            f.write(b'0' * (1 << 20))\n"
        "except OSError:\n    pass\ntry:\n    open('/tmp/more', 'wb').write(b'0' * (1 << 20)); print('fail')\n"
        "except OSError:\n    print('PLANTED')",
        "try:\n    open('/tmp/probe', 'wb').write(b'0' * (4 << 20)); print('clean')\nexcept OSError:\n    print('SEEN')",
        True),
    "rlimits_lowered": (
        "import resource\nresource.setrlimit(resource.RLIMIT_NOFILE, (16, 16))\n"
        "resource.setrlimit(resource.RLIMIT_STACK, (1 << 20, 1 << 20))\nprint('PLANTED')",
        "import resource\nprint('SEEN' if resource.getrlimit(resource.RLIMIT_NOFILE)[1] == 16 or "
        "resource.getrlimit(resource.RLIMIT_STACK)[1] == 1 << 20 else 'clean')", True),
    "pinned_sysv_memory": (
        LIBC + "libc.shmat.restype = ctypes.c_void_p\nids = []\nfor i in range(3):\n"
        "    sid = libc.shmget(0, 60 << 20, 0o1600)\n    if sid < 0:\n        break\n    ids.append(sid)\n"
        "    addr = libc.shmat(sid, None, 0)\n    ctypes.memset(addr, 1, 60 << 20)\n    libc.shmdt(ctypes.c_void_p(addr))\n"
        "print('PLANTED' if len(ids) == 3 else f'fail {len(ids)}')",
        # the probe prints first, then needs 150 MB: in the same episode the pinned 180 MB make
        # that an out-of-memory kill; in a fresh one it must simply work
        "import sys\nlines = open('/proc/sysvipc/shm').read().splitlines()[1:]\n"
        "print('SEEN' if lines else 'clean', flush=True)\nbig = bytearray(150 << 20)\nbig[::4096] = b'1' * len(big[::4096])",
        True),
}


@pytest.mark.parametrize("case", list(CASES))
async def test_nothing_survives_the_episode(pool, case):
    plant, probe, persists = CASES[case]
    (baseline,) = await run_cells(pool, probe, timeout_s=5)
    assert baseline.status is ExecStatus.OK and baseline.stdout == "clean\n", baseline
    episode = uuid.uuid4().hex
    await pool.open(episode)
    planted = await pool.run(episode, plant, timeout_s=8)
    assert planted.status is ExecStatus.OK and planted.stdout == "PLANTED\n", planted
    if persists:  # the probe really detects the plant: it sees it in the same episode
        same = await pool.run(episode, probe, timeout_s=5)
        assert same.stdout == "SEEN\n", same
        assert same.status is (ExecStatus.KILLED if case == "pinned_sysv_memory" else ExecStatus.OK), same
    await pool.close(episode)
    for _ in range(pool.size + 1):  # every spare, and one started after the close
        (later,) = await run_cells(pool, probe, timeout_s=5)
        assert later.status is ExecStatus.OK and later.stdout == "clean\n", (case, later)
    await assert_serving(pool)


async def test_a_cell_cannot_touch_pid_1_limits_priority_or_namespaces(pool):
    code = LIBC + """import resource
out = []
for name, call in [("prlimit", lambda: resource.prlimit(1, resource.RLIMIT_NOFILE, (4, 4))),
                   ("prlimit_cpu", lambda: resource.prlimit(1, resource.RLIMIT_CPU, (1, 1))),
                   ("setpriority", lambda: os.setpriority(os.PRIO_PROCESS, 1, 19)),
                   ("affinity", lambda: os.sched_setaffinity(1, {0}))]:
    try:
        call(); out.append(name + " ALLOWED")
    except OSError:
        out.append(name + " denied")
out.append("unshare " + ("ALLOWED" if libc.unshare(0x10000000 | 0x00020000) == 0 else "denied"))
try:
    open('/dev/rlsys', 'w'); out.append('dev ALLOWED')
except OSError:
    out.append('dev denied')
resource.setrlimit(resource.RLIMIT_NOFILE, (64, 64)); out.append('own limit ok')
os.setpriority(os.PRIO_PROCESS, 0, min(19, os.getpriority(os.PRIO_PROCESS, 0) + 1)); out.append('own nice ok')  # lower only: a worker run under `nice` starts it above 5
print(' | '.join(out))
"""
    (r,) = await run_cells(pool, code)
    assert r.status is ExecStatus.OK, r
    assert r.stdout.strip().split(" | ") == ["prlimit denied", "prlimit_cpu denied", "setpriority denied",
                                             "affinity denied", "unshare denied", "dev denied", "own limit ok",
                                             "own nice ok"]
    await assert_serving(pool)
