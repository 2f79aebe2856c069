"""The GRPO learner on the tiny model: on-policy ratio 1, exclusions, and a reward that goes up."""

from __future__ import annotations

import pytest
import torch

from rlsys.corpus.types import Question
from rlsys.learner.config import LearnerConfig, LoraConfig
from rlsys.learner.learner import Learner
from rlsys.rollout.types import EndReason, Trajectory

QUESTION = Question(id="q0", question="?", answer="!")


def sample_group(model, prompt: list[int], k: int, temperature: float, new_tokens: int, version: int, seed: int):
    """k on-policy completions with behaviour log-probs under softmax(logits / T) (the engine convention)."""
    torch.manual_seed(seed)
    model.eval()
    ids = torch.tensor([prompt] * k)
    with torch.no_grad():
        out = model.generate(
            input_ids=ids, attention_mask=torch.ones_like(ids), do_sample=True, temperature=temperature, top_k=0,
            top_p=1.0, max_new_tokens=new_tokens, min_new_tokens=new_tokens, output_logits=True,
            return_dict_in_generate=True, use_cache=True, pad_token_id=0,
        )
    gen = out.sequences[:, len(prompt):]
    logits = torch.stack(out.logits, dim=1).float() / temperature
    lps = torch.log_softmax(logits, -1).gather(-1, gen.unsqueeze(-1)).squeeze(-1)
    group = []
    for row in range(k):
        toks = gen[row].tolist()
        group.append(Trajectory(
            episode_id=f"e{seed}-{row}", question=QUESTION, token_ids=prompt + toks,
            loss_mask=[0] * len(prompt) + [1] * len(toks),
            behaviour_logprobs=[0.0] * len(prompt) + lps[row].tolist(), prompt_len=len(prompt),
            policy_version=version, temperature=temperature,
        ))
    return group


