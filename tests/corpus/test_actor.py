"""CorpusActor under a local Ray instance: same answers as the service, concurrent searches batched."""

from __future__ import annotations

import asyncio

import pytest

ray = pytest.importorskip("ray")


def same_results(a, b):
    """Equal results up to float noise of batched vs single embeddings (scores within 1e-3)."""
    if isinstance(a, dict):
        return (set(a) == set(b) and all(abs(a[k] - b[k]) < 1e-3 if k == "score" else a[k] == b[k] for k in a))
    return isinstance(a, list) and len(a) == len(b) and all(same_results(x, y) for x, y in zip(a, b))


@pytest.fixture(scope="module")
def ray_local():
    ray.init(address="local", num_cpus=2, include_dashboard=False, log_to_driver=False,
             runtime_env={"env_vars": {"OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1"}})
    yield
    ray.shutdown()


def test_actor_serves_tools_and_batches_concurrent_searches(ray_local, corpus_cfg, service, synthetic_set):
    from rlsys.actors.corpus_actor import create_corpus_actors

    cfg = corpus_cfg.model_copy(update={"batch_window_ms": 50.0, "actor_num_cpus": 0.5})
    (actor,) = create_corpus_actors(cfg, replicas=1)
    assert ray.get(actor.ready.remote(), timeout=300)
    pages, questions = synthetic_set
    queries = [q.question for q in questions[:24]]

    async def concurrent():
        return await asyncio.gather(*[actor.search_pages.remote(q) for q in queries])

    results = asyncio.run(concurrent())
    assert same_results(results, [service.search_pages(q) for q in queries])
    stats = ray.get(actor.stats.remote())
    assert stats["searches"] == len(queries)
    assert stats["batches"] < len(queries) and stats["max_batch"] > 1  # embedded together

    via_tool = ray.get(actor.call_tool.remote("search_pages", {"query": queries[0], "k": 3}))
    assert same_results(via_tool, service.search_pages(queries[0], k=3))
    page = pages[0]
    assert ray.get(actor.call_tool.remote("view_sections", {"page_id": page.id})) == service.view_sections(page.id)
    assert ray.get(actor.read_section.remote(f"{page.id}:full")) == page.content
    bad = ray.get(actor.call_tool.remote("read_section", {"section_id": 7}))
    assert bad.startswith("Error: ")
    assert same_results(ray.get(actor.search_pages_batch.remote(queries[:3], 2)), service.search_pages_batch(queries[:3], k=2))
    ray.kill(actor)


def test_actor_accepts_the_root_config_dict(ray_local, corpus_cfg):
    from rlsys.actors.corpus_actor import CorpusActor
    from rlsys.config import Config

    root = Config(corpus=corpus_cfg)
    actor = CorpusActor.options(num_cpus=0.25).remote(root.model_dump())
    out = ray.get(actor.call_tool.remote("nope", {}), timeout=300)
    assert out.startswith("Error: unknown tool")
    ray.kill(actor)
