"""Beam search over turns (`rlsys.search.beam`) and the strategy registry.

Width 1 is a single episode token for token (the tiny HF model, greedy and seeded sampling, and a
scripted engine that writes cells); a wider beam keeps the branch whose cell printed the answer,
replays a parent's cells in a new session (the interpreter state a later cell needs), keeps
identical candidates once, closes every session, and counts every candidate in its budget."""

from __future__ import annotations

import pytest

from rlsys.corpus.types import Question
from rlsys.rollout.episode import EpisodeLimits, run_episode
from rlsys.rollout.hf_engine import HFEngine
from rlsys.rollout.types import EndReason
from rlsys.search.beam import beam_search
from rlsys.search.strategies import STRATEGIES, SearchContext, SearchOptions, get_strategy

from .biased_model import add_tag_bias
from .branching_engine import BranchingEngine
from .inprocess_executor import InProcessExecutor
from .scripted_engine import ScriptedEngine

Q = Question(id="q7", question="Where was Ostrid Kael born?", answer="Harrowmere")
READ_ALL = "<python>\nfor r in search_pages('Ostrid Kael'):\n    print(read_section(r['page_id'] + ':full'))\n</python>"


def limits(**kw) -> EpisodeLimits:
    return EpisodeLimits(**{**dict(max_turns=3, max_new_tokens=48, max_episode_tokens=1024), **kw})


def same_episode(a, b) -> None:
    assert a.token_ids == b.token_ids
    assert a.loss_mask == b.loss_mask
    assert a.behaviour_logprobs == pytest.approx(b.behaviour_logprobs, abs=1e-6)
    assert (a.answer, a.end_reason, a.prompt_len) == (b.answer, b.end_reason, b.prompt_len)
    assert [(t.text, t.cell, t.result.stdout if t.result else None) for t in a.turns] == \
           [(t.text, t.cell, t.result.stdout if t.result else None) for t in b.turns]


@pytest.fixture(scope="module")
def hf_engine(tiny_model_dir):
    eng = HFEngine(tiny_model_dir, device="cpu", dtype="float32", max_batch=8)
    add_tag_bias(eng.model, eng.tokenizer)
    return eng


@pytest.mark.parametrize("temperature,seed,depth", [(0.0, None, 1), (1.0, 11, 1), (1.0, 23, 3)])
async def test_width_one_is_a_single_episode_token_for_token_on_the_tiny_model(hf_engine, temperature, seed, depth):
    lim = limits()
    single = await run_episode(Q, hf_engine, hf_engine.tokenizer, InProcessExecutor(), lim, temperature, seed)
    result = await beam_search(Q, hf_engine, hf_engine.tokenizer, InProcessExecutor(), lim, width=1, depth=depth,
                               temperature=temperature, seed=seed)
    same_episode(result.trajectory, single)
    assert result.finished == [result.trajectory]
    assert result.budget["generated_tokens"] == sum(single.loss_mask)
    assert result.budget["replayed_cells"] == 0


async def test_width_one_is_a_single_episode_with_cells(tiny_tokenizer):
    replies = lambda: [READ_ALL, "<python>\nprint(view_sections('ostrid_kael'))\n</python>", "<answer>Harrowmere</answer>"]
    lim = limits(max_new_tokens=200)
    ex1, ex2 = InProcessExecutor(), InProcessExecutor()
    single = await run_episode(Q, ScriptedEngine(tiny_tokenizer, replies()), tiny_tokenizer, ex1, lim, 0.7, 5)
    result = await beam_search(Q, ScriptedEngine(tiny_tokenizer, replies()), tiny_tokenizer, ex2, lim,
                               width=1, depth=1, temperature=0.7, seed=5)
    same_episode(result.trajectory, single)
    assert "Harrowmere" in single.turns[0].result.stdout and single.answer == "Harrowmere"
    assert ex2.cells == ex1.cells and len(ex2.opened) == 1 and ex2.closed == ex2.opened
    assert (result.budget["sandbox_cells"], result.budget["candidates"]) == (2, 3)