def target_fraction(traj: Trajectory, vocab: int) -> float:
    gen = traj.token_ids[traj.prompt_len:]
    return sum(t < vocab // 2 for t in gen) / len(gen)  # some spread of rewards within a group


def make_learner(path, **overrides) -> Learner:
    cfg = LearnerConfig(lora=LoraConfig(r=8, alpha=16), lr=overrides.pop("lr", 2e-2), micro_batch=8,
                        gradient_checkpointing=overrides.pop("gradient_checkpointing", False), **overrides)
    return Learner(cfg, path, dtype="float32", max_staleness=1, seed=0, device=torch.device("cpu"))


def test_on_policy_ratio_is_one_with_temperature_and_exclusions_are_counted(tiny_model_dir):
    learner = make_learner(tiny_model_dir, kl_coef=0.05, gradient_checkpointing=True)
    vocab = learner.model.config.vocab_size
    groups = [sample_group(learner.model, [5, 6, 7], 6, t, 6, 0, seed=i) for i, t in enumerate([0.7, 1.15])]
    for group in groups:
        for traj in group:
            traj.reward = target_fraction(traj, vocab)
    groups[0][0].failure = "judge_error"
    groups[0][1].end_reason = EndReason.INFRA_ERROR
    groups[1][0].policy_version = -5  # older than max_staleness
    groups[1][1].reward = None
    zero = sample_group(learner.model, [9, 9], 3, 1.0, 4, 0, seed=7)
    for traj in zero:
        traj.reward = 0.5  # zero std
    metrics = learner.grpo_step(groups + [zero], policy_version=0)
    assert metrics["skipped"] == 0
    assert metrics["ratio_mean"] == pytest.approx(1.0, abs=1e-4)
    assert metrics["ratio_max"] == pytest.approx(1.0, abs=1e-3)
    assert metrics["clip_frac"] == 0.0
    assert metrics["kl"] == pytest.approx(0.0, abs=1e-6)  # the adapter starts at zero (B = 0)
    assert metrics["excluded_failure"] == 2 and metrics["excluded_stale"] == 1 and metrics["excluded_unjudged"] == 1
    assert metrics["zero_std_groups"] == 1 and metrics["groups"] == 3
    assert metrics["trained_trajectories"] == 8 and metrics["trained_tokens"] == 8 * 6
    assert metrics["entropy"] > 0 and metrics["grad_norm"] > 0
    assert metrics["policy_version"] == 1 and learner.version == 1
    version, tensors = learner.export_adapter()
    assert version == 1 and any(".lora_B." in k and v.abs().sum() > 0 for k, v in tensors.items())


def test_nothing_to_train_skips_the_step(tiny_model_dir):
    learner = make_learner(tiny_model_dir)
    group = sample_group(learner.model, [5, 6], 2, 1.0, 3, 0, seed=1)
    for traj in group:
        traj.reward = 1.0
    metrics = learner.grpo_step([group], policy_version=0)
    assert metrics["skipped"] == 1 and learner.version == 0


def test_mismatched_lengths_are_a_clear_error(tiny_model_dir):
    learner = make_learner(tiny_model_dir)
    group = sample_group(learner.model, [5, 6], 2, 1.0, 3, 0, seed=1)
    group[0].reward, group[1].reward = 0.0, 1.0
    group[1].loss_mask = group[1].loss_mask[:-1]
    with pytest.raises(ValueError, match="same length"):
        learner.grpo_step([group], policy_version=0)


@pytest.mark.slow
def test_grpo_raises_a_learnable_reward(tiny_model_dir):
    """Reward: fraction of sampled tokens in a set S the model can reach by moving its last hidden
    state along one direction u (S = tokens whose embedding points along u). The random init's
    embeddings are scaled x4 so that the reachable probability mass is well away from 1/2."""
    learner = make_learner(tiny_model_dir)
    emb = learner.model.get_input_embeddings().weight
    with torch.no_grad():
        emb.mul_(4.0)
    u = torch.randn(emb.shape[1], generator=torch.Generator().manual_seed(0))
    target = set((emb.detach() @ u > 0).nonzero().flatten().tolist())
    prompts = [[11, 12, 13], [21, 22], [31, 32, 33, 34]]
    history = []
    for step in range(12):
        groups = []
        for g, prompt in enumerate(prompts):
            group = sample_group(learner.model, prompt, 8, 1.0, 8, learner.version, seed=step * 10 + g)
            for traj in group:
                gen = traj.token_ids[traj.prompt_len:]
                traj.reward = sum(t in target for t in gen) / len(gen)
            groups.append(group)
        metrics = learner.grpo_step(groups, policy_version=learner.version)
        assert metrics["ratio_mean"] == pytest.approx(1.0, abs=1e-3)  # fully on-policy
        history.append(metrics["reward_mean"])
    first, last = sum(history[:3]) / 3, sum(history[-3:]) / 3
    assert last > first + 0.15, history


def test_bf16_base_with_fp32_lora_checkpointing_and_kl(tiny_model_dir):
    """The GPU recipe's dtypes on CPU: bf16 frozen base, fp32 LoRA, gradient checkpointing, KL via disabled adapter."""
    cfg = LearnerConfig(lora=LoraConfig(r=4, alpha=8), lr=1e-2, micro_batch=2, gradient_checkpointing=True, kl_coef=0.1)
    learner = Learner(cfg, tiny_model_dir, dtype="bfloat16", device=torch.device("cpu"))
    assert {p.dtype for p in learner.model.parameters() if p.requires_grad} == {torch.float32}
    assert {p.dtype for p in learner.model.parameters() if not p.requires_grad} == {torch.bfloat16}
    group = sample_group(learner.model, [5, 6, 7], 4, 0.9, 6, 0, seed=0)
    for traj in group:
        traj.reward = target_fraction(traj, learner.model.config.vocab_size)
    first = learner.grpo_step([group], 0)
    assert first["skipped"] == 0
    assert first["ratio_mean"] == pytest.approx(1.0, abs=1e-2) and first["kl"] == pytest.approx(0.0, abs=1e-6)
    second = learner.grpo_step([group], 1)  # the same batch, now one step off-policy
    assert second["kl"] > 0 and second["ratio_max"] > 1.0
