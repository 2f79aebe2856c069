"""A plain in-process `CodeExecutor` for tests of the episode loop (never used outside tests).

Cells run with `exec` against a tiny in-memory corpus and a restricted set of builtins; state
persists per episode like the real sandbox. The real sandbox is tested in `test_group_real.py`.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import time

from rlsys.sandbox.types import ExecResult, ExecStatus

PAGES = {
    "velmora_teaworks": {"title": "Velmora Teaworks", "sections": {"history": "Founded in 1871 by Ostrid Kael."}},
    "ostrid_kael": {"title": "Ostrid Kael", "sections": {"early_life": "Ostrid Kael was born in Harrowmere."}},
}
_SAFE_BUILTINS = {
    name: __builtins__[name] if isinstance(__builtins__, dict) else getattr(__builtins__, name)
    for name in ("print", "len", "range", "str", "int", "float", "list", "dict", "set", "sorted", "enumerate",
                 "min", "max", "sum", "any", "all", "zip", "isinstance", "Exception", "ValueError", "KeyError")
}


def search_pages(query: str) -> list[dict]:
    words = set(str(query).lower().split())
    hits = [
        {"page_id": pid, "title": p["title"], "score": len(words & set(p["title"].lower().split()))}
        for pid, p in PAGES.items()
    ]
    return sorted(hits, key=lambda h: -h["score"])


def view_sections(page_id: str) -> list[dict]:
    page = PAGES.get(page_id, {"sections": {}})
    return [{"section_id": f"{page_id}:{s}", "section_name": s, "level": 2} for s in page["sections"]]


def read_section(section_id: str) -> str:
    page_id, _, slug = str(section_id).partition(":")
    sections = PAGES.get(page_id, {"sections": {}})["sections"]
    return "\n".join(sections.values()) if slug == "full" else sections.get(slug, "section not found")


class InProcessExecutor:
    """Runs cells in-process; `fail_on` makes a cell containing that text an infra error."""

    def __init__(self, delay_s: float = 0.0, fail_on: str | None = None):
        self.delay_s = delay_s
        self.fail_on = fail_on
        self.sessions: dict[str, dict] = {}
        self.opened: list[str] = []
        self.closed: list[str] = []
        self.cells: list[str] = []

    async def open(self, episode_id: str) -> None:
        self.sessions[episode_id] = {
            "__builtins__": dict(_SAFE_BUILTINS),
            "search_pages": search_pages,
            "view_sections": view_sections,
            "read_section": read_section,
        }
        self.opened.append(episode_id)

    async def run(self, episode_id: str, code: str, timeout_s: float | None = None) -> ExecResult:
        if episode_id not in self.sessions:
            raise KeyError(f"run before open: {episode_id}")
        self.cells.append(code)
        if self.delay_s:
            await asyncio.sleep(self.delay_s)
        if self.fail_on and self.fail_on in code:
            return ExecResult(error="sandbox container died", status=ExecStatus.INFRA_ERROR)
        out = io.StringIO()
        started = time.perf_counter()
        error, status = None, ExecStatus.OK
        try:
            with contextlib.redirect_stdout(out):
                exec(compile(code, "<cell>", "exec"), self.sessions[episode_id])  # noqa: S102 - test double
        except BaseException as err:  # noqa: BLE001 - the model's code may raise anything
            error, status = f"{type(err).__name__}: {err}", ExecStatus.ERROR
        return ExecResult(stdout=out.getvalue(), error=error, status=status, duration_s=time.perf_counter() - started)

    async def close(self, episode_id: str) -> None:
        self.sessions.pop(episode_id, None)
        self.closed.append(episode_id)
