"""Test helper: one long-lived engine on its own event-loop thread, shared by a module's tests.

vLLM's `AsyncLLM` binds its output handler to the loop it first runs on, and starting one
takes ~1 minute on CPU, so module-scoped fixtures keep a single engine (and loop) for all tests
of a file; each test submits coroutines with `run` (with a deadline).
"""

from __future__ import annotations

import asyncio
import threading
from typing import Any, Awaitable, Callable


class EngineThread:
    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, name="engine-loop", daemon=True)
        self._thread.start()

    def run(self, awaitable: Awaitable[Any], timeout: float = 600) -> Any:
        async def wait() -> Any:
            return await awaitable

        return asyncio.run_coroutine_threadsafe(wait(), self.loop).result(timeout)

    def build(self, factory: Callable[[], Any], timeout: float = 900) -> Any:
        """Calls `factory()` on the loop thread (the engine is created where it will run)."""

        async def make() -> Any:
            return factory()

        return self.run(make(), timeout)

    def stop(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(30)
