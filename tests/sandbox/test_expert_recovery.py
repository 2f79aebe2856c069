"""The scripted expert's back-tracking episodes (`sft.recovery_share`) run through the real
sandbox and the real corpus service (a small synthetic index built once): the first cell's real
output misses, the second shows the gold answer, and the episode answers it."""

from __future__ import annotations

import pytest
import pytest_asyncio

from rlsys.sandbox.pool import SandboxPool
from rlsys.scripted_expert import generate_expert_trajectories
from rlsys.scripted_recovery import MISS_KINDS

from .conftest import require, small_config

pytestmark = pytest.mark.asyncio(loop_scope="module")
N_ENTITIES = 12
N_QUESTIONS = 6


@pytest.fixture(scope="module")
def service(tmp_path_factory):
    from rlsys.corpus.config import CorpusConfig
    from rlsys.corpus.service import CorpusService

    cfg = CorpusConfig(synthetic_entities=N_ENTITIES, index_dir=str(tmp_path_factory.mktemp("corpus") / "index"))
    return CorpusService.from_config(cfg)


@pytest.fixture(scope="module")
def questions(service):
    from rlsys.corpus.loaders import load_questions
    from rlsys.corpus.config import CorpusConfig

    return [q for q in load_questions(CorpusConfig(synthetic_entities=N_ENTITIES)) if q.split == "train"][:N_QUESTIONS]


@pytest_asyncio.fixture(scope="module", loop_scope="module",
                        params=[pytest.param("docker", marks=pytest.mark.docker), "bwrap"])
async def expert_pool(request, service):
    require(request.param)
    pool = SandboxPool(small_config(containers_per_worker=2, cell_timeout_s=20.0), service.call_tool,
                       backend=request.param)
    await pool.start()
    yield pool
    await pool.shutdown()


def _cells_and_outputs(messages):
    cells = [m["content"] for m in messages if m["role"] == "assistant" and m["content"].startswith("<python>")]
    outputs = [m["content"] for m in messages if m["role"] == "user" and m["content"].startswith("<python_output>")]
    return cells, outputs


async def test_recovery_episodes_miss_first_then_end_correct(expert_pool, service, questions, tmp_path):
    episodes = await generate_expert_trajectories(questions, expert_pool, max_turns=3, concurrency=2, corpus=service,
                                                  recovery_share=1.0)
    assert [e.question.id for e in episodes] == [q.id for q in questions]
    recovering = [e for e in episodes if e.recovery is not None]
    assert {e.recovery for e in recovering} == set(MISS_KINDS)
    assert len(recovering) >= N_QUESTIONS - 1
    for e in recovering:
        assert e.kept, (e.question.id, e.reason)
        cells, outputs = _cells_and_outputs(e.messages)
        gold = e.question.answer.lower()
        assert len(cells) == 2 and len(outputs) == 2
        assert gold not in outputs[0].lower()  # the real first output missed
        assert gold in outputs[1].lower()      # the reformulated cell found it
        assert cells[1].startswith("<python>\n# ")  # says why it searches again
        assert e.messages[-1] == {"role": "assistant", "content": f"<answer>{e.question.answer}</answer>"}
        assert e.messages[-2]["content"].startswith("[FINAL TURN]")
    # the SFT loader reads them as it reads a teacher's reference files: both cells and the answer are trained
    from transformers import AutoTokenizer

    from rlsys.learner.sft_data import load_examples
    from rlsys.rollout.tiny_model import build_tiny_model
    from rlsys.scripted_expert import write_reference_format

    assert write_reference_format(episodes, tmp_path / "sft") == sum(e.kept for e in episodes)
    tokenizer = AutoTokenizer.from_pretrained(build_tiny_model(tmp_path / "model", ["search the pages"] * 20, "nano"))
    examples, stats = load_examples(tmp_path / "sft", tokenizer)
    assert stats["files"] == len(examples) == sum(e.kept for e in episodes)
    by_name = dict(zip([f"traj_{i:04d}.json" for i in range(len(examples))], [e for e in episodes if e.kept]))
    for example in examples:
        episode = by_name[example.source]
        trained = tokenizer.decode([t for t, m in zip(example.token_ids, example.loss_mask) if m])
        assert trained.count("<python>") == (2 if episode.recovery else 1)
        assert f"<answer>{episode.question.answer}</answer>" in trained
    first = next(e for e in recovering if e.recovery == "vague_query")
    page_title = service.page(first.question.page_id).title
    assert page_title.lower() not in _cells_and_outputs(first.messages)[1][0].lower()


async def test_share_zero_keeps_the_plain_episodes(expert_pool, service, questions):
    episodes = await generate_expert_trajectories(questions, expert_pool, max_turns=3, concurrency=2, corpus=service)
    assert all(e.recovery is None and e.kept for e in episodes)
    assert all(len(_cells_and_outputs(e.messages)[0]) == 1 for e in episodes)


async def test_recovery_needs_room_for_two_cells_and_a_valid_share(expert_pool, service, questions):
    with pytest.raises(ValueError, match="max_turns >= 3"):
        await generate_expert_trajectories(questions, expert_pool, max_turns=2, corpus=service, recovery_share=0.5)
    with pytest.raises(ValueError, match="recovery_share"):
        await generate_expert_trajectories(questions, expert_pool, max_turns=3, corpus=service, recovery_share=1.5)

