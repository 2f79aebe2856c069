"""The corpus tools the sandbox exposes, and the host-side gate every tool call passes through.

The harness defines the functions of the tool specs it is sent at start-up (the environment's
`tool_specs`; by default `TOOL_SPECS`, wiki-search's `search_pages(query)`, `view_sections(page_id)`
and `read_section(section_id)`) and checks argument types itself, but the host does not trust it: a cell can
write anything to its control socket. `ToolGate` re-validates each call, enforces the per-cell
caps on calls (a malformed call counts) and returned bytes, calls the `ToolFn` off the event loop, and records the text
of every result the cell received (the judge reads it).
"""

from __future__ import annotations

import asyncio
import inspect
import json
from dataclasses import dataclass, field
from typing import Any

from rlsys.sandbox.types import ToolFn

TOOL_SPECS: list[dict[str, Any]] = [
    {"name": "search_pages", "params": ["query"],
     "doc": "search_pages(query: str) -> list of {page_id, title, score, ...}: the top pages for a query."},
    {"name": "view_sections", "params": ["page_id"],
     "doc": "view_sections(page_id: str) -> list of {section_id, section_name, level} of a page."},
    {"name": "read_section", "params": ["section_id"],
     "doc": "read_section(section_id: str) -> str: the text of a section ('<page_id>:full' is the whole page)."},
]
MAX_ARG_CHARS = 4096


def checked_specs(specs: Any) -> list[dict[str, Any]]:
    """`specs` (an environment's `tool_specs`) as a list, or ValueError saying what is wrong:
    each spec is `{name, params, doc}` with an identifier name, a list of identifier params."""
    out = []
    for spec in list(specs):
        name, params = (spec.get("name"), spec.get("params")) if isinstance(spec, dict) else (None, None)
        if not (isinstance(name, str) and name.isidentifier() and isinstance(params, list)
                and all(isinstance(p, str) and p.isidentifier() for p in params)):
            raise ValueError(f"tool spec {spec!r}: need {{name: identifier, params: [identifiers], doc: str}}")
        out.append({"name": name, "params": list(params), "doc": str(spec.get("doc", ""))})
    if len({s["name"] for s in out}) != len(out):
        raise ValueError(f"tool specs name a tool twice: {[s['name'] for s in out]}")
    return out


def check_call(name: Any, kwargs: Any, specs: list[dict[str, Any]] = TOOL_SPECS) -> str | None:
    """Returns why a tool call is malformed under `specs`, or None when it is well-formed."""
    params = {spec["name"]: spec["params"] for spec in specs}
    if not isinstance(name, str) or name not in params:
        return f"unknown tool {name!r}"
    if not isinstance(kwargs, dict) or sorted(kwargs) != sorted(params[name]):
        return f"{name}() takes exactly the argument(s) {', '.join(params[name])}"
    for key, value in kwargs.items():
        if not isinstance(value, str):
            return f"{name}() argument {key!r} must be a str, not {type(value).__name__}"
        if len(value) > MAX_ARG_CHARS:
            return f"{name}() argument {key!r} is longer than {MAX_ARG_CHARS} characters"
    return None


@dataclass
class ToolGate:
    """Answers one cell's tool calls; counts them and the bytes they returned."""

    tool_fn: ToolFn
    max_calls: int
    max_bytes: int
    calls: int = 0
    bytes_returned: int = 0
    outputs: list[str] = field(default_factory=list)
    specs: list[dict[str, Any]] = field(default_factory=lambda: TOOL_SPECS)  # the tools the sandbox defines

    async def _call(self, name: str, kwargs: dict[str, Any]) -> Any:
        """An async ToolFn is awaited on the loop; a plain one runs in a thread (never blocks the loop)."""
        if inspect.iscoroutinefunction(self.tool_fn) or inspect.iscoroutinefunction(
                getattr(self.tool_fn, "__call__", None)):
            return await self.tool_fn(name, kwargs)
        return await asyncio.to_thread(self.tool_fn, name, kwargs)

    async def answer(self, name: Any, kwargs: Any) -> dict[str, Any]:
        """The reply for the harness: {ok: True, value} or {ok: False, kind, message}."""
        if self.calls >= self.max_calls:
            return {"ok": False, "kind": "RuntimeError",
                    "message": f"tool call limit reached ({self.max_calls} per cell); print what you have"}
        self.calls += 1  # malformed calls count against the cap too
        problem = check_call(name, kwargs, self.specs)
        if problem:
            return {"ok": False, "kind": "TypeError", "message": problem}
        try:
            value = await self._call(name, kwargs)
            text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
        except Exception as err:  # the ToolFn should not raise; if it does, the cell sees an error
            return {"ok": False, "kind": "RuntimeError", "message": f"{name}() failed: {type(err).__name__}: {err}"}
        size = len(text.encode("utf-8", "replace"))
        if self.bytes_returned + size > self.max_bytes:
            return {"ok": False, "kind": "RuntimeError",
                    "message": f"tool output limit reached ({self.max_bytes} bytes per cell); "
                               "read fewer or smaller sections"}
        self.bytes_returned += size
        self.outputs.append(text)
        return {"ok": True, "value": value}
