"""Several optimizer updates per GRPO step (`learner.epochs`, `learner.mini_batches`) and the
upper clip (`learner.clip_eps_high`), against independent references: the same learner taking the
same step twice, a hand-computed clipped gradient, and a partition check."""

from __future__ import annotations

import pytest
import torch
from test_learner_grpo import make_learner, sample_group, target_fraction

from rlsys.learner.grpo import grpo_loss
from rlsys.learner.microbatch import Sample, split_mini_batches


def judged_groups(learner, n: int = 2):
    vocab = learner.model.config.vocab_size
    groups = [sample_group(learner.model, [5, 6, 7], 6, 0.9, 6, 0, seed=i) for i in range(n)]
    for group in groups:
        for traj in group:
            traj.reward = target_fraction(traj, vocab)
    return groups


def lora(learner) -> dict[str, torch.Tensor]:
    return {k: v.clone() for k, v in learner.export_adapter()[1].items()}


def test_two_epochs_equal_two_single_update_steps_on_the_same_trajectories(tiny_model_dir):
    twice = make_learner(tiny_model_dir, lr=5e-2, epochs=2)
    groups = judged_groups(twice)
    metrics = twice.grpo_step(groups, policy_version=0)
    reference = make_learner(tiny_model_dir, lr=5e-2)
    first = reference.grpo_step(groups, policy_version=0)
    second = reference.grpo_step(groups, policy_version=0)  # behaviour log-probs still the sampler's
    got, want = lora(twice), lora(reference)
    assert got.keys() == want.keys()
    for name in want:
        torch.testing.assert_close(got[name], want[name], rtol=0, atol=1e-6)
    assert metrics["updates"] == 2 and metrics["micro_batches"] == first["micro_batches"] + second["micro_batches"]
    assert twice.version == 1 and reference.version == 2  # one push per step, however many updates
    # the first update is on policy, the second sees the moved policy
    assert first["ratio_max"] == pytest.approx(1.0, abs=1e-3)
    assert max(second["ratio_max"] - 1.0, 1.0 - second["ratio_min"]) > 1e-3
    assert metrics["behaviour_logprob_diff"] == pytest.approx(first["behaviour_logprob_diff"], abs=1e-6)
    assert metrics["ratio_max"] == pytest.approx(max(first["ratio_max"], second["ratio_max"]), rel=1e-5)
    assert metrics["clip_frac_last"] == pytest.approx(second["clip_frac"], abs=1e-6)


def test_mini_batches_are_a_seeded_partition():
    samples = [Sample([1, 2], [0, 1], [0.0, 0.0], advantage=1.0, index=i) for i in range(11)]
    parts = split_mini_batches(samples, 3, seed=4)
    assert sorted(s.index for part in parts for s in part) == list(range(11))
    assert sorted(len(p) for p in parts) == [3, 4, 4]
    assert [[s.index for s in p] for p in parts] == [[s.index for s in p] for p in split_mini_batches(samples, 3, seed=4)]
    assert [[s.index for s in p] for p in parts] != [[s.index for s in p] for p in split_mini_batches(samples, 3, seed=5)]
    assert len(split_mini_batches(samples[:2], 8, seed=0)) == 2
    assert [s.index for s in split_mini_batches(samples, 1, seed=9)[0]] == list(range(11))  # one part: as given


def test_mini_batches_make_one_update_each_and_one_version(tiny_model_dir):
    learner = make_learner(tiny_model_dir, lr=5e-2, epochs=2, mini_batches=3)
    before = lora(learner)
    metrics = learner.grpo_step(judged_groups(learner), policy_version=0)
    assert metrics["updates"] == 6 and learner.version == 1 and learner.trainer.steps == 6
    assert any((lora(learner)[k] - before[k]).abs().max() > 0 for k in before)


def test_the_upper_clip_bounds_only_raised_tokens():
    # one token, A = +1, ratio 1.25: clipped at 1.2 (no gradient), free under clip-higher 0.28
    def grad(adv: float, ratio: float, high):
        logp = torch.tensor([[0.0, float(torch.log(torch.tensor(ratio)))]], requires_grad=True)
        loss, stats = grpo_loss(logp, torch.zeros(1, 2), torch.tensor([adv]), torch.tensor([[0.0, 1.0]]), 0.2,
                                clip_eps_high=high)
        loss.backward()
        return float(logp.grad[0, 1]), stats["clip_frac"]

    assert grad(1.0, 1.25, None) == (0.0, 1.0)
    g, clipped = grad(1.0, 1.25, 0.28)
    assert g == pytest.approx(-1.25) and clipped == 0.0  # d(-ratio * A)/dlogp = -ratio
    assert grad(1.0, 1.30, 0.28) == (0.0, 1.0)
    # the lower clip is unchanged: A < 0, ratio 0.75 is clipped whatever the upper bound
    assert grad(-1.0, 0.75, 0.28) == (0.0, 1.0)
    g, _ = grad(-1.0, 1.25, 0.28)
    assert g == pytest.approx(1.25)  # A < 0 and a raised token: never clipped from above
