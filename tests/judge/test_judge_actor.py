"""JudgeActor replicas on a real local Ray: a batch split across replicas comes back in order,
with the same verdicts as the judge in-process, and each replica counts its own verdicts."""

from __future__ import annotations

import pytest

from rlsys.config import load_config
from rlsys.judge.rule_judge import RuleJudge

from .trajectories import answer_turn, make_traj, search_turn

pytestmark = pytest.mark.timeout(300)


@pytest.fixture(scope="module")
def ray_local():
    import ray

    ray.init(address="local", num_cpus=1, include_dashboard=False, logging_level="ERROR", log_to_driver=False)
    yield ray
    ray.shutdown()


def batch():
    answers = ["Ty Simpkins", "ty simpkins.", "Jake Gyllenhaal", "Unknown", None, "Ty  Simpkins (actor)", "Tom Hanks"]
    return [make_traj(a, episode_id=f"a{i}", turns=[search_turn(["Ty Simpkins as young Gavin"])]) for i, a in enumerate(answers)]


async def test_replicas_score_in_order(ray_local):
    from rlsys.actors.judge_actor import create_judge_actors, score_across

    cfg = load_config("configs/tiny-cpu.yaml", ["judge.replicas=2"])
    actors = create_judge_actors(cfg, options=[{"num_cpus": 0.1}] * 2)
    assert len(actors) == 2
    verdicts = await score_across(actors, batch())
    expected = await RuleJudge(cfg.judge).score(batch())
    assert [(v.category, v.approach) for v in verdicts] == [(v.category, v.approach) for v in expected]
    stats = [ray_local.get(a.stats.remote(), timeout=60) for a in actors]
    assert [s["judge/judged"] for s in stats] == [4.0, 3.0]  # ceil(7/2) then the rest
    assert sum(s["judge/correct"] for s in stats) == 3
    assert await score_across(actors, []) == []
    with pytest.raises(ValueError):
        await score_across([], batch())
