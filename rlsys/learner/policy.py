"""The trainable policy: a causal LM (SDPA attention, optional gradient checkpointing) with PEFT LoRA.

    model, tokenizer = load_policy("artifacts/models/tiny-qwen3", cfg.learner.lora)
    model = load_policy(path, lora, adapter_path="runs/sft/adapter")[0]   # continue an SFT adapter

The base weights are frozen; only the LoRA matrices train. The reference policy for the KL
term is the same model with the adapter disabled (`with model.disable_adapter(): ...`).
"""

from __future__ import annotations

import logging
from pathlib import Path

import torch

from rlsys.learner.config import LoraConfig

log = logging.getLogger(__name__)

_DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}


def default_device() -> torch.device:
    return torch.device("cuda") if torch.cuda.is_available() else torch.device("cpu")


def resolve_dtype(dtype: str, device: torch.device) -> torch.dtype:
    """`auto` is bfloat16 on GPU and float32 on CPU; otherwise the named dtype."""
    if dtype == "auto":
        return torch.bfloat16 if device.type == "cuda" else torch.float32
    if dtype not in _DTYPES:
        raise ValueError(f"unknown dtype {dtype!r} (auto, float32, bfloat16, float16)")
    return _DTYPES[dtype]


def load_base_model(path: str | Path, dtype: str = "auto", device: torch.device | None = None):
    """`AutoModelForCausalLM` from a local directory (or hub name), SDPA attention, on `device`."""
    from transformers import AutoModelForCausalLM

    device = device or default_device()
    if Path(path).exists() and not (Path(path) / "config.json").is_file():
        raise FileNotFoundError(f"{path} is not a model directory (no config.json)")
    model = AutoModelForCausalLM.from_pretrained(
        str(path), dtype=resolve_dtype(dtype, device), attn_implementation="sdpa"
    )
    return model.to(device)


def attach_lora(
    model,
    lora: LoraConfig,
    gradient_checkpointing: bool = False,
    adapter_path: str | Path | None = None,
):
    """Wraps a base model in a trainable PEFT LoRA model (new adapter, or `adapter_path`'s)."""
    from peft import LoraConfig as PeftLoraConfig
    from peft import PeftModel, get_peft_model

    model.config.use_cache = False
    for param in model.parameters():
        param.requires_grad_(False)
    if gradient_checkpointing:
        # Non-reentrant checkpointing works with frozen inputs (no enable_input_require_grads needed).
        model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
    if adapter_path is not None:
        adapter_path = Path(adapter_path)
        if not (adapter_path / "adapter_config.json").is_file():
            raise FileNotFoundError(f"{adapter_path} is not a PEFT adapter directory (no adapter_config.json)")
        peft_model = PeftModel.from_pretrained(model, str(adapter_path), is_trainable=True)
        loaded = peft_model.peft_config["default"]
        if loaded.r != lora.r or loaded.lora_alpha != lora.alpha:
            log.warning("adapter %s has r=%s alpha=%s; config says r=%s alpha=%s: using the adapter's",
                        adapter_path, loaded.r, loaded.lora_alpha, lora.r, lora.alpha)
    else:
        config = PeftLoraConfig(
            r=lora.r,
            lora_alpha=lora.alpha,
            lora_dropout=lora.dropout,
            target_modules=list(lora.target_modules),
            bias="none",
            task_type="CAUSAL_LM",
        )
        peft_model = get_peft_model(model, config)
    if gradient_checkpointing:
        peft_model.train()
    return peft_model


def load_policy(
    path: str | Path,
    lora: LoraConfig,
    dtype: str = "auto",
    gradient_checkpointing: bool = False,
    adapter_path: str | Path | None = None,
    device: torch.device | None = None,
):
    """(PEFT LoRA model, tokenizer or None) from a base model directory and optional adapter."""
    from transformers import AutoTokenizer

    model = attach_lora(load_base_model(path, dtype, device), lora, gradient_checkpointing, adapter_path)
    try:
        tokenizer = AutoTokenizer.from_pretrained(str(path))
    except (OSError, ValueError):
        tokenizer = None
    return model, tokenizer


def trainable_parameters(model) -> list[torch.nn.Parameter]:
    return [p for p in model.parameters() if p.requires_grad]
