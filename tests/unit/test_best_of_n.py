"""Best-of-N over whole episodes with gold-free scorers, and its budget, on hand-built groups."""

from __future__ import annotations

import argparse

import pytest

from rlsys.judge.types import Category, Verdict
from rlsys.rollout.types import EndReason, Question, Trajectory, Turn
from rlsys.sandbox.types import ExecResult
from rlsys.search.best_of_n import judged_picks, pick
from rlsys.search.scorers import get_scorer, grounding
from rlsys.step_results import GroupOutcome

Q = Question(id="q1", question="What colour is the Zorvian moth?", answer="Pale Amber")
CODE = 'print(search_pages("Zorvian moth"))'


def cell(stdout: str, outputs: tuple[str, ...] = ()) -> Turn:
    return Turn(text=f"<python>{CODE}</python>", cell=CODE,
                result=ExecResult(stdout=stdout, tool_calls=len(outputs), tool_outputs=list(outputs)))


def episode(answer, cells=(), sampled=5, end=EndReason.ANSWERED, failure=None) -> Trajectory:
    turns = list(cells) + ([Turn(text=f"<answer>{answer}</answer>")] if answer is not None else [])
    return Trajectory(episode_id=f"e-{answer}-{sampled}", question=Q, token_ids=[0] * (3 + sampled),
                      loss_mask=[0, 0, 0] + [1] * sampled, behaviour_logprobs=[0.0] * (3 + sampled), prompt_len=3,
                      turns=turns, answer=answer, end_reason=end, failure=failure)


GUESS = episode("Pale amber", [cell("Zorvian moth\n")], sampled=7)              # right, but in no output
READ = episode("Grey", [cell("3 pages", ("The moth is grey at dusk.",))], sampled=6)  # only in what it read
PRINTED = episode("Sandy brown", [cell("sandy brown wings\n")], sampled=4)      # printed by its cell
NONE = episode("Answer not found", [cell("")], sampled=3)


def test_empty_cells_are_not_sandbox_cells():
    from rlsys.env.wiki_search import EMPTY_CELL_ERROR
    from rlsys.search.best_of_n import sandbox_cells

    empty = Turn(text="<python></python>", cell="", result=ExecResult(error=EMPTY_CELL_ERROR))
    assert sandbox_cells(episode("Grey", [empty, cell("grey")])) == 1


def test_grounding_levels():
    assert [grounding(t) for t in (GUESS, READ, PRINTED, NONE)] == [0, 1, 2, 0]


def test_grounded_scorer_picks_the_printed_answer_whatever_the_gold():
    assert pick([GUESS, READ, PRINTED, NONE]) == 2
    assert pick([NONE, GUESS, READ]) == 2
    assert pick([NONE, GUESS]) == 1  # an answer beats "Answer not found"
    assert pick([GUESS, episode("Blue", [cell("x")])]) == 0  # ties: the earliest sample
    lost = episode("Sandy brown", [cell("sandy brown\n")], end=EndReason.INFRA_ERROR, failure="infra_error")
    assert pick([lost, GUESS]) == 1  # an infra failure never wins


def test_vote_scorer_prefers_the_majority_answer():
    group = [PRINTED, episode("grey"), episode("Grey!", [cell("x")]), GUESS]
    assert pick(group, "vote") == 1
    with pytest.raises(ValueError, match="unknown search scorer"):
        get_scorer("oracle")


def test_judged_picks_take_the_scorers_pick_and_count_lost_searches():
    right, wrong = Verdict(Category.CORRECT, 80), Verdict(Category.INCORRECT, 20)
    groups = [
        GroupOutcome(Q, [GUESS, PRINTED], [right, wrong]),   # picks PRINTED: wrong by the judge, chosen without gold
        GroupOutcome(Q, [NONE, READ], [wrong, right]),       # picks READ: right
        GroupOutcome(Q, failure="search_lost"),
    ]
    indices = [pick(g.trajectories) if g.trajectories else None for g in groups]
    assert indices == [1, 1, None]
    trajs, verdicts, any_correct = judged_picks(groups, indices)
    assert [t.episode_id for t in trajs[:2]] == [PRINTED.episode_id, READ.episode_id]
    assert [v.category for v in verdicts] == [Category.INCORRECT, Category.CORRECT, Category.JUDGE_ERROR]
    assert trajs[2].end_reason is EndReason.INFRA_ERROR
    assert any_correct == pytest.approx(2 / 3)
    with pytest.raises(ValueError, match="3 outcomes but 2 picks"):
        judged_picks(groups, indices[:2])


def test_total_budget_sums_the_searches():
    from rlsys.search.strategies import SearchOptions, Searched, episode_budget, total_budget

    searched = [Searched(PRINTED, [GUESS, PRINTED], 1, {**episode_budget([GUESS, PRINTED]), "candidates": 2}),
                Searched(READ, [NONE, READ], 1, {**episode_budget([NONE, READ]), "candidates": 2}), None]
    b = total_budget("best-of-n", SearchOptions(width=2), searched)
    assert (b["episodes"], b["questions"], b["lost"], b["generated_tokens"], b["sandbox_cells"]) == (4, 3, 1, 7 + 4 + 3 + 6, 4)
    assert b["generated_tokens_per_question"] == pytest.approx(20 / 3)
    assert (b["search"], b["width"], b["scorer"]) == ("best-of-n", 2, "grounded")


def test_eval_command_arguments():
    from rlsys.commands.eval import add_arguments

    parser = argparse.ArgumentParser()
    add_arguments(parser)
    args = parser.parse_args(["--search", "best-of-n", "--width", "8", "--scorer", "vote"])
    assert (args.search, args.width, args.scorer) == ("best-of-n", 8, "vote")
    args = parser.parse_args(["--search", "beam", "--width", "2", "--depth", "3"])
    assert (args.search, args.width, args.depth) == ("beam", 2, 3)
    with pytest.raises(SystemExit):
        parser.parse_args(["--search", "best-of-n", "--width", "0"])
