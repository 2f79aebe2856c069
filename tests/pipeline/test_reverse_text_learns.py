"""The RL machinery learns: reverse_text trained with GRPO alone through the real Ray actors
(controller, rollout worker, judge actor, LoRA learner) lifts held-out exact-match accuracy from
~0 to a high value.

The base (`rlsys.env.reverse_text_base`) is the nano model trained only to copy digit strings;
it never sees a reversal, and on the 30 held-out 2-digit strings (disjoint from the 60 trained
on) it reverses almost none. A learner that does not learn (no update, a wrong sign, advantages
that never reach the loss, an adapter that never reaches the rollout worker) stays at the base's
accuracy; the bound after training is far above it. Measured on 2 loaded cores (load 10-22),
two runs: 0.0 (sampled and greedy) -> 0.82 sampled, 0.87 greedy after 150 steps; 425-626 s.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from rlsys.config import load_config

# Wave 7 marked this xfail: on that machine it failed with old code too. Wave 8 found why: the copy
# base's copying arrives as a sudden loss drop whose step moves with the seed and the machine (800
# steps: seeds 0 and 2 copy 100% of held-out strings, seeds 1 and 3 14% and 0%), and RL cannot learn
# to reverse from a base that does not copy. `build_copy_base` now trains until it copies.
pytestmark = pytest.mark.slow

BASE_MAX = 0.15    # the copy base's held-out accuracy (measured 0.0; a palindrome-free set of 2-digit strings)
LEARNED_MIN = 0.6  # after 150 steps (measured 0.87-0.90 by then; 4 samples x 30 questions)


def _ray():
    import ray

    ray.init(address="local", num_cpus=2, include_dashboard=False, log_to_driver=False,
             runtime_env={"env_vars": {"OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1"}})


def test_reverse_text_is_learned_from_a_copy_base_by_rl_alone(tmp_path_factory):
    import ray

    from rlsys.controller.loop import Controller
    from rlsys.env.reverse_text_base import MARKER as COPY_MARKER
    from rlsys.env.reverse_text_base import build_copy_base
    from rlsys.metrics import read_metrics

    base = build_copy_base(tmp_path_factory.mktemp("base") / "nano-reverse")
    rounds = json.loads((base / COPY_MARKER).read_text())["rounds"]
    print("copy base rounds:", rounds)
    assert rounds[-1]["copy_accuracy"] >= 0.8, rounds
    run = tmp_path_factory.mktemp("run")
    cfg = load_config("configs/reverse-text.yaml", [f"model.path={base}", f"train.output_dir={run}",
                                                     "train.eval_greedy=true"])
    _ray()
    try:
        controller = Controller(cfg, Path(run))
        controller.setup()
        try:
            assert not any(q.question == q.answer for q in controller.test_questions)  # no palindromes held out
            before = controller.evaluate(stage="base", step=0)
            controller.run()
            after = controller.evaluate(stage="rl", step=controller.step)
        finally:
            controller.close()
    finally:
        ray.shutdown()
    rows = [r for r in read_metrics(run) if r.get("stage") == "rl"]
    assert [r["step"] for r in rows][-1] == cfg.train.steps
    # nothing was lost on the way to the learner (no failed, stale or unjudged rollouts); a step is
    # skipped only when every group's rewards are equal, which a learned policy reaches (CI, 0.98
    # accuracy: the last 20 steps were all-correct), so the trained steps are counted instead
    for key in ("learner_excluded_failure", "learner_excluded_stale", "learner_excluded_unjudged"):
        assert all(r[key] == 0 for r in rows), key
    trained_steps = sum(1 - int(r["learner_skipped"]) for r in rows)
    assert rows[-1]["learner_policy_version"] == trained_steps >= 50, trained_steps
    summary = {"before": before["accuracy"], "greedy_before": before["greedy"]["accuracy"], "after": after["accuracy"],
               "greedy_after": after["greedy"]["accuracy"], "reward_last": rows[-1]["reward_mean"]}
    print("reverse_text held-out exact match:", summary)
    assert before["accuracy"] <= BASE_MAX and before["greedy"]["accuracy"] <= BASE_MAX, summary
    assert after["accuracy"] >= LEARNED_MIN and after["greedy"]["accuracy"] >= LEARNED_MIN, summary
    # the training reward rose with it (positional credit: -1 .. 1)
    first, last = rows[:10], rows[-10:]
    assert sum(r["reward_mean"] for r in last) / 10 > sum(r["reward_mean"] for r in first) / 10 + 0.5, summary
