"""Dynamic sampling's pure logic: which groups carry signal, how many more to draw, what is trained."""

from __future__ import annotations

from rlsys.controller.dynamic_sampling import is_informative, next_draw, select
from rlsys.corpus.types import Question
from rlsys.learner.grpo import group_advantages
from rlsys.rollout.types import Trajectory
from rlsys.step_results import GroupOutcome

Q = Question("q1", "Where was X born?", "Paris")


def _group(*rewards, failure=None, infra=()):
    trajectories = []
    for i, r in enumerate(rewards):
        t = Trajectory(f"e{i}", Q, [1, 2], [0, 1], [0.0, -1.0], 1, reward=r)
        if i in infra:
            t.failure = "infra_error"
        trajectories.append(t)
    return GroupOutcome(Q, trajectories, failure=failure)


def test_informative_means_reward_variance_among_the_rewards_the_learner_uses():
    assert is_informative(_group(1.0, 0.0, 0.0))
    assert not is_informative(_group(0.0, 0.0, 0.0))
    assert not is_informative(_group(1.0, 1.0))
    assert not is_informative(_group(1.0))                       # one reward: no spread
    assert not is_informative(_group(1.0, 0.0, failure="rollout_worker_lost"))
    assert not is_informative(_group(1.0, 0.0, infra=(1,)))     # the infra error does not count
    assert not is_informative(_group(1.0, None))                # unjudged
    # the same verdict as the learner's advantages: zero-std groups carry no signal there either
    for rewards in ([1.0, 0.0, 0.0], [0.0, 0.0], [0.5, 0.5, -0.5]):
        adv = group_advantages([rewards])
        assert is_informative(_group(*rewards)) == (adv.zero_std_groups == 0)


def test_next_draw_reaches_the_target_at_the_observed_share_and_never_passes_the_cap():
    assert next_draw(drawn=4, informative=4, target=4, cap=16) == 0      # enough already
    assert next_draw(drawn=4, informative=2, target=4, cap=16) == 4      # half informative: 2 missing -> 4
    assert next_draw(drawn=4, informative=0, target=4, cap=16) == 12     # share floored at 1/4: 16, capped
    assert next_draw(drawn=4, informative=0, target=4, cap=6) == 2
    assert next_draw(drawn=16, informative=1, target=4, cap=16) == 0     # the cap is reached
    assert next_draw(drawn=4, informative=3, target=4, cap=16) == 2      # 1 missing at share 3/4 -> 2


def test_select_trains_only_informative_groups_and_counts_the_rest():
    groups = [_group(1.0, 0.0), _group(0.0, 0.0), _group(1.0, 1.0), _group(0.0, 1.0)]
    chosen = select(groups, draws=2, dynamic=True)
    assert chosen.trained == [groups[0], groups[3]]
    assert chosen.figures() == {"groups_drawn": 4, "groups_informative": 2, "groups_dropped": 2,
                                "groups_trained": 2, "sampling_draws": 2}
    off = select(groups, draws=1, dynamic=False)  # off: every group goes to the learner
    assert off.trained == groups and off.figures()["groups_dropped"] == 0
