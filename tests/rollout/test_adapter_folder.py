"""The PEFT adapter folder VLLMEngine hands to vLLM loads in PEFT with the same effect as the
in-memory path; and `rlsys model build-tiny` works from the command line."""

from __future__ import annotations

import json

import torch

from rlsys.cli import main
from rlsys.rollout.vllm_engine import write_peft_adapter

from .biased_model import merge_lora, random_lora, reference_logprobs


def test_peft_folder_matches_merged_weights(tiny_model_dir, tmp_path):
    from peft import PeftModel
    from transformers import AutoModelForCausalLM

    base = AutoModelForCausalLM.from_pretrained(tiny_model_dir, dtype=torch.float32).eval()
    tensors = random_lora(base, r=4, seed=4)
    write_peft_adapter(tmp_path / "v1", tensors, {"lora_alpha": 8}, str(tiny_model_dir))
    meta = json.loads((tmp_path / "v1" / "adapter_config.json").read_text())
    assert meta["r"] == 4 and meta["lora_alpha"] == 8 and meta["target_modules"] == ["down_proj", "q_proj", "v_proj"]
    peft_model = PeftModel.from_pretrained(base, tmp_path / "v1").eval()
    ids = list(range(5, 60))
    got = reference_logprobs(peft_model, ids, 0.9)
    merged = AutoModelForCausalLM.from_pretrained(tiny_model_dir, dtype=torch.float32).eval()
    merge_lora(merged, tensors, alpha=8)
    want = reference_logprobs(merged, ids, 0.9)
    assert max(abs(a - b) for a, b in zip(got, want)) < 1e-4


def test_build_tiny_cli(tmp_path, capsys):
    texts = tmp_path / "texts.txt"
    texts.write_text("alpha beta gamma\n\nsearch_pages('alpha') view_sections read_section\n\n" * 20)
    assert main(["model", "build-tiny", "--out", str(tmp_path / "m"), "--size", "nano", "--texts", str(texts)]) == 0
    assert (tmp_path / "m" / "config.json").is_file()
    assert main(["model", "info", str(tmp_path / "m")]) == 0
    assert "qwen3" in capsys.readouterr().out
    assert main(["model", "info", str(tmp_path / "nothing")]) == 2
