"""GRPO through the controller with `rollout.engine: vllm` (vLLM's CPU build in CI): rollout
workers generate on vLLM, the adapter is pushed every step, and the behaviour log-probs vLLM
returned agree with the learner's recompute on the trained tokens (logged each step as
`learner_behaviour_logprob_diff`). Runs through the public entry point `rlsys.train.main`.

The nano model is briefly pretrained first, so that some episodes answer: with the preset's binary
reward (a wrong answer 0, none -0.5) the reward then varies within groups (a group without
variance trains nothing).
"""

from __future__ import annotations

import pytest

from rlsys.metrics import read_metrics

pytestmark = [pytest.mark.vllm, pytest.mark.slow, pytest.mark.timeout(1500)]

STEPS = 3
# float32 on both sides; measured on CPU (steps 1-3, adapters v0-v2): mean 3.6e-7-4.1e-7, max 2.4e-6
DIFF_MEAN_TOL = 1e-3
DIFF_MAX_TOL = 2e-2


@pytest.fixture(scope="module")
def base_model(make_config, tmp_path_factory):
    from rlsys.base_model import ensure_base_model

    root = tmp_path_factory.mktemp("vllm-base")
    cfg = make_config(root / "unused", f"model.path={root / 'model'}", "model.tiny=true",
                          "model.tiny_size=nano", "model.pretrain_copy_steps=0", "model.pretrain_steps=150")
    return ensure_base_model(cfg)


def test_grpo_with_vllm_rollouts(pipeline_artifacts, base_model, tmp_path, local_ray):
    # local_ray: the run joins it and the fixture shuts it down (an in-process `main` leaves Ray
    # initialised, and the next test's ray.init would fail)
    from rlsys.train import main

    index, _ = pipeline_artifacts
    run = tmp_path / "run"
    sets = [
        f"model.path={base_model}", f"corpus.index_dir={index}", "corpus.synthetic_entities=60",
        "rollout.engine=vllm", "rollout.group_size=8", "rollout.max_turns=2", "rollout.max_new_tokens=48",
        "rollout.concurrency=16", "rollout.temperature_min=1.0", "rollout.temperature_max=1.0",
        "sandbox.containers_per_worker=2", "sandbox.burst_containers=4",
        f"train.steps={STEPS}", "train.max_staleness=0", "train.questions_per_step=2", "train.eval_questions=2",
        "train.eval_every=0", "train.checkpoint_every=0", f"train.output_dir={run}", "learner.lr=2e-2",
        # as measured: no dynamic sampling, an unanswered episode below a wrong one (reward variance
        # from a base policy), the Docker sandbox, sampled evals only
        "train.informative_groups=0", "judge.binary_gave_up_reward=-0.5", "judge.missing_answer_reward=-0.5",
        "sandbox.backend=docker", "train.eval_greedy=false",
    ]
    argv = ["--config", "configs/tiny-cpu.yaml", "--run-dir", str(run)]
    for s in sets:
        argv += ["--set", s]
    assert main(argv) == 0
    rows = read_metrics(run, stage="rl")
    assert [r["step"] for r in rows] == list(range(1, STEPS + 1))
    trained = [r for r in rows if r.get("learner_skipped") == 0]
    assert trained, f"no step trained (zero-variance groups): {rows}"
    for r in trained:
        assert r["learner_trained_tokens"] > 0
        assert r["learner_behaviour_logprob_diff"] < DIFF_MEAN_TOL, r
        assert r["learner_behaviour_logprob_diff_max"] < DIFF_MAX_TOL, r
    # the pushed adapters were used: the policy version advanced with each trained step
    assert rows[-1]["learner_policy_version"] == len(trained)
    print({r["step"]: (r["learner_behaviour_logprob_diff"], r["learner_behaviour_logprob_diff_max"]) for r in trained})
