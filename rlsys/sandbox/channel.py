"""Host side of the harness protocol: JSON lines to and from one sandbox's supervisor.

Backends hand over an `asyncio.StreamReader` (the supervisor's stdout) and a writer with
`write(bytes)` + `await drain()` (its stdin). Every wait has a deadline; any protocol
violation, EOF or missed deadline raises `ChannelBroken`, and the pool then replaces the sandbox.
Nothing the sandbox sends is trusted: messages are parsed defensively (deep nesting, wrong
types) and every field of a result is type-checked and capped before it reaches the caller.
"""

from __future__ import annotations

import asyncio
import base64
import importlib.util
import json
import marshal
import time
from pathlib import Path
from typing import Any

from rlsys.sandbox.tools import TOOL_SPECS, ToolGate
from rlsys.sandbox.types import ExecResult, ExecStatus

# One program: the episode interpreter first, then the supervisor (and its entry point).
HARNESS_SOURCE = Path(__file__).with_name("harness_child.py").read_text() + "\n\n" + \
    Path(__file__).with_name("harness.py").read_text()
# Compiling the harness costs each interpreter of a sandbox ~23 ms of CPU (measured: 36 vs 13 ms
# for `python3 -I -S` with the source vs its code object), and every episode starts two of them.
# The host compiles it once; a sandbox whose Python has the same bytecode magic number runs the
# marshalled code object, any other Python compiles the source that travels with it. The file
# name stays "<string>" (what `-c` gives), so tracebacks of cells drop the harness frames as before.
HARNESS_CODE = base64.b64encode(marshal.dumps(compile(HARNESS_SOURCE, "<string>", "exec"))).decode()
HARNESS_MAGIC = importlib.util.MAGIC_NUMBER.hex()
HARNESS_LAUNCHER = (
    "import sys, _frozen_importlib_external as _b\n"
    "if _b.MAGIC_NUMBER.hex() == sys.argv[1]:\n"
    "    import binascii, marshal\n"
    "    exec(marshal.loads(binascii.a2b_base64(sys.argv[2])))\n"
    "else:\n"
    "    exec(compile(sys.argv[3], '<string>', 'exec'))\n")
HARNESS_PROGRAM = [HARNESS_LAUNCHER, HARNESS_MAGIC, HARNESS_CODE, HARNESS_SOURCE]  # `-c` and its arguments
SUPERVISOR_ARGV = ["-I", "-S", "-c", *HARNESS_PROGRAM, "supervisor"]  # after the python executable
MAX_ARG_BYTES = 120_000  # Linux refuses a single argument over 128 KiB (MAX_ARG_STRLEN)
assert all(len(arg.encode()) < MAX_ARG_BYTES for arg in HARNESS_PROGRAM), "the harness outgrew one argv string"
HOST_MARGIN_S = 5.0     # the supervisor gets timeout + its grace; the host waits this much longer
MAX_LINE = 8 << 20
MAX_ERROR_CHARS = 4000  # an error text is capped like output


class ChannelBroken(RuntimeError):
    """The sandbox stopped speaking the protocol (exited, hung, or sent garbage)."""

    def __init__(self, message: str, died: bool = False):
        super().__init__(message)
        self.died = died  # the sandbox process is gone (EOF), as opposed to hung or garbled


def truncation_marker(shown: int, total: int) -> str:
    return f"\n... [output truncated: showed {shown} of {total} bytes]"


