"""The tools an environment exposes are the ones the sandbox serves: the harness defines the
functions of the pool's `tool_specs` (not wiki-search's whatever the task), and the host gate
accepts calls of those tools only."""

from __future__ import annotations

import pytest

from rlsys.sandbox.tools import TOOL_SPECS, ToolGate, check_call, checked_specs
from tests.sandbox.conftest import require, run_cells, small_config

SHOUT = [{"name": "shout", "params": ["text"], "doc": "shout(text: str) -> str: the text in capitals."}]


def shout_fn(name: str, kwargs: dict) -> str:
    assert name == "shout"
    return kwargs["text"].upper()


def test_the_gate_checks_calls_against_the_environments_specs():
    assert check_call("shout", {"text": "a"}, SHOUT) is None
    assert check_call("search_pages", {"query": "a"}, SHOUT) == "unknown tool 'search_pages'"
    assert check_call("shout", {"query": "a"}, SHOUT) == "shout() takes exactly the argument(s) text"
    assert check_call("search_pages", {"query": "a"}) is None  # the default stays wiki-search's
    assert checked_specs(TOOL_SPECS) == TOOL_SPECS


@pytest.mark.parametrize("specs, message", [
    ([{"name": "not a name", "params": []}], "need {name: identifier"),
    ([{"name": "f", "params": "x"}], "need {name: identifier"),
    ([{"name": "f", "params": []}, {"name": "f", "params": ["x"]}], "name a tool twice"),
])
def test_bad_tool_specs_are_refused(specs, message):
    with pytest.raises(ValueError, match=message):
        checked_specs(specs)


async def test_a_gate_refuses_a_tool_outside_its_specs():
    gate = ToolGate(shout_fn, max_calls=5, max_bytes=1000, specs=SHOUT)
    assert await gate.answer("shout", {"text": "hi"}) == {"ok": True, "value": "HI"}
    refused = await gate.answer("read_section", {"section_id": "x:full"})
    assert refused == {"ok": False, "kind": "TypeError", "message": "unknown tool 'read_section'"}


@pytest.mark.parametrize("backend", [pytest.param("docker", marks=pytest.mark.docker), "bwrap"])
async def test_the_sandbox_defines_the_environments_tools_only(backend):
    from rlsys.sandbox.pool import SandboxPool

    require(backend)
    pool = SandboxPool(small_config(containers_per_worker=1), shout_fn, backend=backend, tool_specs=SHOUT)
    await pool.start()
    try:
        shouted, wiki = await run_cells(pool, 'print(shout("quiet"))', 'search_pages("x")')
    finally:
        await pool.shutdown()
    assert shouted.stdout.strip() == "QUIET" and shouted.error is None and shouted.tool_calls == 1
    assert "NameError" in (wiki.error or "") and "search_pages" in wiki.error
