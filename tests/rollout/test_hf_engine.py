"""HFEngine with the tiny model: batching, stop strings, sampling, LoRA, and token-exact
episodes whose recorded behaviour log-probs a plain forward pass reproduces."""

from __future__ import annotations

import asyncio

import pytest
import torch

from rlsys.corpus.types import Question
from rlsys.rollout.config import RolloutConfig
from rlsys.rollout.episode import prompt_ids, run_group
from rlsys.rollout.hf_engine import EngineAsleep, HFEngine
from rlsys.rollout.sampling import sample_batch
from rlsys.rollout.types import EndReason, SamplingParams

from .biased_model import add_tag_bias, merge_lora, random_lora, reference_logprobs
from .inprocess_executor import InProcessExecutor

Q = Question(id="q7", question="Where was Ostrid Kael born?", answer="Harrowmere")
STOPS = ["</python>", "</answer>"]


class Recording:
    """Wraps an engine and records every (prompt, generation)."""

    def __init__(self, engine):
        self.engine, self.calls = engine, []

    async def generate(self, prompt_ids, params):
        gen = await self.engine.generate(prompt_ids, params)
        self.calls.append((list(prompt_ids), gen))
        return gen


@pytest.fixture()
def engine(tiny_model_dir):
    eng = HFEngine(tiny_model_dir, device="cpu", dtype="float32", max_batch=32, lora_config={"lora_alpha": 8})
    add_tag_bias(eng.model, eng.tokenizer)
    return eng


def mask_runs(mask: list[int]) -> list[tuple[int, int]]:
    runs, start = [], None
    for i, m in enumerate(mask + [0]):
        if m and start is None:
            start = i
        elif not m and start is not None:
            runs.append((start, i))
            start = None
    return runs


def check_episode(traj, calls, tokenizer, model) -> None:
    ids, mask = traj.token_ids, traj.loss_mask
    assert len(ids) == len(mask) == len(traj.behaviour_logprobs)
    assert set(mask[: traj.prompt_len]) == {0}
    runs = mask_runs(mask)
    assert len(runs) == len(traj.turns)
    for n, (a, b) in enumerate(runs):  # each sampled run is exactly one engine output on exactly this prefix
        assert any(p == ids[:a] and g.token_ids == ids[a:b] and g.logprobs == traj.behaviour_logprobs[a:b]
                   for p, g in calls)
        end = runs[n + 1][0] if n + 1 < len(runs) else len(ids)
        if b < end:  # the observation between two turns: only new message tokens
            added = tokenizer.decode(ids[b:end])
            assert added.endswith("<|im_start|>assistant\n")
            assert added.startswith(("<|im_end|>\n<|im_start|>user\n", "\n<|im_start|>user\n"))
    ref = reference_logprobs(model, ids, traj.temperature)
    for i, m in enumerate(mask):
        if m:
            assert abs(ref[i] - traj.behaviour_logprobs[i]) < 2e-4, (i, ref[i], traj.behaviour_logprobs[i])
        else:
            assert traj.behaviour_logprobs[i] == 0.0


async def test_random_episodes_are_token_exact(engine):
    rec = Recording(engine)
    cfg = RolloutConfig(max_turns=3, max_new_tokens=24, max_episode_tokens=1024, seed=1)
    group = await run_group(Q, 12, rec, engine.tokenizer, InProcessExecutor(), cfg)
    assert len(group) == 12
    for traj in group:
        check_episode(traj, rec.calls, engine.tokenizer, engine.model)
    reasons = {t.end_reason for t in group}
    assert EndReason.INFRA_ERROR not in reasons
    assert any(t.turns[0].cell is not None for t in group)  # the tag bias makes cells common
    assert engine.stats.batch_rows > engine.stats.steps  # concurrent requests were batched
    assert engine.prefix.hits > 0  # later turns reused their episode's KV (and still match above)
    await engine.close()


async def test_adapter_logprobs_match_merged_weights(engine, tiny_model_dir):
    from transformers import AutoModelForCausalLM

    tensors = random_lora(engine.model, r=4, seed=2)
    later = random_lora(engine.model, r=4, seed=3)
    await engine.load_adapter(3, tensors)
    rec = Recording(engine)
    cfg = RolloutConfig(max_turns=2, max_new_tokens=20, max_episode_tokens=1024, seed=2)
    group = await run_group(Q, 4, rec, engine.tokenizer, InProcessExecutor(), cfg)
    assert all(t.policy_version == 3 for t in group)
    reference = AutoModelForCausalLM.from_pretrained(tiny_model_dir, dtype=torch.float32).eval()
    add_tag_bias(reference, engine.tokenizer)
    base = reference_logprobs(reference, group[0].token_ids, group[0].temperature)
    merge_lora(reference, tensors, alpha=8)
    for traj in group:
        check_episode(traj, rec.calls, engine.tokenizer, reference)
    merged = reference_logprobs(reference, group[0].token_ids, group[0].temperature)
    assert max(abs(x - y) for x, y in zip(base, merged)) > 1e-2  # the adapter really changed the policy
    # a second version overwrites the weights in place
    await engine.load_adapter(4, later)
    assert len(engine.prefix) == 0  # KV of the old weights is dropped
    gen = await engine.generate(group[0].token_ids[: group[0].prompt_len], SamplingParams(max_new_tokens=3))
    assert gen.policy_version == 4
    await engine.close()


