"""SandboxWorker Ray actors with SandboxClient: sticky routing, concurrency across workers with
results never crossed, tool calls through a corpus actor, a dead worker's cells as infra errors."""

from __future__ import annotations

import asyncio
import sys
import uuid

import pytest

from rlsys.sandbox.types import ExecStatus

from .conftest import PAGES, RecordingCorpus, require, small_config

pytestmark = [pytest.mark.docker]


class PageActor:
    """A small corpus actor with the CorpusActor method the sandbox calls (`call_tool`)."""

    def __init__(self):
        self.corpus = RecordingCorpus()

    def call_tool(self, name, kwargs):
        return self.corpus(name, kwargs)

    def count(self):
        return len(self.corpus.calls)


@pytest.fixture(scope="module")
def ray_cluster():
    require("docker")
    import ray
    from ray import cloudpickle

    cloudpickle.register_pickle_by_value(sys.modules[__name__])  # the test module is not importable by workers
    cloudpickle.register_pickle_by_value(sys.modules[RecordingCorpus.__module__])
    ray.init(address="local", num_cpus=2, include_dashboard=False, log_to_driver=False, configure_logging=False)
    yield ray
    ray.shutdown()


def test_workers_route_sticky_and_never_cross_and_dead_worker_is_infra_error(ray_cluster):
    ray = ray_cluster
    from rlsys.actors.sandbox_worker import SandboxClient, SandboxWorker, create_sandbox_workers
    from rlsys.config import Config

    corpus = ray.remote(num_cpus=0.1)(PageActor).remote()
    cfg = small_config(workers=2, containers_per_worker=2, acquire_timeout_s=120)  # 8 episodes on 4 spares, loaded CI
    workers = create_sandbox_workers(cfg, corpus, num_cpus=0.1, backend="docker")
    # the controller's way: the whole config dict and a list of corpus actors
    workers[1] = SandboxWorker.options(num_cpus=0.1).remote(Config(sandbox=cfg).model_dump(), [corpus], None, "docker")
    ray.get(workers[1].start.remote(), timeout=120)
    client = SandboxClient(workers, cell_timeout_s=cfg.cell_timeout_s)

    async def episode(i: int):
        eid = f"w{i}-{uuid.uuid4().hex[:6]}"
        await client.open(eid)
        first = await client.run(eid, f"me = {i}\nprint(search_pages('zorblat')[0]['title'])")
        second = await client.run(eid, "print(me * 10)")
        worker = client.routes[eid]
        await client.close(eid)
        return i, worker, first, second

    async def main():
        return await asyncio.gather(*(episode(i) for i in range(8)))

    results = asyncio.run(main())
    for i, _, first, second in results:
        assert first.status is ExecStatus.OK and first.stdout == PAGES["zorblat_harbor"]["title"] + "\n"
        assert first.tool_calls == 1 and "Zorblat Harbor" in first.tool_outputs[0]
        assert second.stdout == f"{i * 10}\n"
    assert {w for _, w, _, _ in results} == {0, 1}  # both workers served
    assert ray.get(corpus.count.remote()) == 8

    async def lose_a_worker():
        await client.open("on-0")
        await client.open("on-1")
        assert {client.routes["on-0"], client.routes["on-1"]} == {0, 1}
        victim = client.routes["on-0"]
        ray.kill(workers[victim])
        await asyncio.sleep(1.0)
        lost = await client.run("on-0", "print(1)")
        kept = await client.run("on-1", "print(2)")
        await client.open("after")
        after = await client.run("after", "print(3)")
        return victim, lost, kept, after

    victim, lost, kept, after = asyncio.run(lose_a_worker())
    assert lost.status is ExecStatus.INFRA_ERROR and lost.infra_failed
    assert kept.status is ExecStatus.OK and kept.stdout == "2\n"
    assert after.status is ExecStatus.OK and client.routes["after"] != victim
    for w in workers:
        try:
            ray.get(w.shutdown.remote(), timeout=30)
        except ray.exceptions.RayActorError:
            pass
