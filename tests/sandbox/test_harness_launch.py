"""The harness launcher: a sandbox whose Python has the host's bytecode magic number runs the
host-compiled code object (no compile per interpreter), any other Python compiles the source
that travels with it. Both paths run the real supervisor and its episode interpreter."""

from __future__ import annotations

import asyncio
import os
import shutil

import pytest

from rlsys.sandbox.channel import HARNESS_PROGRAM, MAX_ARG_BYTES, HarnessChannel
from rlsys.sandbox.tools import ToolGate
from rlsys.sandbox.types import ExecStatus

PYTHON = next((p for p in ("/usr/bin/python3", "/usr/local/bin/python3") if os.path.exists(p)), shutil.which("python3"))
SETTINGS = {"output_bytes": 4096, "memory_bytes": 1 << 30, "nproc": None, "fsize": 16 << 20, "max_tool_calls": 5}


async def _serves(program: list[str]) -> str:
    """Starts a supervisor with this `-c` program and arguments; returns what one cell printed."""
    proc = await asyncio.create_subprocess_exec(
        PYTHON, "-I", "-S", "-c", *program, "supervisor", stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.DEVNULL, limit=8 << 20, cwd="/tmp")
    try:
        channel = HarnessChannel(proc.stdout, proc.stdin, "launch-test")
        await channel.init(SETTINGS, 60.0)
        result = await channel.run_cell("import sys\nprint(6 * 7)\n1 / 0", 30.0, ToolGate(lambda n, k: None, 5, 4096))
        assert result.status is ExecStatus.ERROR and "ZeroDivisionError" in result.error, result
        assert "<string>" not in result.error  # the harness's own frames stay out of the traceback
        return result.stdout
    finally:
        proc.stdin.close()
        try:
            await asyncio.wait_for(proc.wait(), 30.0)
        except asyncio.TimeoutError:
            proc.kill()
            await proc.wait()


def _same_python() -> bool:
    import subprocess

    out = subprocess.run([PYTHON, "-I", "-S", "-c", "import _frozen_importlib_external as b; print(b.MAGIC_NUMBER.hex())"],
                         capture_output=True, text=True, timeout=60).stdout.strip()
    return out == HARNESS_PROGRAM[1]


async def test_other_python_compiles_the_source():
    launcher, _, _, source = HARNESS_PROGRAM
    assert await _serves([launcher, "not-this-magic", "not base64 code", source]) == "42\n"


async def test_same_python_runs_the_code_object():
    if not _same_python():
        pytest.skip(f"{PYTHON} has another bytecode magic number than the host: the source path serves it")
    launcher, magic, code, _ = HARNESS_PROGRAM
    # a source that would fail proves the code object ran (in the supervisor and in its interpreter)
    assert await _serves([launcher, magic, code, "raise SystemExit(3)"]) == "42\n"


def test_every_argument_fits_one_argv_string():
    assert all(len(arg.encode()) < MAX_ARG_BYTES for arg in HARNESS_PROGRAM)
