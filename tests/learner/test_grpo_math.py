"""GRPO advantages and loss against independent float64 references written here (numpy/loops)."""

import math

import numpy as np
import pytest
import torch

from rlsys.learner.grpo import group_advantages, grpo_loss, loss_denominator


def _numpy_advantages(rewards):
    out, zero = [], 0
    for g in rewards:
        valid = np.array([r for r in g if r is not None], dtype=np.float64)
        if valid.size == 0 or valid.std() <= 1e-6:  # numpy std is the population std (ddof=0)
            zero += 1
            out.append([None] * len(g))
            continue
        out.append([None if r is None else (r - valid.mean()) / valid.std() for r in g])
    return out, zero


def test_advantages_match_numpy_with_exclusions_and_zero_std():
    rng = np.random.default_rng(0)
    rewards = []
    for k in range(40):
        size = int(rng.integers(1, 9))
        g = [float(x) for x in rng.choice([-1.0, -0.4, 0.3, 0.8, 1.0], size=size)]
        if k % 5 == 0:
            g = [0.5] * size  # zero std
        for i in range(size):
            if rng.random() < 0.2:
                g[i] = None  # excluded
        rewards.append(g)
    rewards.append([None, None])  # all excluded
    rewards.append([1.0, None, 1.0])  # zero std after the exclusion
    got = group_advantages(rewards)
    want, zero = _numpy_advantages(rewards)
    assert got.zero_std_groups == zero
    assert got.excluded == sum(r is None for g in rewards for r in g)
    for g_got, g_want in zip(got.advantages, want):
        assert len(g_got) == len(g_want)
        for a, b in zip(g_got, g_want):
            assert (a is None) == (b is None)
            if a is not None:
                assert a == pytest.approx(b, rel=1e-12, abs=1e-12)
    assert got.trained == sum(a is not None for g in want for a in g)


def test_advantages_simple_case():
    got = group_advantages([[1.0, 0.0], [0.3, 0.3, 0.3]])
    assert got.advantages == [[1.0, -1.0], [None, None, None]]
    assert got.zero_std_groups == 1 and got.trained == 2


def _reference(lp, blp, adv, mask, eps, ref, kl_coef, norm, max_tokens):
    """Loop-based float64 loss and analytic d loss / d lp."""
    B, T = lp.shape
    tok_loss = np.zeros((B, T))
    tok_grad = np.zeros((B, T))
    clipped = 0
    for i in range(B):
        for t in range(T):
            if not mask[i, t]:
                continue
            r = math.exp(lp[i, t] - blp[i, t])
            a = adv[i]
            u, c = r * a, min(max(r, 1 - eps), 1 + eps) * a
            tok_loss[i, t] = -min(u, c)
            active = (a > 0 and r > 1 + eps) or (a < 0 and r < 1 - eps)
            clipped += active
            tok_grad[i, t] = 0.0 if active else -a * r
            if ref is not None:
                d = ref[i, t] - lp[i, t]
                tok_loss[i, t] += kl_coef * (math.exp(d) - d - 1)
                tok_grad[i, t] += kl_coef * (1 - math.exp(d))
    n_tok = mask.sum()
    if norm == "token":
        w = np.where(mask, 1.0 / n_tok, 0.0)
    elif norm == "sequence":
        w = np.where(mask, 1.0 / (np.maximum(mask.sum(1, keepdims=True), 1) * B), 0.0)
    else:
        w = np.where(mask, 1.0 / (B * max_tokens), 0.0)
    return (tok_loss * w).sum(), tok_grad * w, clipped / n_tok


