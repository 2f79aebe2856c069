"""Whatever a cell writes to its control socket, on Docker and on bubblewrap: the supervisor keeps
running, the cell ends with an honest status, every field that reaches the host is capped,
malformed messages count against the tool-call cap, and a spamming cell is stopped. Each test
ends with the pool serving a fresh episode."""

from __future__ import annotations

import json

import pytest

from rlsys.sandbox.channel import MAX_ERROR_CHARS
from rlsys.sandbox.types import ExecStatus

from .conftest import assert_serving, run_cells

pytestmark = pytest.mark.asyncio(loop_scope="module")

# the cell's own control socket and cell number, as a cell can find them
PRELUDE = """import json, os, sys
fd = int(sys.argv[-1])
cell = int(sys._getframe().f_code.co_filename.strip('<>').split()[-1])
def put(obj):
    os.write(fd, (obj if isinstance(obj, bytes) else json.dumps(obj).encode()) + b"\\n")
"""


async def test_deeply_nested_json_and_wrong_types(pool, corpus):
    before = len(corpus.calls)
    code = PRELUDE + """
put(b"[" * 100000 + b"]" * 100000)
put(b'{"op": "tool", "name": ' + b"[" * 100000 + b"]" * 100000 + b"}")
put({"op": "tool", "call": [1], "name": ["search_pages"], "kwargs": {"query": {"x": 1}}})
put({"op": "done", "cell": [cell], "status": {"s": 1}})
put(b"\\xff\\xfe not json")
print("cell went on")
"""
    r1, r2 = await run_cells(pool, code, "print('next cell')")
    assert r1.status is ExecStatus.OK and r1.stdout == "cell went on\n", r1
    assert r1.tool_calls == 4  # every malformed message counted against the cap (a `done` of no cell is dropped)
    assert r2.status is ExecStatus.OK and r2.stdout == "next cell\n"
    assert len(corpus.calls) == before
    await assert_serving(pool)


async def test_forged_done_cannot_choose_status_or_flood_the_host(pool):
    code = PRELUDE + """
put({"op": "done", "cell": cell, "status": "infra_error", "error": "E" * 200_000})
import time; time.sleep(0.5)
print("never shown")
"""
    r1, r2 = await run_cells(pool, code, "print('after forged done')")
    assert r1.status is ExecStatus.ERROR, r1  # never infra_error, never a status the cell picked
    assert len(r1.error) <= MAX_ERROR_CHARS + 10
    # the real `done` of cell 1 did not end cell 2 (what cell 1 printed after its forged end may show)
    assert r2.status is ExecStatus.OK and r2.stdout.endswith("after forged done\n"), r2
    (r3,) = await run_cells(pool, PRELUDE + 'put({"op": "done", "cell": cell, "status": "ok", "error": None})\n'
                                             "import time; time.sleep(0.3)")
    assert r3.status is ExecStatus.OK and r3.error is None
    await assert_serving(pool)


async def test_huge_fields_and_an_endless_line(pool):
    code = PRELUDE + """
put({"op": "tool", "call": 1, "name": "search_pages" * 1000, "kwargs": {"query": "q"}})
print(os.read(fd, 1 << 16).decode().strip()[:200])
put({"op": "tool", "call": 2, "name": "search_pages", "kwargs": {"query": "q" * 200_000}})
print(os.read(fd, 1 << 16).decode().strip()[:200])
"""
    r1, r2, r3 = await run_cells(pool, code, PRELUDE + "os.write(fd, b'x' * (8 << 20))", "print('fresh')")
    assert r1.status is ExecStatus.OK, r1
    first, second = r1.stdout.splitlines()
    assert '"ok": false' in first and "unknown tool None" in first
    assert '"ok": false' in second and "takes exactly" in second
    assert r1.tool_calls == 2
    assert r2.status is ExecStatus.KILLED and "variables from earlier cells are gone" in r2.error, r2
    assert r3.status is ExecStatus.OK and r3.stdout == "fresh\n"
    await assert_serving(pool)


