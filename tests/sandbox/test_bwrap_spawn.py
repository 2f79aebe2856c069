"""How a bubblewrap sandbox is started: in its own memory cgroup, as nobody, with no Python between
fork and exec (`preexec_fn` can deadlock a child of a process with threads — the corpus service's
LanceDB runtime and onnxruntime have some)."""

from __future__ import annotations

import os
from pathlib import Path

from rlsys.sandbox.bwrap_backend import NOBODY, BwrapBackend, spawn_argv

from .conftest import require, small_config


def test_spawn_argv_enters_the_cgroup_then_drops_to_nobody_without_python_in_the_child():
    argv, kwargs = spawn_argv(["bwrap", "x"], "/sys/fs/cgroup/memory/g/cgroup.procs", as_root=True)
    assert argv[:4] == ["/bin/sh", "-c", 'echo $$ > "$0" && exec "$@"', "/sys/fs/cgroup/memory/g/cgroup.procs"]
    assert argv[4:] == ["setpriv", f"--reuid={NOBODY}", f"--regid={NOBODY}", "--clear-groups", "bwrap", "x"]
    assert kwargs == {}
    assert spawn_argv(["bwrap"], None, as_root=True) == (["bwrap"], {"user": NOBODY, "group": NOBODY, "extra_groups": []})
    assert spawn_argv(["bwrap"], None, as_root=False) == (["bwrap"], {})


async def test_a_sandbox_process_is_in_its_cgroup_and_runs_as_nobody():
    require("bwrap")
    backend = BwrapBackend(small_config())
    sandbox = await backend.start("spawn-check")
    try:
        pid = sandbox.proc.pid
        status = Path(f"/proc/{pid}/status").read_text()
        uid_line = next(line for line in status.splitlines() if line.startswith("Uid:"))
        if os.geteuid() == 0:
            assert uid_line.split()[1:] == [str(NOBODY)] * 4
        if backend.use_cgroup:
            assert sandbox.cgroup is not None
            assert str(pid) in Path(sandbox.cgroup.procs).read_text().split()
            assert sandbox.cgroup.path.name in Path(f"/proc/{pid}/cgroup").read_text()
    finally:
        await sandbox.kill()
        backend.close()
