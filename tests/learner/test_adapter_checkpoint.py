"""Adapter export/import (memory and PEFT's disk format) and GRPO learner checkpoint resume."""

from __future__ import annotations

import json

import pytest
import torch
from peft import PeftModel
from transformers import AutoModelForCausalLM

from rlsys.learner.adapter import load_lora_tensors, read_adapter_dir
from rlsys.learner.config import LearnerConfig, LoraConfig
from rlsys.learner.learner import Learner
from rlsys.learner.logprobs import token_logprobs

from test_learner_grpo import sample_group, target_fraction


def _learner(path, **kw) -> Learner:
    cfg = LearnerConfig(lora=LoraConfig(r=4, alpha=8, dropout=0.1), lr=1e-2, micro_batch=4,
                        gradient_checkpointing=False, **kw)
    return Learner(cfg, path, dtype="float32", device=torch.device("cpu"))


def _batch(learner: Learner, step: int):
    vocab = learner.model.config.vocab_size
    groups = [sample_group(learner.model, [3 + g, 4, 5], 4, 1.0, 5, learner.version, seed=100 * step + g) for g in range(2)]
    for group in groups:
        for traj in group:
            traj.reward = target_fraction(traj, vocab)
    return groups


def test_export_import_and_peft_disk_format(tiny_model_dir, tmp_path):
    learner = _learner(tiny_model_dir)
    versions = [learner.export_adapter()[0]]
    for step in range(2):
        learner.grpo_step(_batch(learner, step), learner.version)
        versions.append(learner.export_adapter()[0])
    assert versions == [0, 1, 2]  # monotonically increasing with optimizer steps
    version, tensors = learner.export_adapter()
    assert all(k.startswith("base_model.model.") and ".lora_" in k and "default" not in k for k in tensors)
    assert all(t.device.type == "cpu" for t in tensors.values())

    ids = torch.tensor([[5, 9, 17, 33, 2, 8]])
    learner.model.eval()
    with torch.no_grad():
        want, _ = token_logprobs(learner.model, ids, torch.ones_like(ids))

    # in memory: a fresh PEFT model with the same config takes the tensors
    other = _learner(tiny_model_dir)
    load_lora_tensors(other.model, tensors)
    other.model.eval()
    with torch.no_grad():
        torch.testing.assert_close(token_logprobs(other.model, ids, torch.ones_like(ids))[0], want)
    with pytest.raises(ValueError, match="missing"):
        load_lora_tensors(other.model, dict(list(tensors.items())[1:]))

    # on disk: what PeftModel.from_pretrained (and vLLM) reads
    out = learner.save_adapter(tmp_path / "adapter")
    config = json.loads((out / "adapter_config.json").read_text())
    assert config["r"] == 4 and config["lora_alpha"] == 8 and config["peft_type"] == "LORA"
    assert read_adapter_dir(out)[0] == version
    base = AutoModelForCausalLM.from_pretrained(tiny_model_dir, dtype=torch.float32)
    peft_model = PeftModel.from_pretrained(base, str(out)).eval()
    with torch.no_grad():
        torch.testing.assert_close(token_logprobs(peft_model, ids, torch.ones_like(ids))[0], want)

    # continuing from a saved adapter (e.g. the SFT one)
    cont = Learner(learner.cfg, tiny_model_dir, dtype="float32", adapter_path=out, device=torch.device("cpu"))
    cont.model.eval()
    with torch.no_grad():
        torch.testing.assert_close(token_logprobs(cont.model, ids, torch.ones_like(ids))[0], want)


def test_grpo_checkpoint_resume_gives_the_same_losses(tiny_model_dir, tmp_path):
    def run(learner: Learner, steps: range) -> list[float]:
        losses = []
        for step in steps:
            torch.manual_seed(10_000 + step)  # the data: sampled from the current policy
            losses.append(learner.grpo_step(_batch(learner, step), learner.version)["loss"])
        return losses

    straight = run(_learner(tiny_model_dir), range(4))
    first = _learner(tiny_model_dir)
    head = run(first, range(2))
    first.save_checkpoint(tmp_path / "ckpt", data_state={"next_step": 2}, config={"learner": first.cfg.model_dump()})
    resumed = _learner(tiny_model_dir)
    state = resumed.load_checkpoint(tmp_path / "ckpt")
    assert state.data_state == {"next_step": 2} and resumed.version == 2 and resumed.steps == 2
    tail = run(resumed, range(2, 4))
    assert head + tail == straight
