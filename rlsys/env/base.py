"""The `Environment` protocol: everything task-specific about an episode, in one object.

The episode loop (`rlsys.rollout.episode.run_episode`) is task-agnostic. It asks its environment
for the opening messages of a question, the stop strings of a turn, what a sampled turn means
(`Action`: a cell to run, a final answer, or neither), the observation text of a cell's result,
the reminder after a turn with neither, and the message before the last turn. Around the loop,
the environment also says which questions it trains and evaluates on, which tools the sandbox
exposes and how they are served, what an LLM judge sees of a trajectory, and which judge and
reward formula it defaults to.

Write one by subclassing `EnvironmentBase` (defaults for a task without a sandbox) or by
implementing the protocol from scratch; register it with `@register_environment("name")` or
name it by dotted path in the config (`env.name: mypkg.myenv:MyEnv`). See docs/extending.md.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Callable, Protocol, runtime_checkable

if TYPE_CHECKING:
    from rlsys.config import Config
    from rlsys.corpus.types import Question
    from rlsys.rollout.types import Trajectory
    from rlsys.sandbox.types import ExecResult

__all__ = ["Action", "EnvSettings", "Environment", "EnvironmentBase", "PROTOCOL_MEMBERS"]


@dataclass
class Action:
    """What one assistant turn asks for: run `cell` (code; `""` is an empty cell), end with
    `answer`, or neither (the loop replies with `no_action_text`). An answer ends the episode
    even when a cell was written too (the cell is recorded, not run)."""

    cell: str | None = None
    answer: str | None = None

    @property
    def empty_cell(self) -> bool:
        return self.cell is not None and not self.cell.strip()


@dataclass
class EnvSettings:
    """What an environment is built from: the episode's turn limit, the two prompt options of
    `rollout` and the free-form `env.options` of the config."""

    max_turns: int = 3
    prompt_style: str = "reference"
    question_variable: bool = False
    options: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_config(cls, cfg: "Config") -> "EnvSettings":
        r = cfg.rollout
        return cls(r.max_turns, r.system_prompt, r.question_variable, dict(cfg.env.options))


@runtime_checkable
class Environment(Protocol):
    """One task. Attributes: `name`, `stop_strings` (a turn ends at any of them), `uses_sandbox`
    (False: the loop never opens a sandbox session, and no sandbox or corpus actors are needed),
    `tool_specs` (the functions the sandbox defines: `{name, params, doc}`), `default_judge` and
    `default_reward` (registry names, see `rlsys.judge.factory` and `rlsys.judge.reward`)."""

    name: str
    stop_strings: list[str]
    uses_sandbox: bool
    tool_specs: list[dict[str, Any]]
    default_judge: str
    default_reward: str

    def initial_messages(self, question: "Question") -> list[dict[str, str]]:
        """The chat messages that open an episode (`[system, user]` typically)."""
        ...

    def setup_cell(self, question: "Question") -> str | None:
        """Code run in the episode's sandbox before its first cell (None: nothing)."""
        ...

    def parse_turn(self, text: str) -> Action:
        """What a sampled assistant turn asks for."""
        ...

    def observation_text(self, result: "ExecResult") -> str:
        """The user message that returns a cell's result."""
        ...

    def no_action_text(self) -> str:
        """The user message after a turn with neither a cell nor an answer."""
        ...

    def empty_cell_error(self) -> str:
        """The error text of an empty cell (it is not sent to the sandbox)."""
        ...

    def final_turn_text(self) -> str | None:
        """The user message before the last assistant turn (None: none)."""
        ...

    def questions(self, cfg: "Config") -> tuple[list["Question"], list["Question"]]:
        """(train, held-out) questions."""
        ...

    def tool_server(self, cfg: "Config") -> Callable[..., Any] | None:
        """The host-side `ToolFn` answering the sandbox's tool calls (None: no tools)."""
        ...

    def judge_view(self, traj: "Trajectory", cell_chars: int = 800, total_chars: int = 8000) -> str:
        """The trajectory as an LLM judge reads it, in about `total_chars` characters (a turn's
        code or text in about `cell_chars`; the LLM judge halves both until its prompt fits)."""
        ...


PROTOCOL_MEMBERS = ("name", "stop_strings", "uses_sandbox", "tool_specs", "default_judge", "default_reward",
                    "initial_messages", "setup_cell", "parse_turn", "observation_text", "no_action_text",
                    "empty_cell_error", "final_turn_text", "questions", "tool_server", "judge_view")


class EnvironmentBase:
    """Defaults for a single-turn-or-more task without a sandbox: the whole visible turn (thinking
    and end markers removed) is the answer. Override what differs."""

    name = "base"
    stop_strings: list[str] = []
    uses_sandbox = False
    tool_specs: list[dict[str, Any]] = []
    default_judge = "exact_match"
    default_reward = "binary"

    def __init__(self, settings: EnvSettings | None = None):
        self.settings = settings or EnvSettings()

    def initial_messages(self, question: "Question") -> list[dict[str, str]]:
        return [{"role": "user", "content": question.question}]

    def setup_cell(self, question: "Question") -> str | None:
        return None

    def parse_turn(self, text: str) -> Action:
        from rlsys.rollout.parsing import strip_thinking

        for marker in ("<|im_end|>", "<|endoftext|>"):
            text = text.replace(marker, "")
        return Action(answer=strip_thinking(text)[0].strip())

    def observation_text(self, result: "ExecResult") -> str:
        return result.observation()

    def no_action_text(self) -> str:
        return "Give your answer."

    def empty_cell_error(self) -> str:
        return "EmptyCell: the cell has no code."

    def final_turn_text(self) -> str | None:
        return None

    def questions(self, cfg: "Config") -> tuple[list["Question"], list["Question"]]:
        raise NotImplementedError(f"environment {self.name!r} defines no questions")

    def tool_server(self, cfg: "Config") -> Callable[..., Any] | None:
        return None

    def judge_view(self, traj: "Trajectory", cell_chars: int = 800, total_chars: int = 8000) -> str:
        from rlsys.judge.rubric import clip

        text = "\n\n".join(clip(t.text, cell_chars) for t in traj.turns)
        return clip(text, total_chars) or "(the agent took no turns)"
