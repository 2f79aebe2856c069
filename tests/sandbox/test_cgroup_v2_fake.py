"""The cgroup v2 path of the bwrap memory cgroup, against a fake cgroupfs directory (this host is
cgroup v1, so the real v2 path cannot run here): where the leaf goes, what it writes, how the
memory controller is enabled for children, the error when it cannot be, and how OOM kills are
read. What a fake cannot show (the kernel enforcing memory.max) is covered on v1 hosts by
test_sandbox_host.py and test_sandbox_oom.py."""

from __future__ import annotations

from pathlib import Path

import pytest

from rlsys.sandbox import cgroup


@pytest.fixture
def fake_v2(tmp_path, monkeypatch) -> Path:
    """A unified hierarchy where this process lives in /worker.slice/me.scope."""
    own = tmp_path / "worker.slice" / "me.scope"
    own.mkdir(parents=True)
    (tmp_path / "cgroup.controllers").write_text("cpuset cpu io memory pids\n")
    (own / "cgroup.subtree_control").write_text("")
    proc = tmp_path / "proc-self-cgroup"
    proc.write_text("0::/worker.slice/me.scope\n")
    monkeypatch.setattr(cgroup, "ROOT", tmp_path)
    monkeypatch.setattr(cgroup, "PROC_CGROUP", proc)
    return own


def _remove(group: cgroup.MemoryCgroup) -> None:  # a real cgroupfs removes its files with the rmdir
    for f in group.path.iterdir():
        f.unlink()
    assert group.remove(wait_s=1.0)


def test_v2_leaf_under_own_cgroup_with_memory_max(fake_v2):
    group = cgroup.MemoryCgroup("sbx-1", 256 << 20)
    assert group.version == "v2"
    assert group.path.parent == fake_v2 and group.path.name == f"rlsys-{cgroup.owner_tag()}-sbx-1"
    assert (fake_v2 / "cgroup.subtree_control").read_text() == "+memory"  # enabled for the children
    assert (group.path / "memory.max").read_text() == str(256 << 20) and group.limit() == 256 << 20
    assert (group.path / "memory.oom.group").read_text() == "0"  # kill the culprit, not the supervisor
    assert not (group.path / "memory.swap.max").exists()  # only written where the kernel has it
    assert group.procs == str(group.path / "cgroup.procs")
    assert cgroup.sandbox_cgroups("sbx-1") == [group.path]
    _remove(group)
    assert cgroup.sandbox_cgroups("sbx-1") == []


def test_v2_swap_is_capped_where_the_kernel_has_it(fake_v2, monkeypatch):
    real_mkdir = Path.mkdir

    def mkdir_with_swap(self, *args, **kwargs):  # the kernel creates the interface files itself
        real_mkdir(self, *args, **kwargs)
        if self.parent == fake_v2:
            (self / "memory.swap.max").write_text("max")

    monkeypatch.setattr(Path, "mkdir", mkdir_with_swap)
    group = cgroup.MemoryCgroup("sbx-swap", 64 << 20)
    assert (group.path / "memory.swap.max").read_text() == "0"
    _remove(group)


def test_v2_oom_kills_read_from_memory_events(fake_v2):
    group = cgroup.MemoryCgroup("sbx-2", 64 << 20)
    assert group.oom_kills() == 0  # no memory.events yet
    (group.path / "memory.events").write_text("low 0\nhigh 0\nmax 7\noom 3\noom_kill 2\noom_group_kill 0\n")
    assert group.oom_kills() == 2
    _remove(group)


def test_v2_without_memory_delegation_is_a_clear_error(fake_v2, monkeypatch):
    real_write = Path.write_text

    def refuse_subtree_control(self, *args, **kwargs):  # what the kernel answers without delegation
        if self.name == "cgroup.subtree_control":
            raise PermissionError(13, "Permission denied")
        return real_write(self, *args, **kwargs)

    monkeypatch.setattr(Path, "write_text", refuse_subtree_control)
    with pytest.raises(cgroup.CgroupUnavailable, match="cannot enable the memory controller.*Delegate=yes"):
        cgroup.MemoryCgroup("sbx-3", 64 << 20)
    assert cgroup.sandbox_cgroups("sbx-3") == []


def test_v2_memory_already_delegated_is_left_alone(fake_v2):
    (fake_v2 / "cgroup.subtree_control").write_text("cpu memory pids")
    group = cgroup.MemoryCgroup("sbx-4", 64 << 20)
    assert (fake_v2 / "cgroup.subtree_control").read_text() == "cpu memory pids"
    _remove(group)
