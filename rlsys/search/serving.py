"""`rlsys serve --search beam|best-of-n|single`: the policy answers questions with the search.

    POST /v1/search {"question": "Where was Ostrid Kael born?", "seed": 7}
    -> {"answer": "...", "end_reason": "answered", "strategy": "beam", "options": {...},
        "budget": {"generated_tokens": ..., "sandbox_cells": ..., ...}, "candidates": 3,
        "episode": {"turns": [{"text", "cell", "stdout", "error"}, ...]}}

The same strategies as `rlsys eval --search` (`strategies.py`) on the served engine; cells run in a
local sandbox pool whose tool calls a local corpus service answers (both started with the server
and shut down with it). The route sits behind the server's API key like every `/v1/` route.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from contextlib import asynccontextmanager
from dataclasses import asdict
from typing import Any

from fastapi import FastAPI
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from rlsys.corpus.types import Question
from rlsys.env.registry import environment_of
from rlsys.rollout.episode import EpisodeLimits
from rlsys.search.strategies import SearchContext, SearchOptions, Searched, get_strategy

log = logging.getLogger(__name__)


class SearchRequest(BaseModel):
    question: str = Field(min_length=1, max_length=4000)
    seed: int | None = None
    temperature: float | None = Field(default=None, ge=0.0, le=2.0)


def searched_body(searched: Searched, strategy: str, opts: SearchOptions) -> dict[str, Any]:
    traj = searched.trajectory
    turns = [{"text": t.text, "cell": t.cell, "stdout": t.result.stdout if t.result else None,
              "error": t.result.error if t.result else None} for t in traj.turns]
    return {"answer": traj.answer, "end_reason": traj.end_reason.value, "strategy": strategy,
            "options": asdict(opts), "budget": searched.budget, "candidates": len(searched.candidates),
            "error": traj.error, "episode": {"episode_id": traj.episode_id, "turns": turns}}


def add_search_route(app: FastAPI, engine: Any, tokenizer: Any, cfg: Any, strategy: str, opts: SearchOptions,
                     executor: Any = None) -> None:
    """Adds `POST /v1/search` to `app`. Without `executor`, a `SandboxPool` over a local
    `CorpusService` (from `cfg.corpus` / `cfg.sandbox`) starts with the server."""
    run = get_strategy(strategy)
    limits = EpisodeLimits.from_config(cfg.rollout, cfg.sandbox.cell_timeout_s)
    env = environment_of(cfg)
    state: dict[str, Any] = {"executor": executor}
    inner = app.router.lifespan_context

    @asynccontextmanager
    async def lifespan(a: FastAPI):
        async with inner(a):
            pool = None
            if state["executor"] is None:
                from rlsys.corpus.service import CorpusService
                from rlsys.sandbox.pool import SandboxPool

                corpus = await asyncio.to_thread(CorpusService.from_config, cfg.corpus)
                pool = await SandboxPool(cfg.sandbox, corpus.call_tool).start()
                state["executor"] = pool
            try:
                yield
            finally:
                if pool is not None:
                    await pool.shutdown()

    app.router.lifespan_context = lifespan

    @app.post("/v1/search")
    async def search(req: SearchRequest):
        question = Question(id=f"serve-{uuid.uuid4().hex[:8]}", question=req.question, answer="")
        ctx = SearchContext(engine, tokenizer, state["executor"], limits, env)
        temperature = cfg.rollout.temperature_min if req.temperature is None else req.temperature
        try:
            searched = await run(question, ctx, opts, temperature, req.seed)
        except Exception as err:  # noqa: BLE001 - a failed search is a server error, not a crash
            log.exception("search failed")
            return JSONResponse(status_code=500, content={"error": {
                "message": f"search failed: {type(err).__name__}: {err}", "type": "server_error", "code": 500}})
        return searched_body(searched, strategy, opts)
