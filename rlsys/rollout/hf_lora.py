"""Installing LoRA weights given as in-memory tensors into a transformers model with PEFT.

Tensors use PEFT's state-dict names (`base_model.model.<module>.lora_A.weight`, no adapter
name), as `rlsys.learner.adapter.lora_tensors` exports them. The first call wraps the model in
a PEFT LoRA model; later calls only overwrite the weights. Rank and target modules are read
from the tensors; `lora_alpha` must be given (it cannot be read from the weights).
"""

from __future__ import annotations

import re
from typing import Any

_LORA_KEY = re.compile(r"^(?P<module>.+)\.lora_(?P<part>A|B)(?:\.[^.]+)?\.weight$")


def lora_config_from_tensors(tensors: dict[str, Any], given: dict[str, Any]):
    """A `peft.LoraConfig` from the tensor names/shapes and the given settings."""
    from peft import LoraConfig

    targets: set[str] = set()
    rank = None
    for name, tensor in tensors.items():
        match = _LORA_KEY.match(name)
        if not match:
            raise ValueError(f"not a LoRA tensor name: {name!r} (expected '<module>.lora_A.weight' / 'lora_B')")
        targets.add(match["module"].rsplit(".", 1)[-1])
        if match["part"] == "A":
            rank = int(tensor.shape[0])
    if rank is None:
        raise ValueError("adapter has no lora_A tensors")
    alpha = given.get("lora_alpha", given.get("alpha"))
    if alpha is None:
        raise ValueError(
            "loading a LoRA adapter needs lora_alpha (it is not stored in the weights): pass "
            "lora_config={'lora_alpha': cfg.learner.lora.alpha} to the engine or to load_adapter"
        )
    return LoraConfig(
        r=int(given.get("r", rank)),
        lora_alpha=alpha,
        lora_dropout=0.0,
        target_modules=_targets(given.get("target_modules")) or sorted(targets),
        bias="none",
        task_type="CAUSAL_LM",
    )


def _targets(given: Any) -> Any:
    """PEFT accepts a list of module names or one string (a regex or `all-linear`)."""
    if not given:
        return None
    return given if isinstance(given, str) else sorted(given)


def apply_lora_tensors(model, tensors: dict[str, Any], lora: dict[str, Any], device: str):
    """Returns the (PEFT-wrapped) model with these LoRA weights installed and active."""
    import torch
    from peft import PeftModel, get_peft_model, get_peft_model_state_dict, set_peft_model_state_dict

    if not tensors:
        raise ValueError("empty adapter: no tensors given")
    if not isinstance(model, PeftModel):
        model = get_peft_model(model, lora_config_from_tensors(tensors, lora))
        model.eval()
    expected = set(get_peft_model_state_dict(model))
    missing, unexpected = expected - set(tensors), set(tensors) - expected
    if missing or unexpected:
        raise ValueError(
            f"adapter does not match the model: {len(missing)} missing (e.g. {sorted(missing)[:2]}), "
            f"{len(unexpected)} unexpected (e.g. {sorted(unexpected)[:2]})"
        )
    dtype = next(model.parameters()).dtype
    state = {k: torch.as_tensor(v).to(device=device, dtype=dtype) for k, v in tensors.items()}
    set_peft_model_state_dict(model, state)
    return model