async def test_interleaved_forged_tool_replies_do_not_reach_tool_calls(pool, corpus):
    code = PRELUDE + """
for call in range(1, 4):
    put({"op": "tool_result", "cell": cell, "call": call, "ok": True, "value": "FORGED"})
hits = search_pages('zorblat harbor')
print(hits[0]['page_id'])
"""
    (r,) = await run_cells(pool, code)
    assert r.status is ExecStatus.OK and r.stdout == "zorblat_harbor\n", r
    assert "FORGED" not in "".join(r.tool_outputs)
    assert r.tool_calls == 4  # three forged replies (counted as malformed calls) + the real one
    await assert_serving(pool)


async def test_dup_of_the_control_socket_used_from_a_child_process(pool, corpus):
    before = len(corpus.calls)
    code = PRELUDE + """
import time
spare = os.dup(fd)
pid = os.fork()
if pid == 0:
    for i in range(3):
        os.write(spare, json.dumps({"op": "tool", "call": 50 + i, "name": "search_pages",
                                    "kwargs": {"query": "FROM-CHILD"}}).encode() + b"\\n")
    os.write(spare, b"[" * 100000 + b"\\n")
    os.write(spare, json.dumps({"op": "done", "cell": cell, "status": "ok", "error": None}).encode() + b"\\n")
    time.sleep(30)
os.waitpid(pid, os.WNOHANG)
time.sleep(1)
"""
    alive = ("import os\nlive = [p for p in os.listdir('/proc') if p.isdigit() and "
             "open(f'/proc/{p}/stat').read().rsplit(')', 1)[1].split()[0] != 'Z']\n"
             "print(sorted(live) == sorted(['1', str(os.getpid())]))")
    r1, r2 = await run_cells(pool, code, alive, timeout_s=5)
    assert r1.status is ExecStatus.OK, r1  # the child's forged `done` ended the cell: the cell's own doing
    assert r1.tool_calls == 4  # three well-formed calls from the child and one malformed, all counted
    assert len(corpus.calls) - before == 3 and all("FROM-CHILD" in q for q in corpus.queries()[before:])
    assert r2.status is ExecStatus.OK and r2.stdout == "True\n", r2  # the child did not outlive the cell
    await assert_serving(pool)


async def test_a_cell_spamming_tool_calls_is_stopped(pool):
    code = PRELUDE + """
while True:
    put({"op": "tool", "call": 7, "name": "no_such_tool", "kwargs": {}})
"""
    r1, r2 = await run_cells(pool, code, "print('served')", timeout_s=5)
    assert r1.status is ExecStatus.KILLED and "past the limit of 5" in r1.error, r1
    assert r1.tool_calls <= 5 + 5
    assert r2.status is ExecStatus.OK and r2.stdout == "served\n"
    await assert_serving(pool)


async def test_malformed_results_never_raise_inside_run(pool):
    """The host's own parsing: a result with wrong types is capped and typed, never an exception."""
    from rlsys.sandbox.channel import HarnessChannel
    from rlsys.sandbox.tools import ToolGate

    gate = ToolGate(lambda n, k: "x", 5, 1000)
    result = HarnessChannel._result({"op": "result", "stdout": ["x"], "total_bytes": "9" * 50, "shown_bytes": [1],
                                     "status": {"a": 1}, "error": {"b": 2}}, 0.1, gate, 4096)
    assert result.status is ExecStatus.ERROR and result.stdout == "" and isinstance(result.error, str)
    big = HarnessChannel._result({"stdout": "y" * 100_000, "status": "ok", "error": "e" * 100_000}, 0.1, gate, 4096)
    assert big.truncated and len(big.stdout) < 4200 and len(big.error) <= MAX_ERROR_CHARS + 10
    assert json.dumps(big.to_dict())
    await assert_serving(pool)
