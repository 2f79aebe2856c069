"""Test helpers: a tiny model biased towards protocol tags (so random episodes contain cells,
answers and EOS), random LoRA tensors under PEFT names, and a plain-forward log-prob reference."""

from __future__ import annotations

import torch

BIAS = {"<python>": 5.0, "</python>": 5.0, "<answer>": 3.5, "</answer>": 4.0, "<|im_end|>": 2.5}
TARGETS = ("q_proj", "v_proj", "down_proj")


def add_tag_bias(model, tokenizer) -> None:
    """Gives the (tied) LM head a bias towards protocol tags; the weights stay shared."""
    head = model.lm_head
    biased = torch.nn.Linear(head.in_features, head.out_features, bias=True)
    biased.weight = head.weight
    with torch.no_grad():
        biased.bias.zero_()
        for tag, value in BIAS.items():
            biased.bias[tokenizer.convert_tokens_to_ids(tag)] = value
    model.lm_head = biased


def random_lora(model, r: int = 4, seed: int = 0, scale: float = 0.2) -> dict[str, torch.Tensor]:
    """LoRA tensors keyed like `peft.get_peft_model_state_dict` (no adapter name)."""
    g = torch.Generator().manual_seed(seed)
    out = {}
    for name, module in model.named_modules():
        if name.rsplit(".", 1)[-1] in TARGETS:
            out[f"base_model.model.{name}.lora_A.weight"] = torch.randn(r, module.in_features, generator=g) * scale
            out[f"base_model.model.{name}.lora_B.weight"] = torch.randn(module.out_features, r, generator=g) * scale
    return out


def merge_lora(model, tensors: dict[str, torch.Tensor], alpha: float) -> None:
    """W += (alpha / r) * B @ A, written independently of PEFT."""
    modules = dict(model.named_modules())
    with torch.no_grad():
        for key, a in tensors.items():
            if ".lora_A." not in key:
                continue
            name = key.removeprefix("base_model.model.").removesuffix(".lora_A.weight")
            b = tensors[key.replace(".lora_A.", ".lora_B.")]
            modules[name].weight += (alpha / a.shape[0]) * (b @ a)


def reference_logprobs(model, token_ids: list[int], temperature: float) -> list[float]:
    """log softmax(logits / T) of each token given its prefix (position 0 gets 0.0)."""
    with torch.no_grad():
        logits = model(torch.tensor([token_ids])).logits[0, :-1].float() / temperature
    lp = torch.log_softmax(logits, dim=-1).gather(1, torch.tensor(token_ids[1:])[:, None]).squeeze(1)
    return [0.0] + lp.tolist()