async def test_beam_keeps_the_grounded_branch_and_replays_its_parents_cells(tiny_tokenizer):
    engine, executor = BranchingEngine(tiny_tokenizer), InProcessExecutor()
    result = await beam_search(Q, engine, tiny_tokenizer, executor, limits(max_new_tokens=200), width=2, depth=2,
                               temperature=0.8, seed=0)
    best = result.trajectory
    assert best.answer == "Harrowmere" and best.end_reason is EndReason.ANSWERED
    assert "born in Harrowmere" in best.turns[1].result.stdout  # `pages` came from the replayed first cell
    assert sorted(t.answer for t in result.finished) == ["Blue", "Harrowmere", "Velmora"]
    # turn 0: 2 candidates; turn 1: 2 per beam (the printing beam ranked first); turn 2: 1 (past depth)
    assert engine.calls == [(0, 0), (0, 1), (1, 0), (1, 1), (1, 2), (1, 3), (2, 0)]
    b = result.budget
    assert (b["candidates"], b["sandbox_cells"], b["replayed_cells"], b["finished_beams"]) == (7, 4, 1, 3)
    assert b["generated_tokens"] == sum(len(tiny_tokenizer.encode(engine.reply(p, t, i), add_special_tokens=False))
                                        for (t, i), p in zip(engine.calls, ["", "", "", "", "pages = search_pages",
                                                                            "pages = search_pages", ""]))
    assert sorted(executor.closed) == sorted(executor.opened) and len(executor.opened) == 3
    assert executor.cells.count("pages = search_pages('Ostrid Kael')") == 2  # run once, replayed once
    # the pick is a token-exact episode: only its own sampled tokens are masked in
    assert sum(best.loss_mask) == sum(len(tiny_tokenizer.encode(t.text, add_special_tokens=False)) for t in best.turns)


async def test_an_infra_failed_beam_never_answers(tiny_tokenizer):
    engine, executor = BranchingEngine(tiny_tokenizer), InProcessExecutor(fail_on="nothing here")
    result = await beam_search(Q, engine, tiny_tokenizer, executor, limits(max_new_tokens=200), width=2, depth=1,
                               temperature=0.8, seed=0)
    infra = [t for t in result.finished if t.end_reason is EndReason.INFRA_ERROR]
    assert len(infra) == 1 and infra[0].excluded
    assert not result.trajectory.excluded and sorted(executor.closed) == sorted(executor.opened)


async def test_strategies_are_registered_by_name(tiny_tokenizer):
    assert {"single", "best-of-n", "beam"} <= set(STRATEGIES)
    with pytest.raises(ValueError, match="unknown search strategy"):
        get_strategy("mcts")
    with pytest.raises(ValueError, match="width >= 1"):
        SearchOptions(width=0)
    with pytest.raises(ValueError, match="unknown search scorer"):
        SearchOptions(scorer="gold")
    first = iter(["<answer>Blue</answer>", READ_ALL, "<answer>Grey</answer>"])  # first turns, in call order
    after_output = "<answer>Harrowmere</answer>"  # the episode that read the page answers from it

    def reply(ids):
        return after_output if "python_output>" in tiny_tokenizer.decode(ids[-60:]) else next(first)

    engine = ScriptedEngine(tiny_tokenizer, reply)
    ctx = SearchContext(engine, tiny_tokenizer, InProcessExecutor(), limits(max_new_tokens=200))
    # best-of-n: three episodes, the one whose cell printed its answer is picked over two guesses
    searched = await get_strategy("best-of-n")(Q, ctx, SearchOptions(width=3), 0.7, 3)
    assert searched.trajectory.answer == "Harrowmere" and len(searched.candidates) == 3
    assert searched.candidates[searched.index] is searched.trajectory
    assert searched.budget["episodes"] == 3 and searched.budget["sandbox_cells"] == 1


class FailingOnSecondBeam(BranchingEngine):
    """The engine raises for the second beam's candidates on turn 1 (an engine error)."""

    async def generate(self, prompt_ids, params):
        gen = await super().generate(prompt_ids, params)
        if self.calls[-1] in ((1, 2), (1, 3)):
            raise RuntimeError("engine died")
        return gen


async def test_an_engine_error_ends_only_its_beam(tiny_tokenizer):
    engine, executor = FailingOnSecondBeam(tiny_tokenizer), InProcessExecutor()
    result = await beam_search(Q, engine, tiny_tokenizer, executor, limits(max_new_tokens=200), width=2, depth=2,
                               temperature=0.8, seed=0)
    failed = [t for t in result.finished if t.end_reason is EndReason.INFRA_ERROR]
    assert len(failed) == 1 and "engine died" in failed[0].error
    assert result.trajectory.answer == "Velmora" and not result.trajectory.excluded  # the other beam answers
    assert sorted(executor.closed) == sorted(executor.opened)
