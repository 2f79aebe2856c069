"""The learning test: GRPO through the Ray actors raises the held-out reward.

The demo's recipe at a smaller scale (`configs/tiny-cpu.yaml`): the nano base model with its copy
phase, scripted-expert trajectories through the real sandbox, LoRA SFT, then GRPO through the
actors. Held-out reward is measured on the same 120 test questions with the same sampling seeds
before and after. The reward is the rule judge's `approach` variant, which the policy raises
fast (it also rewards grounded behaviour); the demo shows accuracy with the binary reward, where
the effect is too small for a test at this budget.
"""

from __future__ import annotations

import pytest
import torch

from rlsys.config import load_config

pytestmark = pytest.mark.slow


@pytest.mark.timeout(2700)  # ~450 s quiet; measured past 900 s on a loaded machine (issue 17: >= 3x)
def test_grpo_through_ray_raises_the_held_out_reward(tmp_path, local_ray):
    from rlsys.base_model import ensure_base_model
    from rlsys.corpus.index import ensure_index
    from rlsys.demo import expert_trajectories, run_sft
    from rlsys.train import Controller

    run = tmp_path / "run"
    overrides = [f"model.path={tmp_path / 'model'}", "sft.expert_questions=800", "judge.reward=approach",
                 "learner.lr=2e-3", "train.steps=24", "train.checkpoint_every=0", f"train.output_dir={run}",
                 # as measured (before the demo preset moved to dynamic sampling, 8 questions a step,
                 # greedy evals and 1/0 rewards)
                 "train.informative_groups=0", "train.questions_per_step=4", "train.eval_greedy=false",
                 "train.eval_every=0", "judge.binary_gave_up_reward=-0.5", "judge.missing_answer_reward=-0.5",
                 "sft.epochs=3"]
    cfg = load_config("configs/tiny-cpu.yaml", overrides)
    threads = torch.get_num_threads()
    torch.set_num_threads(2)  # the stages before the actors own the machine
    try:
        ensure_index(cfg.corpus)
        ensure_base_model(cfg)
        assert expert_trajectories(cfg, tmp_path / "data")["kept"] >= 700
        run_sft(None, overrides, tmp_path / "data", tmp_path / "sft")
    finally:
        torch.set_num_threads(threads)
    controller = Controller(cfg, run, init_adapter=str(tmp_path / "sft" / "adapter"))
    try:
        controller.setup()
        held_out = controller.test_questions[:120]
        before = controller.evaluate(stage="sft", step=0, questions=held_out)
        controller.run()
        after = controller.evaluate(stage="rl", step=controller.step, questions=held_out)
    finally:
        controller.close()
    print(f"held-out mean reward {before['mean_reward']:.3f} -> {after['mean_reward']:.3f}; accuracy "
          f"{before['accuracy']:.3f} -> {after['accuracy']:.3f}; answered {before['answered_rate']:.2f} -> "
          f"{after['answered_rate']:.2f}")
    assert after["mean_reward"] > before["mean_reward"] + 0.05, (before, after)
