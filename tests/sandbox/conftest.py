"""Sandbox test setup: a Docker engine (started here if root and none answers), the image,
a small corpus ToolFn that records every call, and warm pools per backend (one per module).

`RLSYS_REQUIRE_SANDBOX=docker` (or `docker,bwrap`; `.ci/run` sets it) turns a missing backend
into a FAILURE: `require()` fails instead of skipping, and a hook below turns any skip of a
test of a required backend into a failure, so CI cannot pass without the sandbox running."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import threading
import time
import uuid

import pytest
import pytest_asyncio

from rlsys.sandbox.config import SandboxConfig

# Set before any pool starts: no sandbox may ever see it.
CANARY = "rlsys-canary-" + uuid.uuid4().hex
os.environ["RLSYS_SANDBOX_TEST_SECRET"] = CANARY

PAGES = {
    "zorblat_harbor": {"title": "Zorblat Harbor", "sections": {
        "history": "Zorblat Harbor was founded in 1702 by Mirela Quandt.",
        "economy": "The harbor exports violet salt."}},
    "mirela_quandt": {"title": "Mirela Quandt", "sections": {"life": "Mirela Quandt was born in Osk."}},
}


class RecordingCorpus:
    """A plain ToolFn over a two-page corpus that records every call it answers."""

    def __init__(self):
        self.calls: list[tuple[str, dict]] = []
        self.lock = threading.Lock()

    def __call__(self, name: str, kwargs: dict):
        with self.lock:
            self.calls.append((name, dict(kwargs)))
        if name == "search_pages":
            words = set(kwargs["query"].lower().split())
            hits = [{"page_id": pid, "title": p["title"], "score": len(words & set(p["title"].lower().split()))}
                    for pid, p in PAGES.items()]
            return sorted(hits, key=lambda h: -h["score"])
        if name == "view_sections":
            page = PAGES.get(kwargs["page_id"])
            if page is None:
                return f"Error: no page {kwargs['page_id']!r}"
            return [{"section_id": f"{kwargs['page_id']}:{s}", "section_name": s, "level": 2} for s in page["sections"]]
        page_id, _, slug = kwargs["section_id"].partition(":")
        if page_id == "huge":
            return "h" * 100_000
        sections = PAGES.get(page_id, {"sections": {}})["sections"]
        return "\n".join(sections.values()) if slug == "full" else sections.get(slug, "Error: no such section")

    def queries(self) -> list[str]:
        with self.lock:
            return [str(kw) for _, kw in self.calls]


def _start_dockerd() -> None:
    if os.geteuid() != 0 or shutil.which("dockerd") is None:
        return
    subprocess.Popen(["dockerd"], stdout=open("/var/tmp/rlsys-dockerd.log", "ab"), stderr=subprocess.STDOUT,
                     start_new_session=True)
    for _ in range(30):
        if subprocess.run(["docker", "info"], capture_output=True, timeout=10).returncode == 0:
            return
        time.sleep(1)


_docker_state: dict = {}


def docker_problem(image: str = SandboxConfig().image) -> str | None:
    """None when Docker tests can run; otherwise why not (an engine is started when possible;
    the image is built by `scripts/setup-sandbox-host.sh`, which `make test` runs first)."""
    if "problem" in _docker_state:
        return _docker_state["problem"]
    from rlsys.sandbox.docker_backend import DockerUnavailable, docker_client
    from rlsys.sandbox.image import image_exists

    problem = None
    try:
        try:
            client = docker_client(10)
        except DockerUnavailable:
            _start_dockerd()
            client = docker_client(10)
        if not image_exists(client, image):
            problem = (f"sandbox image {image} is missing (build it: `rlsys sandbox build-image --offline`; "
                       "`make test` does it through scripts/setup-sandbox-host.sh)")
        client.close()
    except DockerUnavailable as err:
        problem = f"{err} (and dockerd could not be started here)"
    _docker_state["problem"] = problem
    if problem:
        print(f"\n[sandbox tests] Docker tests skip: {problem}")
    return problem


def required_backends() -> set[str]:
    return {b.strip() for b in os.environ.get("RLSYS_REQUIRE_SANDBOX", "").split(",") if b.strip()}


def require(backend: str) -> None:
    """Skips (or, when the backend is required, fails) a test that cannot run on `backend`."""
    problem = None
    if backend == "docker":
        problem = docker_problem()
        problem = problem and f"Docker tests need an engine: {problem}"
    elif shutil.which("bwrap") is None:
        problem = "bubblewrap is not installed (apt-get install -y bubblewrap)"
    if problem and backend in required_backends():
        pytest.fail(f"RLSYS_REQUIRE_SANDBOX={os.environ['RLSYS_REQUIRE_SANDBOX']}: {problem}", pytrace=False)
    if problem:
        pytest.skip(problem)


def _backend_of(item) -> str | None:
    callspec = getattr(item, "callspec", None)
    if callspec is not None and callspec.params.get("pool") in ("docker", "bwrap"):
        return callspec.params["pool"]
    return "docker" if item.get_closest_marker("docker") else None


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    """Under RLSYS_REQUIRE_SANDBOX, a skipped test of a required backend is a failure."""
    outcome = yield
    report = outcome.get_result()
    backend = _backend_of(item)
    if report.skipped and backend in required_backends():
        report.outcome = "failed"
        reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else str(report.longrepr)
        report.longrepr = f"RLSYS_REQUIRE_SANDBOX={os.environ['RLSYS_REQUIRE_SANDBOX']}: {backend} test skipped: {reason}"


def small_config(**overrides) -> SandboxConfig:
    base = dict(containers_per_worker=3, cell_timeout_s=1.0, output_bytes=4096, memory_mb=256, pids=48,
                max_tool_calls_per_cell=5, max_tool_bytes_per_cell=150_000, acquire_timeout_s=30,
                burst_containers=0)
    base.update(overrides)
    return SandboxConfig(**base)


@pytest.fixture(scope="session", autouse=True)
def nothing_left_behind():
    """After every sandbox test of this process: no container, bwrap process, cgroup or Docker
    socket directory of it remains."""
    yield
    from rlsys.sandbox.cgroup import sandbox_cgroups

    me = os.getpid()
    problems = []
    bwrap = subprocess.run(["pgrep", "-P", str(me), "-x", "bwrap"], capture_output=True, text=True).stdout.split()
    if bwrap:
        problems.append(f"bwrap processes {bwrap}")
    if sandbox_cgroups(f"rlsys-{me}-"):
        problems.append(f"cgroups {sandbox_cgroups(f'rlsys-{me}-')}")
    from rlsys.sandbox.docker_socket import ROOT_PREFIX, socket_roots
    from rlsys.sandbox.owner import owner_tag

    roots = [r.name for r in socket_roots() if r.name.startswith(f"{ROOT_PREFIX}{owner_tag()}-")]
    if roots:
        problems.append(f"socket directories {roots}")
    if docker_problem() is None:
        from rlsys.sandbox.docker_backend import OWNER_LABEL, docker_client

        client = docker_client(10)
        mine = client.containers.list(all=True, sparse=True,
                                      filters={"label": f"{OWNER_LABEL}={socket.gethostname()}:{me}"})
        client.close()
        if mine:
            problems.append(f"containers {[c.attrs.get('Names') for c in mine]}")
    assert not problems, f"sandbox tests left behind: {'; '.join(problems)}"


@pytest.fixture(scope="module")
def corpus() -> RecordingCorpus:
    return RecordingCorpus()


@pytest_asyncio.fixture(scope="module", loop_scope="module",
                        params=[pytest.param("docker", marks=pytest.mark.docker), "bwrap"])
async def pool(request, corpus):
    """A warm pool of each backend (module-scoped: one start per backend per test module)."""
    from rlsys.sandbox.pool import SandboxPool

    require(request.param)
    sandbox_pool = SandboxPool(small_config(), corpus, backend=request.param)
    await sandbox_pool.start()
    yield sandbox_pool
    await sandbox_pool.shutdown()


async def run_cells(pool, *cells: str, timeout_s: float | None = None):
    """Runs cells in a fresh episode and closes it; returns the results."""
    episode = uuid.uuid4().hex
    await pool.open(episode)
    try:
        return [await pool.run(episode, code, timeout_s) for code in cells]
    finally:
        await pool.close(episode)


async def assert_serving(pool) -> None:
    """The pool still answers a normal cell, in a fresh episode, quickly."""
    started = time.monotonic()
    (result,) = await run_cells(pool, "print('still serving', 6 * 7)")
    assert result.status.value == "ok", result
    assert result.stdout == "still serving 42\n"
    assert time.monotonic() - started < 30
