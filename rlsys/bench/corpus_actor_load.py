"""`CorpusActor` under K concurrent callers (a rollout group's searches): latency per call and q/s.

Each of `callers` clients sends its queries one after another (a search, then the next), all
clients at once, to one actor in a local Ray instance; the actor batches what arrives within
`corpus.batch_window_ms`. Queries are distinct and the actor's query cache is off, so every search
pays its embedding.
"""

from __future__ import annotations

import asyncio
import time


def actor_load(corpus_cfg, queries: list[str], callers: int = 24, window_ms: float | None = None) -> dict:
    """`{callers, searches, p50_ms, p99_ms, qps, batches, max_batch}` of one actor under load."""
    import numpy as np
    import ray

    from rlsys.actors.corpus_actor import create_corpus_actors

    update = {"query_cache_size": 0, "actor_num_cpus": 1.0}
    if window_ms is not None:
        update["batch_window_ms"] = window_ms
    cfg = corpus_cfg.model_copy(update=update)
    started = not ray.is_initialized()
    if started:
        ray.init(address="local", num_cpus=2, include_dashboard=False, log_to_driver=False,
                 runtime_env={"env_vars": {"OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1"}})
    try:
        (actor,) = create_corpus_actors(cfg, replicas=1)
        ray.get(actor.ready.remote(), timeout=600)
        ray.get(actor.search_pages.remote("warm-up query"), timeout=120)
        per = [queries[i::callers] for i in range(callers)]
        latencies: list[float] = []

        async def client(mine: list[str]) -> None:
            for q in mine:
                t0 = time.perf_counter()
                await asyncio.wait_for(actor.search_pages.remote(q), timeout=120)
                latencies.append(time.perf_counter() - t0)

        async def all_clients() -> float:
            t0 = time.perf_counter()
            await asyncio.gather(*[client(m) for m in per])
            return time.perf_counter() - t0

        wall = asyncio.run(all_clients())
        stats = ray.get(actor.stats.remote(), timeout=60)
        ray.kill(actor)
    finally:
        if started:
            ray.shutdown()
    ms = np.asarray(latencies) * 1000.0
    return {"callers": callers, "searches": len(latencies), "batch_window_ms": cfg.batch_window_ms,
            "p50_ms": round(float(np.percentile(ms, 50)), 2), "p99_ms": round(float(np.percentile(ms, 99)), 2),
            "qps": round(len(latencies) / wall, 1), "batches": stats["batches"] - 1,
            "max_batch": stats["max_batch"]}