@pytest.mark.parametrize("norm", ["token", "sequence", "constant"])
@pytest.mark.parametrize("with_kl", [False, True])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_loss_and_gradient_match_reference(norm, with_kl, seed):
    rng = np.random.default_rng(seed)
    B, T, eps = 6, 13, 0.2
    lengths = rng.integers(3, T + 1, size=B)  # ragged
    mask = np.zeros((B, T), dtype=bool)
    for i, n in enumerate(lengths):
        prompt = int(rng.integers(1, 3))
        mask[i, prompt:n] = rng.random(n - prompt) < 0.8  # holes: tool outputs
    mask[0, 1] = True
    blp = -rng.random((B, T)) * 3
    lp = blp + rng.normal(0, 0.35, size=(B, T))  # many ratios outside [0.8, 1.2]
    adv = rng.normal(0, 1, size=B)
    adv[1] = 0.0  # a zero-advantage trajectory
    ref = blp + rng.normal(0, 0.2, size=(B, T)) if with_kl else None
    kl_coef = 0.1 if with_kl else 0.0
    want_loss, want_grad, want_clip = _reference(lp, blp, adv, mask, eps, ref, kl_coef, norm, 20)

    lp_t = torch.tensor(lp, dtype=torch.float64, requires_grad=True)
    loss, stats = grpo_loss(
        lp_t, torch.tensor(blp), torch.tensor(adv), torch.tensor(mask), eps,
        ref_logprobs=None if ref is None else torch.tensor(ref), kl_coef=kl_coef,
        normalisation=norm, max_tokens=20,
    )
    loss.backward()
    assert loss.item() == pytest.approx(want_loss, rel=1e-10, abs=1e-12)
    np.testing.assert_allclose(lp_t.grad.numpy(), want_grad, rtol=1e-9, atol=1e-12)
    assert stats["clip_frac"] == pytest.approx(want_clip)
    assert 0 < stats["clip_frac"] < 1  # both clipped and unclipped tokens were exercised
    ratios = np.exp(lp - blp)[mask]
    assert stats["ratio_mean"] == pytest.approx(ratios.mean())
    assert stats["ratio_max"] == pytest.approx(ratios.max())
    assert stats["tokens"] == mask.sum()
    if with_kl:
        d = (ref - lp)[mask]
        assert stats["kl"] == pytest.approx((np.exp(d) - d - 1).mean())


def test_split_micro_batches_accumulate_to_the_full_batch_gradient():
    rng = np.random.default_rng(3)
    B, T = 8, 9
    mask = torch.tensor(rng.random((B, T)) < 0.7)
    blp = torch.tensor(-rng.random((B, T)))
    lp = (blp + torch.tensor(rng.normal(0, 0.3, (B, T)))).requires_grad_(True)
    adv = torch.tensor(rng.normal(0, 1, B))
    for norm in ["token", "sequence", "constant"]:
        full, _ = grpo_loss(lp, blp, adv, mask, 0.2, normalisation=norm)
        (g_full,) = torch.autograd.grad(full, lp)
        denom = loss_denominator(mask, norm)
        total = 0
        for part in (slice(0, 3), slice(3, 8)):
            part_loss, _ = grpo_loss(lp[part], blp[part], adv[part], mask[part], 0.2, normalisation=norm, denominator=denom)
            total = total + part_loss
        (g_split,) = torch.autograd.grad(total, lp)
        torch.testing.assert_close(g_split, g_full)
        torch.testing.assert_close(total, full)


def test_on_policy_ratio_is_one_and_gradient_is_minus_advantage():
    lp = torch.tensor([[-1.0, -2.0, -0.5]], dtype=torch.float64, requires_grad=True)
    loss, stats = grpo_loss(lp, lp.detach().clone(), torch.tensor([2.0]), torch.tensor([[0, 1, 1]]), 0.2)
    loss.backward()
    assert stats["ratio_mean"] == 1.0 and stats["clip_frac"] == 0.0
    assert lp.grad.tolist() == [[0.0, -1.0, -1.0]]


def test_unknown_normalisation_is_an_error():
    with pytest.raises(ValueError, match="normalisation"):
        grpo_loss(torch.zeros(1, 2), torch.zeros(1, 2), torch.zeros(1), torch.ones(1, 2), 0.2, normalisation="bogus")