class HarnessChannel:
    def __init__(self, reader: asyncio.StreamReader, writer: Any, name: str):
        self.reader, self.writer, self.name = reader, writer, name
        self.cells = 0

    async def send(self, msg: dict[str, Any]) -> None:
        try:
            self.writer.write(json.dumps(msg).encode() + b"\n")
            await asyncio.wait_for(self.writer.drain(), 10.0)
        except (OSError, asyncio.TimeoutError, RuntimeError) as err:
            raise ChannelBroken(f"{self.name}: cannot write to the sandbox ({err!r})", died=True) from None

    async def recv(self, deadline: float) -> dict[str, Any]:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise ChannelBroken(f"{self.name}: no answer from the sandbox before the deadline")
        try:
            line = await asyncio.wait_for(self.reader.readline(), remaining)
        except asyncio.TimeoutError:
            raise ChannelBroken(f"{self.name}: no answer from the sandbox before the deadline") from None
        except (ValueError, asyncio.LimitOverrunError):
            raise ChannelBroken(f"{self.name}: oversized message from the sandbox") from None
        except (OSError, asyncio.IncompleteReadError) as err:
            raise ChannelBroken(f"{self.name}: connection lost ({err!r})", died=True) from None
        if not line:
            raise ChannelBroken(f"{self.name}: the sandbox exited", died=True)
        try:
            msg = json.loads(line)
        except (ValueError, RecursionError):
            raise ChannelBroken(f"{self.name}: garbled message {line[:80]!r}") from None
        if not isinstance(msg, dict):
            raise ChannelBroken(f"{self.name}: unexpected message {line[:80]!r}")
        return msg

    async def expect(self, op: str, deadline: float) -> dict[str, Any]:
        msg = await self.recv(deadline)
        if msg.get("op") != op:
            raise ChannelBroken(f"{self.name}: expected {op!r}, got {str(msg)[:120]}")
        return msg

    async def init(self, settings: dict[str, Any], timeout_s: float, tools: list[dict[str, Any]] = TOOL_SPECS) -> None:
        """Starts the harness; `tools` are the functions it defines (an environment's `tool_specs`)."""
        await self.send({"op": "init", "tools": tools, **settings})
        ready = await self.expect("ready", time.monotonic() + timeout_s)
        if not ready.get("ok"):
            raise ChannelBroken(f"{self.name}: the harness could not start its interpreter")

    async def run_cell(self, code: str, timeout_s: float, gate: ToolGate, output_bytes: int = 8192) -> ExecResult:
        """Runs one cell; tool calls are answered through `gate`. Raises ChannelBroken."""
        self.cells += 1
        cell = self.cells
        started = time.monotonic()
        deadline = started + timeout_s + HOST_MARGIN_S
        await self.send({"op": "run", "cell": cell, "code": code, "timeout": timeout_s})
        while True:
            msg = await self.recv(deadline)
            op = msg.get("op")
            if op == "tool" and msg.get("cell") == cell:
                call = msg.get("call")
                reply = await gate.answer(msg.get("name"), msg.get("kwargs"))
                await self.send({"op": "tool_result", "cell": cell, "call": call if type(call) is int else None,
                                 **reply})
            elif op == "result" and msg.get("cell") == cell:
                return self._result(msg, time.monotonic() - started, gate, output_bytes)
            elif op == "log":
                continue
            else:
                raise ChannelBroken(f"{self.name}: unexpected message during a cell: {str(msg)[:120]}")

    @staticmethod
    def _result(msg: dict[str, Any], duration: float, gate: ToolGate, output_bytes: int) -> ExecResult:
        stdout = msg.get("stdout") if isinstance(msg.get("stdout"), str) else ""
        total, shown = _count(msg.get("total_bytes")), _count(msg.get("shown_bytes"))
        if len(stdout) > output_bytes:
            stdout, shown, total = stdout[:output_bytes], output_bytes, max(total, len(stdout))
        truncated = total > shown
        if truncated:
            stdout += truncation_marker(shown, total)
        try:
            status = ExecStatus(msg.get("status"))
        except (ValueError, TypeError):
            status = ExecStatus.ERROR
        if status is ExecStatus.INFRA_ERROR:  # only the host decides that something is our fault
            status = ExecStatus.KILLED
        error = msg.get("error")
        if error is not None:
            error = error if isinstance(error, str) else "the cell failed"
            if len(error) > MAX_ERROR_CHARS:
                error = error[: MAX_ERROR_CHARS // 2] + "\n...\n" + error[-MAX_ERROR_CHARS // 2:]
        return ExecResult(stdout=stdout, error=error, status=status,
                          duration_s=duration, tool_calls=gate.calls, truncated=truncated,
                          tool_outputs=list(gate.outputs))


def _count(value: Any) -> int:
    return value if type(value) is int and 0 <= value < 1 << 62 else 0
