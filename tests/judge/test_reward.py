"""The reward formulas against an independent reference, and judge_error exclusion."""

from __future__ import annotations

import itertools

import pytest

from rlsys.config import load_config
from rlsys.judge.config import JudgeConfig
from rlsys.judge.reward import apply_verdicts, reward, verdict_counts
from rlsys.judge.types import Category, Verdict

from .trajectories import make_traj


def reference(category: str, approach: float, variant: str, incorrect: float = 0.0, penalty: float = 0.5):
    """Written out from DESIGN.md: R = a/100 if correct, -(1 - a/100) if wrong."""
    if category == "judge_error":
        return None
    a = max(0.0, min(100.0, approach))
    if variant == "binary":
        return 1.0 if category == "correct" else incorrect
    if category == "correct":
        return a / 100
    if category == "gave_up" and variant == "gave_up_penalty":
        return -penalty
    return -(1 - a / 100)


CATEGORIES = ["correct", "incorrect", "gave_up", "unsure", "judge_error"]
APPROACHES = [0.0, 12.5, 50.0, 85.0, 100.0, 130.0, -10.0]


@pytest.mark.parametrize("variant", ["approach", "binary", "gave_up_penalty"])
def test_reward_matches_reference(variant):
    for incorrect, penalty in [(0.0, 0.5), (-1.0, 0.25)]:
        cfg = JudgeConfig(reward=variant, binary_incorrect_reward=incorrect, gave_up_penalty=penalty)
        for category, a in itertools.product(CATEGORIES, APPROACHES):
            got = reward(Verdict(Category(category), a), cfg)
            want = reference(category, a, variant, incorrect, penalty)
            assert (got is None) == (want is None)
            if want is not None:
                assert got == pytest.approx(want), (variant, category, a)


def test_design_examples():
    cfg = JudgeConfig(reward="approach")
    assert reward(Verdict(Category.CORRECT, 80), cfg) == pytest.approx(0.8)
    assert reward(Verdict(Category.INCORRECT, 80), cfg) == pytest.approx(-0.2)
    assert reward(Verdict(Category.INCORRECT, 0), cfg) == pytest.approx(-1.0)
    assert reward(Verdict(Category.GAVE_UP, 30), cfg) == pytest.approx(-0.7)
    assert reward(Verdict(Category.JUDGE_ERROR, 99), cfg) is None


def test_reward_variant_from_config_overrides():
    cfg = load_config(None, ["judge.reward=binary", "judge.binary_incorrect_reward=-1"]).judge
    assert reward(Verdict(Category.CORRECT, 10), cfg) == 1.0
    assert reward(Verdict(Category.GAVE_UP, 90), cfg) == -1.0


def test_judge_error_is_excluded_from_the_group_and_counted():
    batch = [make_traj("a", episode_id=f"e{i}") for i in range(4)]
    verdicts = [Verdict(Category.CORRECT, 100), Verdict(Category.INCORRECT, 50),
                Verdict(Category.JUDGE_ERROR, 0, "unparseable"), Verdict(Category.GAVE_UP, 0)]
    counts = apply_verdicts(batch, verdicts, JudgeConfig(reward="approach"))
    assert [t.reward for t in batch] == [1.0, -0.5, None, -1.0]
    assert [t.excluded for t in batch] == [False, False, True, False]
    assert batch[2].failure == "judge_error"
    assert counts["judge/judge_error"] == 1 and counts["judge/judged"] == 3
    assert counts["judge/correct"] == 1 and counts["judge/incorrect"] == 1 and counts["judge/gave_up"] == 1
    assert counts["judge/approach_mean"] == pytest.approx(50.0)
    # group statistics over the included rollouts only: the failed one is not a zero
    included = [t.reward for t in batch if not t.excluded]
    assert sum(included) / len(included) == pytest.approx((1.0 - 0.5 - 1.0) / 3)


def test_mismatched_lengths_are_an_error():
    with pytest.raises(ValueError, match="2 trajectories but 1 verdicts"):
        apply_verdicts([make_traj("a"), make_traj("b")], [Verdict(Category.CORRECT)])
    assert verdict_counts([])["judge/judged"] == 0


def test_binary_gave_up_reward_sits_below_a_wrong_answer():
    cfg = JudgeConfig(reward="binary", binary_gave_up_reward=-1.0)
    got = {c: reward(Verdict(Category(c), 50.0), cfg) for c in CATEGORIES}
    assert got == {"correct": 1.0, "incorrect": 0.0, "gave_up": -1.0, "unsure": 0.0, "judge_error": None}
    # unset, a give-up earns what a wrong answer earns
    assert reward(Verdict(Category.GAVE_UP, 50.0), JudgeConfig(reward="binary", binary_incorrect_reward=-0.5)) == -0.5


def test_default_reward_cannot_be_raised_without_raising_accuracy():
    """Default: binary correctness. The approach score moves no reward; only a correct verdict
    earns more than a wrong one, and giving no answer at all earns less than a wrong one."""
    cfg = JudgeConfig()
    assert cfg.reward == "binary"
    for a in APPROACHES:
        assert reward(Verdict(Category.CORRECT, a), cfg) == 1.0
        for category in ("incorrect", "gave_up", "unsure"):
            assert reward(Verdict(Category(category), a), cfg) == 0.0
        assert reward(Verdict(Category.GAVE_UP, a), cfg, missing=True) == -0.5
    batch = [make_traj(None, episode_id="none"), make_traj("Jake Gyllenhaal", episode_id="wrong"), make_traj("Ty Simpkins", episode_id="ok")]
    counts = apply_verdicts(batch, [Verdict(Category.GAVE_UP, 90), Verdict(Category.INCORRECT, 100), Verdict(Category.CORRECT, 0)], cfg)
    assert [t.reward for t in batch] == [-0.5, 0.0, 1.0]
    assert counts["judge/approach_mean"] == pytest.approx(190 / 3)  # still logged


def test_approach_bonus_pays_only_on_correct_answers():
    cfg = JudgeConfig(approach_bonus=0.2)
    assert reward(Verdict(Category.CORRECT, 50), cfg) == pytest.approx(1.1)
    assert reward(Verdict(Category.INCORRECT, 100), cfg) == 0.0
    with pytest.raises(ValueError):
        JudgeConfig(approach_bonus=2.0)


def test_cross_check_reads_booleans_as_modes():
    assert JudgeConfig(cross_check=True).cross_check == "all"
    assert JudgeConfig(cross_check=False).cross_check == "off"
    assert JudgeConfig(cross_check="unsure").cross_check == "unsure"
    with pytest.raises(ValueError):
        JudgeConfig(cross_check="sometimes")


async def test_judges_mark_missing_answers_so_every_caller_of_reward_gets_it():
    from rlsys.judge.rule_judge import RuleJudge

    none, wrong = make_traj(None, episode_id="none"), make_traj("Jake Gyllenhaal", episode_id="wrong")
    v_none, v_wrong = await RuleJudge().score([none, wrong])
    assert v_none.missing_answer and not v_wrong.missing_answer
    assert reward(v_none) == -0.5 and reward(v_wrong) == 0.0  # no `missing=` needed (the training loop's call)
