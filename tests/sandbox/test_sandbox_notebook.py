"""What the model sees: notebook semantics of the harness, on both backends."""

from __future__ import annotations

import pytest

from rlsys.sandbox.types import ExecStatus

from .conftest import run_cells

pytestmark = pytest.mark.asyncio(loop_scope="module")


async def test_globals_persist_across_cells_and_trailing_expression_is_echoed(pool):
    r1, r2, r3, r4 = await run_cells(pool, "x = 40\ndef add(a):\n    return a + x", "add(2)", "print('p')\nNone",
                                     "[{'a': 1}, 'b']")
    assert [r.status for r in (r1, r2, r3, r4)] == [ExecStatus.OK] * 4
    assert r1.stdout == ""
    assert r2.stdout == "42\n"
    assert r3.stdout == "p\n"  # a trailing None is not echoed
    assert r4.stdout == "[{'a': 1}, 'b']\n"


async def test_exception_gives_short_traceback_and_keeps_state(pool):
    r1, r2, r3 = await run_cells(pool, "y = 5\nprint('before')\n1 / 0", "y", "def f(:\n  pass")
    assert r1.status is ExecStatus.ERROR and r1.stdout == "before\n"
    assert r1.error.startswith("Traceback (most recent call last):")
    assert 'File "<cell 1>", line 3' in r1.error and r1.error.rstrip().endswith("ZeroDivisionError: division by zero")
    assert "<string>" not in r1.error and "child_main" not in r1.error  # no harness frames
    assert r2.stdout == "5\n"
    assert r3.status is ExecStatus.ERROR and "SyntaxError" in r3.error


async def test_tools_answer_and_their_text_is_recorded(pool, corpus):
    (r,) = await run_cells(pool, "hits = search_pages('zorblat harbor')\n"
                                 "secs = view_sections(hits[0]['page_id'])\n"
                                 "print(read_section(secs[0]['section_id']))")
    assert r.status is ExecStatus.OK, r
    assert r.stdout == "Zorblat Harbor was founded in 1702 by Mirela Quandt.\n"
    assert r.tool_calls == 3 and len(r.tool_outputs) == 3
    assert "Zorblat Harbor was founded in 1702" in r.tool_outputs[2]
    assert '"page_id": "zorblat_harbor"' in r.tool_outputs[0]


async def test_rebinding_tools_does_not_break_later_cells(pool):
    r1, r2, r3 = await run_cells(pool, "search_pages = search_pages('zorblat')\nread_section = None",
                                 "len(search_pages)", "read_section('mirela_quandt:life')")
    assert r1.status is ExecStatus.OK
    assert r2.status is ExecStatus.ERROR  # in a later cell the name is the tool again
    assert r3.stdout == "'Mirela Quandt was born in Osk.'\n"


async def test_output_cap_marks_truncation(pool):
    (r,) = await run_cells(pool, "print('x' * 100_000)\nprint('tail')")
    assert r.status is ExecStatus.OK and r.truncated
    assert r.stdout.startswith("x" * 4000)
    assert "[output truncated: showed 4096 of 100006 bytes]" in r.stdout
    assert len(r.stdout) < 4096 + 100


async def test_timeout_interrupts_and_keeps_the_episode(pool):
    r1, r2, r3 = await run_cells(pool, "z = 7", "import time\nprint('start', flush=True)\nwhile True: time.sleep(0.01)",
                                 "z * 6", timeout_s=1.0)
    assert r2.status is ExecStatus.TIMEOUT and "time limit" in r2.error
    assert r2.stdout == "start\n"
    assert 0.9 < r2.duration_s < 5
    assert r3.status is ExecStatus.OK and r3.stdout == "42\n"  # soft interrupt: globals survive


async def test_episodes_are_fresh(pool):
    (r1,) = await run_cells(pool, "leftover = 1")
    (r2,) = await run_cells(pool, "'leftover' in dir()")
    assert r1.status is ExecStatus.OK and r2.stdout == "False\n"


FDS_AND_ENV = """import os, sys
kinds = []
for f in sorted(int(x) for x in os.listdir('/proc/self/fd')):
    try:
        kinds.append(os.readlink(f'/proc/self/fd/{f}').split(':')[0])
    except OSError:
        pass  # the listing's own fd, closed by now
print(sorted(kinds))
print(sys.argv[:2], os.getcwd(), os.environ['HOME'], os.environ.get('PYTHONIOENCODING'), callable(exit),
      callable(help), sys.dont_write_bytecode, os.read(0, 1))
"""


async def test_the_interpreter_looks_like_a_fresh_python(pool):
    """It is forked from the supervisor: nothing of the supervisor shows (no fd of the host
    channel, the interpreter's own environment, argv, cwd and builtins, stdin at EOF)."""
    (r,) = await run_cells(pool, FDS_AND_ENV)
    assert r.status is ExecStatus.OK, r
    fds, rest = r.stdout.splitlines()
    # stdin, stdout/stderr (the output pipe), the control socket, the interpreter's dup of stdout
    assert fds == "['/dev/null', 'pipe', 'pipe', 'pipe', 'socket']", r.stdout
    assert rest == "['-c', 'child'] /tmp /tmp utf-8 True True True b''", r.stdout
