"""Adapter folder bookkeeping of VLLMEngine without vLLM: the zero adapter's shapes, dtype of the
written tensors, /dev/shm only with room, and retirement only after the last in-flight request."""

from __future__ import annotations

from types import SimpleNamespace

import torch
from safetensors.torch import load_file

from rlsys.rollout import vllm_adapters
from rlsys.rollout.vllm_adapters import AdapterVersions, adapter_root, write_peft_adapter, zero_lora_tensors

from .biased_model import random_lora


def _req(version: int) -> SimpleNamespace:
    return SimpleNamespace(lora_int_id=version + 1)


def test_evicted_version_retires_after_its_last_request(tmp_path):
    versions = AdapterVersions(tmp_path, keep=2)
    assert versions.add(0, _req(0)) == [] and versions.add(1, _req(1)) == []
    assert versions.acquire(1) is not None and versions.acquire(1) is not None
    retired = versions.add(2, _req(2))
    assert [r.version for r in retired] == [0]  # idle: retired at once
    assert versions.add(3, _req(3)) == []       # v1 has two requests in flight: kept
    assert list(versions.live) == [2, 3] and 1 in versions.evicted
    assert versions.acquire(1) is not None       # an evicted version still serves until retired
    assert versions.release(1) is None and versions.release(1) is None
    last = versions.release(1)
    assert last is not None and (last.version, last.lora_int_id, last.folder) == (1, 2, tmp_path / "v1")
    assert versions.acquire(1) is None and versions.release(7) is None


def test_zero_adapter_matches_learner_names_and_dtype(tiny_model_dir, tmp_path):
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(tiny_model_dir, dtype=torch.float32)
    zero = zero_lora_tensors(tiny_model_dir, ["q_proj", "v_proj", "down_proj"], 4, torch.bfloat16)
    real = random_lora(model, r=4)
    assert {k: tuple(v.shape) for k, v in zero.items()} == {k: tuple(v.shape) for k, v in real.items()}
    assert all(float(v.abs().sum()) == 0.0 and v.dtype == torch.bfloat16 for v in zero.values())
    write_peft_adapter(tmp_path / "a", real, {"lora_alpha": 8}, str(tiny_model_dir), dtype=torch.bfloat16)
    written = load_file(str(tmp_path / "a" / "adapter_model.safetensors"))
    assert {v.dtype for v in written.values()} == {torch.bfloat16}


def test_adapter_root_falls_back_to_disk_without_room(monkeypatch, tmp_path):
    shm = tmp_path / "shm"
    shm.mkdir()
    monkeypatch.setattr(vllm_adapters, "SHM", shm)
    roomy = adapter_root(1024)
    assert roomy.parent == shm
    full = adapter_root(10**18)
    assert full.parent != shm and full.is_dir()
