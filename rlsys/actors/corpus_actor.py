"""`CorpusActor`: a thin Ray actor around `CorpusService`, batching concurrent searches.

    actor = CorpusActor.options(num_cpus=0.5).remote(cfg.model_dump())   # or a CorpusConfig / its dict
    pages = await actor.search_pages.remote("Who founded Zanness?")
    text = await actor.call_tool.remote("read_section", {"section_id": "zanness:history"})

An async actor (`max_concurrency` calls in flight). A `search_pages` call (directly or through
`call_tool`) waits up to `corpus.batch_window_ms` for others; all waiting queries are then embedded
in one forward pass and searched together (`CorpusService.search_pages_batch`), off the event loop.
The index must exist (build it first with `ensure_index`; replicas never build concurrently).
"""

from __future__ import annotations

import asyncio
import os
from typing import Any

import ray

from rlsys.corpus.config import CorpusConfig


def corpus_config_of(cfg: Any) -> CorpusConfig:
    """A `CorpusConfig` from a root `Config`, a `CorpusConfig`, or either's dict."""
    if isinstance(cfg, CorpusConfig):
        return cfg
    if hasattr(cfg, "corpus"):
        return cfg.corpus
    if isinstance(cfg, dict):
        return CorpusConfig.model_validate(cfg["corpus"] if "corpus" in cfg else cfg)
    raise TypeError(f"CorpusActor needs a Config, CorpusConfig or dict, got {type(cfg).__name__}")


@ray.remote(num_cpus=0.5, max_concurrency=64)
class CorpusActor:
    """Serves one index: searches batched across concurrent callers, other tools answered directly."""

    def __init__(self, cfg: Any, build: bool = False):
        os.environ["OMP_NUM_THREADS"] = "1"
        os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        import torch

        torch.set_num_threads(1)
        from rlsys.corpus.service import CorpusService

        self.cfg = corpus_config_of(cfg)
        self.service = CorpusService.from_config(self.cfg, build=build)
        self.window_s = max(0.0, self.cfg.batch_window_ms / 1000.0)
        self._pending: list[tuple[str, int | None, asyncio.Future]] = []
        self._flush_task: asyncio.Task | None = None
        self._stats = {"searches": 0, "batches": 0, "max_batch": 0, "tool_calls": 0}

    async def search_pages(self, query: str, k: int | None = None) -> list[dict] | str:
        if not isinstance(query, str):
            return f"Error: search_pages(query=...) needs a string, got {type(query).__name__}"
        future = asyncio.get_running_loop().create_future()
        self._pending.append((query, k, future))
        if self._flush_task is None or self._flush_task.done():
            self._flush_task = asyncio.create_task(self._flush_after_window())
        return await future

    async def _flush_after_window(self) -> None:
        await asyncio.sleep(self.window_s)
        while self._pending:
            batch, self._pending = self._pending, []
            by_k: dict[int | None, list[tuple[str, asyncio.Future]]] = {}
            for query, k, future in batch:
                by_k.setdefault(k, []).append((query, future))
            self._stats["batches"] += 1
            self._stats["max_batch"] = max(self._stats["max_batch"], len(batch))
            self._stats["searches"] += len(batch)
            for k, items in by_k.items():
                queries = [q for q, _ in items]
                try:
                    results = await asyncio.to_thread(self.service.search_pages_batch, queries, k)
                except Exception as err:  # never leave a caller waiting
                    results = [f"Error: search_pages failed ({type(err).__name__}: {str(err)[:200]})"] * len(items)
                for (_, future), result in zip(items, results):
                    if not future.done():
                        future.set_result(result)

    async def search_pages_batch(self, queries: list[str], k: int | None = None) -> list[list[dict]]:
        return await asyncio.to_thread(self.service.search_pages_batch, queries, k)

    async def view_sections(self, page_id: str) -> list[dict] | str:
        return self.service.call_tool("view_sections", {"page_id": page_id})

    async def read_section(self, section_id: str) -> str:
        return self.service.call_tool("read_section", {"section_id": section_id})

    async def view_sections_batch(self, page_ids: list[str]) -> list[list[dict] | str]:
        return [self.service.call_tool("view_sections", {"page_id": p}) for p in page_ids]

    async def read_section_batch(self, section_ids: list[str]) -> list[str]:
        return [self.service.call_tool("read_section", {"section_id": s}) for s in section_ids]

    async def call_tool(self, name: str, args: dict[str, Any]) -> Any:
        """The sandbox's `ToolFn` over Ray; searches join the current batch. Never raises."""
        from rlsys.corpus.tool_calls import parse_call

        self._stats["tool_calls"] += 1
        try:
            call = parse_call(name, args)
            if isinstance(call, str):
                return call
            tool, value, k = call
            if tool == "search_pages":
                return await self.search_pages(value, k)
            return self.service.call_tool(tool, {"section_id" if tool == "read_section" else "page_id": value})
        except Exception as err:
            return f"Error: {name} failed ({type(err).__name__}: {str(err)[:200]})"

    def stats(self) -> dict[str, int]:
        """Searches served, batches run and the largest batch (evidence of batching)."""
        return dict(self._stats)

    def ready(self) -> bool:
        return True


def create_corpus_actors(cfg: Any, replicas: int | None = None) -> list[Any]:
    """`corpus.replicas` actors with the config's CPUs and concurrency (the index must exist)."""
    corpus = corpus_config_of(cfg)
    n = replicas or corpus.replicas
    data = corpus.model_dump()
    return [CorpusActor.options(num_cpus=corpus.actor_num_cpus, max_concurrency=corpus.actor_max_concurrency)
            .remote(data) for _ in range(n)]
