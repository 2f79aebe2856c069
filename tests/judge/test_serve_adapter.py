"""`rlsys serve --adapter`: a trained LoRA adapter is installed on the engine before serving."""

from __future__ import annotations

import httpx
import pytest

from rlsys.judge.openai_server import create_app
from rlsys.judge.server_thread import ServerThread

pytestmark = pytest.mark.timeout(300)


def test_adapter_is_loaded_before_the_first_request(nano_model_dir, tmp_path):
    import torch
    from peft import LoraConfig, PeftModel, get_peft_model
    from transformers import AutoModelForCausalLM

    from rlsys.commands.serve import _load_adapter_on_start
    from rlsys.rollout.engines import load_engine
    from rlsys.learner.adapter import lora_tensors, write_adapter_dir

    base = AutoModelForCausalLM.from_pretrained(nano_model_dir)
    config = LoraConfig(r=4, lora_alpha=8, target_modules=["q_proj", "v_proj"], task_type="CAUSAL_LM")
    peft_model = get_peft_model(base, config)
    tensors = {k: torch.randn_like(v) * 0.5 for k, v in lora_tensors(peft_model).items()}
    adapter = write_adapter_dir(tmp_path / "adapter", tensors, peft_model.peft_config["default"], version=3)

    engine, tokenizer = load_engine(str(nano_model_dir), "hf", dtype="float32", max_batch=4)
    app = create_app(engine, tokenizer, "policy", startup=_load_adapter_on_start(engine, adapter))
    body = {"messages": [{"role": "user", "content": "Who wrote Cabaret?"}], "max_tokens": 4, "temperature": 0}
    with ServerThread(app) as server:
        out = httpx.post(server.url + "/v1/chat/completions", json=body, timeout=60).json()
    assert out["choices"][0]["finish_reason"] in ("stop", "length")
    assert engine.policy_version == 3 and isinstance(engine.model, PeftModel)
