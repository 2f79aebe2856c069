"""Types shared with other components: what running a cell returns, and the executor contract.

The rollout loop talks to any `CodeExecutor`: the local `SandboxPool` or a Ray `SandboxWorker`
handle wrapped by `rlsys/actors`. Tool calls made by the cell are answered host-side by a
`ToolFn` (in practice `CorpusService.call_tool`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum
from typing import Any, Callable, Protocol


class ExecStatus(str, Enum):
    OK = "ok"                    # the cell ran to completion
    ERROR = "error"              # the cell raised; `error` holds the last traceback lines
    TIMEOUT = "timeout"          # the cell exceeded its wall-clock limit
    KILLED = "killed"            # the sandbox killed the cell (memory, pids, os._exit, ...)
    INFRA_ERROR = "infra_error"  # our side failed (container died, worker lost): not the model's fault


@dataclass
class ExecResult:
    """The outcome of one code cell, as the model will see it (plus bookkeeping)."""

    stdout: str = ""
    error: str | None = None
    status: ExecStatus = ExecStatus.OK
    duration_s: float = 0.0
    tool_calls: int = 0
    truncated: bool = False
    tool_outputs: list[str] = field(default_factory=list)  # text of tool results the cell received

    @property
    def infra_failed(self) -> bool:
        return self.status is ExecStatus.INFRA_ERROR

    def observation(self) -> str:
        """What goes inside `<python_output>`: stdout, then the error text if any."""
        parts = [self.stdout.rstrip("\n")] if self.stdout else []
        if self.error:
            parts.append(self.error.rstrip("\n"))
        if not parts:
            parts.append("(no output)")
        return "\n".join(parts)

    def to_dict(self) -> dict[str, Any]:
        return {
            "stdout": self.stdout,
            "error": self.error,
            "status": self.status.value,
            "duration_s": self.duration_s,
            "tool_calls": self.tool_calls,
            "truncated": self.truncated,
            "tool_outputs": self.tool_outputs,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "ExecResult":
        data = dict(data)
        data["status"] = ExecStatus(data.get("status", "ok"))
        return cls(**data)


# (tool name, keyword arguments) -> JSON-serialisable result. Must not raise for bad input:
# return an error string the model can read instead. May be an `async def` (then awaited on the
# pool's event loop); a plain function runs in a thread.
ToolFn = Callable[[str, dict[str, Any]], Any]


class CodeExecutor(Protocol):
    """Runs an episode's cells in one isolated, stateful interpreter."""

    async def open(self, episode_id: str) -> None: ...

    async def run(self, episode_id: str, code: str, timeout_s: float | None = None) -> ExecResult: ...

    async def close(self, episode_id: str) -> None: ...