async def test_stop_strings_seeds_and_limits(engine):
    prompt = prompt_ids(engine.tokenizer, Q.question, 2)
    params = [SamplingParams(temperature=1.0, max_new_tokens=64, stop=STOPS, seed=s) for s in range(16)]
    gens = await asyncio.gather(*(engine.generate(prompt, p) for p in params))
    for g in gens:
        assert len(g.token_ids) <= 64 and len(g.token_ids) == len(g.logprobs)
        if g.finish_reason == "stop":
            assert g.text.endswith(("</python>", "</answer>", "<|im_end|>"))
            assert not any(s in engine.tokenizer.decode(g.token_ids[:-1]) for s in STOPS)
        else:
            assert g.finish_reason == "length" and len(g.token_ids) == 64
    assert any(g.finish_reason == "stop" for g in gens)
    again = await engine.generate(prompt, params[5])
    assert again.token_ids == gens[5].token_ids  # a seeded request samples the same, batched or alone
    greedy = await engine.generate(prompt, SamplingParams(temperature=0.0, max_new_tokens=1))
    with torch.no_grad():
        expected = int(engine.model(torch.tensor([prompt])).logits[0, -1].argmax())
    assert greedy.token_ids == [expected]
    one = await engine.generate(prompt, SamplingParams(max_new_tokens=1))
    assert len(one.token_ids) == 1
    with pytest.raises(ValueError):
        await engine.generate([], SamplingParams())
    await engine.close()


async def test_adapter_errors_are_clear(tiny_model_dir):
    eng = HFEngine(tiny_model_dir, device="cpu", dtype="float32")
    tensors = random_lora(eng.model, r=2)
    with pytest.raises(ValueError, match="lora_alpha"):
        await eng.load_adapter(1, tensors)
    with pytest.raises(ValueError, match="not a LoRA tensor name"):
        await eng.load_adapter(1, {"model.embed_tokens.weight": torch.zeros(2, 2)}, {"lora_alpha": 4})
    await eng.load_adapter(1, tensors, {"lora_alpha": 4})
    partial = dict(list(tensors.items())[:-2])
    with pytest.raises(ValueError, match="does not match"):
        await eng.load_adapter(2, partial)
    assert eng.policy_version == 1
    await eng.close()


def test_top_p_keeps_the_nucleus_and_logprobs_are_temperature_scaled():
    logits = torch.tensor([[4.0, 3.0, 2.0, 1.0, 0.0, -1.0]] * 2)
    temps = torch.tensor([1.0, 0.5])
    probs = torch.softmax(logits[0], -1).tolist()  # [0.636, 0.234, 0.086, ...]
    seen = set()
    for seed in range(200):
        gens = [torch.Generator().manual_seed(seed), torch.Generator().manual_seed(seed + 1000)]
        tokens, lps = sample_batch(logits, temps, torch.tensor([0.8, 1.0]), gens)
        assert int(tokens[0]) in (0, 1)  # 0.636 < 0.8 <= 0.636 + 0.234: the nucleus is {0, 1}
        seen.add(int(tokens[0]))
        expected = torch.log_softmax(logits[1] / 0.5, -1)[int(tokens[1])]
        assert abs(float(lps[1]) - float(expected)) < 1e-6
        assert abs(float(lps[0]) - torch.log(torch.tensor(probs[int(tokens[0])]))) < 1e-5
    assert seen == {0, 1}


async def test_requests_join_a_running_batch(engine):
    """Later requests (shorter and longer prompts) join the running batch; log-probs stay exact."""
    prompt = prompt_ids(engine.tokenizer, Q.question, 2)
    first = asyncio.create_task(engine.generate(prompt, SamplingParams(max_new_tokens=40, seed=1)))
    while engine.stats.steps < 3:
        await asyncio.sleep(0.01)
    prompts = [prompt[:50], prompt + prompt[:30], prompt[:200]]
    later = [engine.generate(p, SamplingParams(temperature=0.8, max_new_tokens=10, seed=i)) for i, p in enumerate(prompts)]
    gens = await asyncio.gather(first, *later)
    # 40 decode steps in all: the later requests decoded alongside the first instead of after it
    assert len(gens[0].token_ids) == 40 or gens[0].finish_reason == "stop"
    assert engine.stats.steps == len(gens[0].token_ids)
    assert engine.stats.batch_rows == sum(len(g.token_ids) for g in gens)
    for p, g, t in zip([prompt] + prompts, gens, [1.0, 0.8, 0.8, 0.8]):
        ref = reference_logprobs(engine.model, p + g.token_ids, t)[len(p):]
        assert max(abs(a - b) for a, b in zip(ref, g.logprobs)) < 2e-4
    await engine.close()


async def test_asleep_engine_refuses_to_generate_and_applies_an_adapter_at_wake(engine):
    prompt = prompt_ids(engine.tokenizer, Q.question, 2)
    assert engine.policy_version == -1  # no adapter yet: the base model
    base = await engine.generate(prompt, SamplingParams(temperature=0.0, max_new_tokens=4))
    assert base.policy_version == -1
    await engine.sleep()
    assert engine.asleep
    with pytest.raises(EngineAsleep):
        await engine.generate(prompt, SamplingParams(max_new_tokens=2))
    tensors = random_lora(engine.model, r=2, seed=3)
    await engine.load_adapter(7, tensors)
    assert engine.policy_version == -1  # not applied while asleep
    await engine.wake()
    assert not engine.asleep and engine.policy_version == 7
    gen = await engine.generate(prompt, SamplingParams(temperature=0.0, max_new_tokens=4))
    assert gen.policy_version == 7
    with torch.no_grad():  # the installed adapter is what generates now
        expected = int(engine.model(torch.tensor([prompt])).logits[0, -1].argmax())
    assert gen.token_ids[0] == expected
    await engine.close()
