"""A judge behind any OpenAI-compatible `/v1/chat/completions` endpoint (vLLM, `rlsys serve`,
a hosted API). Timeouts, retries with exponential backoff on 5xx/429/timeouts/connection
errors, and a concurrency limit; the key comes from the environment variable named in config."""

from __future__ import annotations

import asyncio
import contextvars
import logging
import os
import random
from typing import Any

import httpx

from rlsys.judge.chat_judge import ChatJudge, JudgeRequestError, Messages
from rlsys.judge.config import JudgeConfig
from rlsys.rollout.plain_text import escape_special_text
from rlsys.rollout.types import Trajectory
from rlsys.judge.types import Verdict

log = logging.getLogger(__name__)
MAX_BACKOFF_S = 30.0
# The pooled client of the `score` call a request belongs to (tasks inherit it from `score`).
_CLIENT: contextvars.ContextVar[httpx.AsyncClient | None] = contextvars.ContextVar("judge_http_client", default=None)


class _Retryable(Exception):
    pass


class HTTPJudge(ChatJudge):
    """`score(batch)` over `cfg.base_url` with model `cfg.model`."""

    def __init__(self, cfg: JudgeConfig | None = None):
        cfg = cfg or JudgeConfig()
        super().__init__(cfg, concurrency=cfg.http_concurrency)
        self.url = cfg.base_url.rstrip("/") + "/chat/completions"

    def headers(self) -> dict[str, str]:
        key = os.environ.get(self.cfg.api_key_env, "") if self.cfg.api_key_env else ""
        return {"Authorization": f"Bearer {key}"} if key else {}

    def body(self, messages: Messages) -> dict[str, Any]:
        cfg = self.cfg
        body: dict[str, Any] = {
            "model": cfg.model,
            # the server tokenises the rendered chat itself: break special-token spellings in contents
            "messages": [{**m, "content": escape_special_text(m["content"])} for m in messages],
            "temperature": cfg.temperature,
            "max_tokens": cfg.max_new_tokens + (cfg.thinking_budget if cfg.thinking else 0),
            "seed": cfg.seed,
        }
        if cfg.http_chat_template_kwargs:
            body["chat_template_kwargs"] = {"enable_thinking": cfg.thinking}
        return body

    async def _post_once(self, client: httpx.AsyncClient, body: dict[str, Any]) -> str:
        try:
            response = await client.post(self.url, json=body, headers=self.headers())
        except (httpx.TimeoutException, httpx.TransportError) as err:
            raise _Retryable(f"{type(err).__name__}: {err or 'no detail'}") from err
        if response.status_code >= 500 or response.status_code == 429:
            raise _Retryable(f"HTTP {response.status_code}: {response.text[:200]}")
        if response.status_code != 200:
            raise JudgeRequestError(f"HTTP {response.status_code} from {self.url}: {response.text[:300]}")
        try:
            message = response.json()["choices"][0]["message"]
        except (ValueError, KeyError, IndexError, TypeError) as err:
            raise JudgeRequestError(f"malformed completion from {self.url}: {response.text[:300]}") from err
        return message.get("content") or ""

    async def complete(self, messages: Messages) -> str:
        body = self.body(messages)
        client = _CLIENT.get()
        own = client is None
        if own:
            client = httpx.AsyncClient(timeout=self.cfg.http_timeout_s)
        try:
            for attempt in range(self.cfg.http_retries + 1):
                try:
                    return await self._post_once(client, body)
                except _Retryable as err:
                    if attempt == self.cfg.http_retries:
                        raise JudgeRequestError(f"{err} (gave up after {attempt + 1} attempts)") from None
                    self.stats["http_retries"] += 1
                    delay = min(self.cfg.http_backoff_s * 2**attempt, MAX_BACKOFF_S) * random.uniform(0.9, 1.1)
                    log.info("judge endpoint: %s; retry %d in %.2fs", err, attempt + 1, delay)
                    await asyncio.sleep(delay)
            raise AssertionError("unreachable")
        finally:
            if own:
                await client.aclose()

    async def score(self, batch: list[Trajectory]) -> list[Verdict]:
        """Verdicts for a batch over one pooled connection set."""
        limits = httpx.Limits(max_connections=self.concurrency, max_keepalive_connections=self.concurrency)
        async with httpx.AsyncClient(timeout=self.cfg.http_timeout_s, limits=limits) as client:
            token = _CLIENT.set(client)
            try:
                return await super().score(batch)
            finally:
                _CLIENT.reset(token)
