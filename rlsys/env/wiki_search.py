"""The wiki-search task: answer a factoid question by writing Python that searches a Wikipedia corpus.

The protocol texts live in `rlsys.rollout.prompts` (system prompt, observation, reminders) and
the turn grammar in `rlsys.rollout.parsing` (`<python>` / fenced cells, `<answer>`); the tools
are `rlsys.sandbox.tools.TOOL_SPECS`, answered on the host by the corpus service; the judge reads
the trajectory through `rlsys.judge.rubric`. This class is the one place that ties them into an
environment: nothing in the episode loop knows of any of them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Callable

from rlsys.env.base import Action, EnvSettings
from rlsys.env.registry import register_environment

if TYPE_CHECKING:
    from rlsys.config import Config
    from rlsys.corpus.types import Question
    from rlsys.rollout.types import Trajectory
    from rlsys.sandbox.types import ExecResult

EMPTY_CELL_ERROR = "EmptyCell: the cell has no code. Write Python between <python> and </python>."


@register_environment("wiki_search")
class WikiSearch:
    """Code cells in `<python>`, outputs in `<python_output>`, the answer in `<answer>`; defaults to
    the `rule` judge and the `binary` reward."""

    name = "wiki_search"
    uses_sandbox = True
    default_judge = "rule"
    default_reward = "binary"

    def __init__(self, settings: EnvSettings | None = None):
        from rlsys.rollout.parsing import STOP_STRINGS
        from rlsys.rollout.prompts import PROMPT_STYLES
        from rlsys.sandbox.tools import TOOL_SPECS

        self.settings = settings or EnvSettings()
        if self.settings.prompt_style not in PROMPT_STYLES:
            raise ValueError(f"unknown system prompt style {self.settings.prompt_style!r}; "
                             f"choose one of {', '.join(PROMPT_STYLES)}")
        if self.settings.options:
            raise ValueError(f"env.options: wiki_search takes none (got {sorted(self.settings.options)})")
        self.stop_strings = list(STOP_STRINGS)
        self.tool_specs = TOOL_SPECS

    def initial_messages(self, question: "Question") -> list[dict[str, str]]:
        from rlsys.rollout.prompts import initial_messages

        s = self.settings
        return initial_messages(question.question, s.max_turns, s.prompt_style, s.question_variable)

    def setup_cell(self, question: "Question") -> str | None:
        from rlsys.rollout.prompts import question_setup_cell

        return question_setup_cell(question.question) if self.settings.question_variable else None

    def parse_turn(self, text: str) -> Action:
        from rlsys.rollout.parsing import parse_turn

        parsed = parse_turn(text)
        return Action(cell=parsed.cell, answer=parsed.answer)

    def observation_text(self, result: "ExecResult") -> str:
        from rlsys.rollout.prompts import observation_text

        return observation_text(result)

    def no_action_text(self) -> str:
        from rlsys.rollout.prompts import NO_CELL_TEXT

        return NO_CELL_TEXT

    def empty_cell_error(self) -> str:
        return EMPTY_CELL_ERROR

    def final_turn_text(self) -> str | None:
        from rlsys.rollout.prompts import FINAL_TURN_TEXT

        return FINAL_TURN_TEXT

    def questions(self, cfg: "Config") -> tuple[list["Question"], list["Question"]]:
        from rlsys.corpus.loaders import load_questions, questions_source_for

        source = questions_source_for(cfg.corpus.source, cfg.corpus.questions)
        questions = load_questions(source, synthetic_entities=cfg.corpus.synthetic_entities, seed=cfg.corpus.seed)
        train = [q for q in questions if q.split == "train"]
        test = [q for q in questions if q.split != "train"]
        if not train or not test:
            raise ValueError(f"{source}: need both training and held-out questions (got {len(train)} / {len(test)})")
        return train, test

    def tool_server(self, cfg: "Config") -> Callable[..., Any] | None:
        from rlsys.corpus.service import CorpusService

        return CorpusService.from_config(cfg.corpus).call_tool

    def judge_view(self, traj: "Trajectory", cell_chars: int = 800, total_chars: int = 8000) -> str:
        from rlsys.judge.rubric import render_trajectory

        return render_trajectory(traj, cell_chars, total_chars)
