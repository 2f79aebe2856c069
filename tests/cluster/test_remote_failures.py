"""Remote failures the controller survives or reports, on a real local Ray instance:

- a rollout group whose remote call raises, whose worker dies, or that never finishes comes back
  dropped (`failure` set: excluded as an infra error) by `Flight.collect`'s deadline, next to a
  group that completes; a judge call that raises marks its group's episodes `judge_error`;
- a learner rank that dies while its peer blocks (as in a collective) fails `get_ranks` at once,
  naming the dead rank; ranks that do not answer fail it by the deadline, named.
"""

from __future__ import annotations

import asyncio

import pytest

from rlsys.config import load_config
from rlsys.controller.deadlines import DeadlineExceeded, LearnerRankLost, get_ranks
from rlsys.controller.flight import Flight
from rlsys.corpus.types import Question
from rlsys.judge.types import Category, Verdict
from rlsys.rollout.types import EndReason, Trajectory

pytestmark = pytest.mark.slow


def _actors(ray):
    @ray.remote(num_cpus=0.1, max_restarts=0)
    class Group:
        """Stands in for a rollout worker / judge / learner rank: real remote calls that end, raise or block."""

        def __init__(self):
            self.never = asyncio.Event()

        async def ok(self, question: Question) -> list[Trajectory]:
            return [Trajectory(f"{question.id}-{i}", question, [1, 2, 3], [0, 1, 1], [0.0, -0.5, -0.7], 1,
                               answer="x", end_reason=EndReason.ANSWERED) for i in range(3)]

        async def verdicts(self, trajectories: list[Trajectory]) -> list[Verdict]:
            return [Verdict(Category.CORRECT, approach=80) for _ in trajectories]

        async def raises(self, *args) -> None:
            raise ValueError("tool table missing a column")

        async def blocks(self, *args) -> None:
            await self.never.wait()  # a call that never answers (a peer waiting in a collective)

        async def pid(self) -> int:
            import os

            return os.getpid()

    return Group


def test_a_failed_group_is_dropped_and_the_others_are_kept(small_ray):
    ray = small_ray
    Group = _actors(ray)
    good, bad, stuck, dying = Group.remote(), Group.remote(), Group.remote(), Group.remote()
    questions = [Question(id=f"q{i}", question="?", answer="x") for i in range(5)]
    ray.get([a.pid.remote() for a in (good, bad, stuck, dying)], timeout=120)
    ok_ref = good.ok.remote(questions[0])
    judged_badly = good.ok.remote(questions[4])
    dying_ref = dying.blocks.remote(questions[3])
    refs = [
        (ok_ref, good.verdicts.remote(ok_ref)),                 # completes
        (bad.raises.remote(questions[1]), None),               # an exception inside the group's call
        (stuck.blocks.remote(questions[2]), None),             # never finishes: dropped at the deadline
        (dying_ref, None),                                     # its worker dies
        (judged_badly, bad.raises.remote(judged_badly)),       # the judge's call raises
    ]
    ray.kill(dying, no_restart=True)
    cfg = load_config("configs/tiny-cpu.yaml", ["judge.reward=approach"])
    outcomes = Flight(cfg, questions, refs).collect(timeout_s=20)
    by_id = {o.question.id: o for o in outcomes}
    assert by_id["q0"].failure is None and len(by_id["q0"].trajectories) == 3
    assert all(t.reward is not None and t.failure is None for t in by_id["q0"].trajectories)
    assert by_id["q1"].failure == "rollout_error" and not by_id["q1"].trajectories
    assert by_id["q2"].failure == "rollout_timeout" and not by_id["q2"].trajectories
    assert by_id["q3"].failure == "rollout_worker_lost" and not by_id["q3"].trajectories
    assert by_id["q4"].failure is None
    assert [t.failure for t in by_id["q4"].trajectories] == ["judge_error"] * 3
    assert all(v.category is Category.JUDGE_ERROR for v in by_id["q4"].verdicts)


def test_a_dead_rank_fails_get_ranks_at_once_by_name(small_ray):
    ray = small_ray
    Group = _actors(ray)
    ranks = [Group.remote(), Group.remote()]
    ray.get([r.pid.remote() for r in ranks], timeout=120)
    refs = [ranks[0].blocks.remote(), ranks[1].blocks.remote()]  # rank 0 would wait for rank 1 forever
    ray.kill(ranks[1], no_restart=True)
    # the deadline is an hour: only the dead rank's failure can end this wait
    with pytest.raises(LearnerRankLost, match=r"^learner rank 1 of 2 died during the GRPO step \(\w*ActorDiedError.*--resume"):
        get_ranks(refs, 3600, "the GRPO step", "train.learn_timeout_s")
    with pytest.raises(DeadlineExceeded, match=r"the GRPO step: learner rank\(s\) \[0\] of 1 did not answer within 3 s "
                                               r"\(raise train.learn_timeout_s"):
        get_ranks([ranks[0].blocks.remote()], 3, "the GRPO step", "train.learn_timeout_s")
    assert get_ranks([ranks[0].pid.remote()], 120, "a call", "k") == [ray.get(ranks[0].pid.remote(), timeout=60)]
    ray.kill(ranks[0], no_restart=True)


def test_system_shutdown_lets_live_sandbox_workers_clean_up_when_one_is_dead(small_ray, tmp_path):
    """`System.shutdown` once gathered the workers' shutdowns in one `ray.get`: the dead worker's
    error came first and the live workers were killed before removing their sandboxes."""
    from rlsys.actors.system import System

    ray = small_ray

    @ray.remote(num_cpus=0.1, max_restarts=0)
    class Worker:
        def __init__(self, marker: str):
            self.marker = marker

        def ready(self) -> bool:
            return True

        def shutdown(self) -> None:
            import time

            time.sleep(1.0)  # clean-up that takes a moment: must not be cut short by the dead peer
            open(self.marker, "w").close()

    markers = [tmp_path / f"worker-{i}" for i in range(3)]
    workers = [Worker.remote(str(m)) for m in markers]
    ray.get([w.ready.remote() for w in workers], timeout=120)
    ray.kill(workers[0], no_restart=True)
    system = System(load_config("configs/tiny-cpu.yaml"))  # no actors, no placement groups yet
    system.sandbox = workers
    system.shutdown(timeout_s=120)
    assert not markers[0].exists() and markers[1].exists() and markers[2].exists()
