"""The rescued-search shaping term and the per-step miss/recovery figures against a table of
trajectories whose misses, recoveries and rewards were worked out by hand."""

from __future__ import annotations

import pytest

from rlsys.judge.config import JudgeConfig
from rlsys.judge.reward import apply_verdicts, trajectory_reward
from rlsys.judge.search_recovery import recovery_metrics, search_record
from rlsys.judge.types import Category, Verdict
from rlsys.rollout.types import Turn
from rlsys.sandbox.types import ExecResult, ExecStatus
from rlsys.step_results import GroupOutcome, step_summary

from .trajectories import make_traj

GOLD = "Ty Simpkins"
CAST = "The young Gavin is played by Ty Simpkins; Gavin's father by Leo Marsh."
PLOT = "The film follows Gavin, a boy who moves to the coast with his father."


def cell(stdout: str = "", outputs: tuple[str, ...] = (), status: ExecStatus = ExecStatus.OK) -> Turn:
    code = "print(read_section(search_pages('Gavin film')[0]['page_id'] + ':cast'))"
    result = ExecResult(stdout=stdout, status=status, tool_calls=len(outputs), tool_outputs=list(outputs),
                        error="NameError: name 'pgs' is not defined" if status is ExecStatus.ERROR else None)
    return Turn(text=f"<python>\n{code}\n</python>", cell=code, result=result)


def answer(text: str) -> Turn:
    return Turn(text=f"<answer>{text}</answer>")


SEARCH = '[{"page_id": "gavin_film", "title": "Gavin (film)", "score": 0.8}]'
HIT = cell("Ty Simpkins\n", (SEARCH, CAST))

# name: (cells, final answer, verdict, misses per cell, retried, recovered, binary reward with bonus 0.25)
TABLE = {
    "first search hits": ([HIT], GOLD, "correct", (None,), False, False, 1.0),
    "lucky guess, no cell": ([], GOLD, "correct", (), False, False, 1.0),
    "lucky guess, unrelated output": ([cell("Gavin (film)\n", (SEARCH,))], GOLD, "correct", (None,), False, False, 1.0),
    "empty search, then found": ([cell("[]\n", ("[]",)), HIT], GOLD, "correct", ("empty_search", None), True, True, 1.25),
    "cell raised, then found": ([cell(outputs=(SEARCH,), status=ExecStatus.ERROR), HIT], GOLD, "correct",
                                ("error", None), True, True, 1.25),
    "said not found without searching": ([cell("not found\n"), HIT], GOLD, "correct", (None, None), False, False, 1.0),
    "raised without searching": ([cell(status=ExecStatus.ERROR), HIT], GOLD, "correct", (None, None), False, False, 1.0),
    "tool error, then found": ([cell("Error: no page 'gavin'\n", ("Error: no page 'gavin'",)), HIT], GOLD, "correct",
                               ("tool_error", None), True, True, 1.25),
    "no output, then found": ([cell("", (SEARCH,)), HIT], GOLD, "correct", ("no_output", None), True, True, 1.25),
    "said not found, then found": ([cell("not in this section\n", (SEARCH, PLOT)), HIT], GOLD, "correct",
                                   ("said_not_found", None), True, True, 1.25),
    "read a section without it, then found": ([cell(PLOT + "\n", (SEARCH, PLOT)), HIT], GOLD, "correct",
                                              ("read_without_fact", None), True, True, 1.25),
    "missed, retried, then guessed": ([cell("", (SEARCH,)), cell("Gavin (film)\n", (SEARCH,))], GOLD, "correct",
                                      ("no_output", None), True, False, 1.0),
    "missed, found a wrong name": ([cell("[]\n", ("[]",)), cell("Leo Marsh\n", (SEARCH, CAST))], "Leo Marsh", "incorrect",
                                   ("empty_search", None), True, True, 0.0),
    "missed and never retried": ([cell(outputs=("[]",), status=ExecStatus.ERROR)], None, "gave_up", ("error",), False,
                                 False, -0.5),
    "missed, retried, no answer": ([cell("[]\n", ("[]",)), cell("", (SEARCH,))], None, "gave_up",
                                   ("empty_search", "no_output"), True, False, -0.5),
}


def _case(name):
    cells, final, category, *_ = TABLE[name]
    turns = list(cells) + ([answer(final)] if final is not None else [])
    return (make_traj(final, gold=GOLD, turns=turns, episode_id=name),
            Verdict(Category(category), 50.0, missing_answer=final is None))


@pytest.mark.parametrize("name", list(TABLE))
def test_misses_recoveries_and_reward_match_the_table(name):
    traj, verdict = _case(name)
    _, _, _, misses, retried, recovered, expected = TABLE[name]
    record = search_record(traj)
    assert (record.misses, record.retried, record.recovered) == (misses, retried, recovered)
    assert trajectory_reward(traj, verdict, JudgeConfig(recovery_bonus=0.25)) == pytest.approx(expected)


def test_off_by_default_and_never_from_the_gold_alone():
    traj, verdict = _case("empty search, then found")
    assert trajectory_reward(traj, verdict, JudgeConfig()) == 1.0
    # the same cells with the gold swapped: the term reads the outputs and the answer, so it still pays
    other = make_traj(GOLD, gold="someone else", turns=traj.turns)
    assert trajectory_reward(other, verdict, JudgeConfig(recovery_bonus=0.25)) == pytest.approx(1.25)
    # an episode whose gold is in the question but whose cells never printed the answer gets nothing
    guess = make_traj(GOLD, gold=GOLD, question=f"Is it {GOLD}?", turns=[cell("", (SEARCH,)), answer(GOLD)])
    assert trajectory_reward(guess, verdict, JudgeConfig(recovery_bonus=0.25)) == 1.0
    batch = [_case(n)[0] for n in TABLE]
    apply_verdicts(batch, [_case(n)[1] for n in TABLE], JudgeConfig(recovery_bonus=0.25))
    assert [t.reward for t in batch] == pytest.approx([row[-1] for row in TABLE.values()])


def test_per_step_figures():
    pairs = [_case(n) for n in TABLE]
    # misses: every row with a miss (10 of 15); recoveries: correct and recovered (6); no retry: 1
    expected = {"search_misses": 10, "search_recoveries": 6, "search_recovery_rate": 0.6, "search_no_retry": 1}
    assert recovery_metrics(pairs) == expected
    outcome = GroupOutcome(pairs[0][0].question, [t for t, _ in pairs], [v for _, v in pairs])
    summary = step_summary([outcome], {}, trained_at_version=0)
    assert {k: summary[k] for k in expected} == expected
    assert recovery_metrics([]) == {"search_misses": 0, "search_recoveries": 0, "search_recovery_rate": 0.0,
                                    "search_no_retry": 0}
