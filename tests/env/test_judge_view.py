"""Judges that read trajectories see them as the environment shows them (`env.judge_view`), not
as the wiki-search rubric renders cells: the judge package knows no task's protocol."""

from __future__ import annotations

from rlsys.config import Config
from rlsys.corpus.types import Question
from rlsys.env import EnvironmentBase, environment_of
from rlsys.judge.config import JudgeConfig
from rlsys.judge.factory import build_judge
from rlsys.judge.rubric import render_trajectory, rubric_messages
from rlsys.rollout.types import Trajectory, Turn
from rlsys.sandbox.types import ExecResult, ExecStatus


def _traj(*turns: Turn) -> Trajectory:
    return Trajectory("e1", Question(id="q", question="Reverse: 12", answer="21"), [1], [0], [0.0], 1,
                      turns=list(turns), answer="21")


class Shouting(EnvironmentBase):
    name = "shouting"

    def judge_view(self, traj, cell_chars=800, total_chars=8000):
        return " | ".join(t.text.upper() for t in traj.turns)[:total_chars]


def test_a_chat_judge_shows_the_environments_view():
    env = Shouting()
    judge = build_judge(JudgeConfig(kind="http", base_url="http://127.0.0.1:9/v1", model="m", cross_check="off"),
                        view=env.judge_view)
    user = judge.messages_for(_traj(Turn("first try"), Turn("then 21")))[1]["content"]
    assert "FIRST TRY | THEN 21" in user and "[turn 1] text" not in user
    # wrapped in the cross-check, the primary judge has it too
    checked = build_judge(JudgeConfig(kind="http", base_url="http://127.0.0.1:9/v1", model="m"), view=env.judge_view)
    assert checked.primary.view == env.judge_view


def test_wiki_search_view_is_the_rubric_rendering_it_was():
    wiki = environment_of(Config())
    cell = Turn("<python>print(1)</python>", cell="print(1)",
                result=ExecResult(stdout="1\n", error=None, status=ExecStatus.OK, duration_s=0.1, tool_calls=0))
    traj = _traj(cell, Turn("<answer>21</answer>"))
    assert wiki.judge_view(traj, 800, 8000) == render_trajectory(traj, 800, 8000)
    assert wiki.judge_view(traj, 80, 400) == render_trajectory(traj, 80, 400)
    assert rubric_messages(traj, view=wiki.judge_view) == rubric_messages(traj)


def test_the_default_view_is_the_turns_text_within_the_limits():
    env = environment_of(Config.model_validate({"env": {"name": "reverse_text"}}))
    traj = _traj(Turn("x" * 3000))
    view = env.judge_view(traj, 100, 8000)
    assert view.startswith("x" * 66) and len(view) < 200 and "chars cut" in view
    assert env.judge_view(_traj()) == "(the agent took no turns)"
