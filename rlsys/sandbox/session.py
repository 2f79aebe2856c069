"""`Session`: one episode on any `CodeExecutor`, as an async context manager.

    async with Session(pool) as session:
        result = await session.run("x = search_pages('Zorblat')\\nx[0]")
"""

from __future__ import annotations

import uuid

from rlsys.sandbox.types import CodeExecutor, ExecResult


class Session:
    def __init__(self, executor: CodeExecutor, episode_id: str | None = None, timeout_s: float | None = None):
        self.executor = executor
        self.episode_id = episode_id or uuid.uuid4().hex
        self.timeout_s = timeout_s
        self.results: list[ExecResult] = []

    async def __aenter__(self) -> "Session":
        await self.executor.open(self.episode_id)
        return self

    async def __aexit__(self, *exc) -> None:
        await self.close()

    async def run(self, code: str, timeout_s: float | None = None) -> ExecResult:
        result = await self.executor.run(self.episode_id, code, timeout_s if timeout_s is not None else self.timeout_s)
        self.results.append(result)
        return result

    async def close(self) -> None:
        await self.executor.close(self.episode_id)
