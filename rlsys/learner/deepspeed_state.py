"""Optimizer state of a DeepSpeed ZeRO-1/2 learner in the plain torch format, and back.

ZeRO-1/2 flattens the trainable parameters into one fp32 partition per rank, and the torch
AdamW steps that partition: its `exp_avg`/`exp_avg_sq` are slices of a flat buffer, and the
fp32 master copy of the weights lives beside the model's parameters. A checkpoint should not
depend on the rank count, so:

    state = gather_optimizer_state(optimizer, params)   # collective: every rank calls it
    # == torch.optim.AdamW(params).state_dict() of the plain path (per-parameter, full tensors)
    scatter_optimizer_state(zero_optimizer, optimizer, params, state)   # every rank; after the
    # model's LoRA tensors are loaded: sets the fp32 master weights and this rank's slices

`optimizer` is our torch AdamW (wrapped by DeepSpeed; its param group now holds the flat
partition), `params` the original parameter list in the order the plain optimizer saw it,
`zero_optimizer` the engine's `DeepSpeedZeroOptimizer`. ZeRO-3 is not handled (refused earlier).
"""

from __future__ import annotations

from typing import Any

import torch


def _flat_partition(optimizer: torch.optim.Optimizer) -> torch.Tensor:
    if len(optimizer.param_groups) != 1 or len(optimizer.param_groups[0]["params"]) != 1:
        raise NotImplementedError("DeepSpeed checkpoints handle one parameter group (one flat partition) only")
    return optimizer.param_groups[0]["params"][0]


def _hyperparameters(group: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in group.items() if k != "params"}


def gather_optimizer_state(optimizer: torch.optim.Optimizer, params: list[torch.nn.Parameter]) -> dict[str, Any]:
    """The full per-parameter optimizer state (a torch `state_dict()`), assembled over ranks."""
    from deepspeed.utils import safe_get_full_optimizer_state

    flat = _flat_partition(optimizer)
    flat_state = optimizer.state.get(flat, {})
    state: dict[int, dict[str, Any]] = {}
    if flat_state:  # empty until the first step
        sliced = [k for k, v in flat_state.items() if torch.is_tensor(v) and v.shape == flat.shape]
        scalars = {k: (v.clone() if torch.is_tensor(v) else v) for k, v in flat_state.items() if k not in sliced}
        for i, param in enumerate(params):
            entry = dict(scalars)
            for key in sliced:  # all-reduce of each rank's fragment: every rank calls it, in order
                entry[key] = safe_get_full_optimizer_state(param, key).detach().to("cpu", torch.float32).clone()
            state[i] = {k: (v.clone() if torch.is_tensor(v) else v) for k, v in entry.items()}
    group = {**_hyperparameters(optimizer.param_groups[0]), "params": list(range(len(params)))}
    return {"state": state, "param_groups": [group]}


def scatter_optimizer_state(zero_optimizer, optimizer: torch.optim.Optimizer, params: list[torch.nn.Parameter],
                            state: dict[str, Any]) -> None:
    """Loads a plain-format optimizer state (and the model's current weights as the fp32 master
    copy) into this rank's ZeRO partition."""
    from deepspeed.utils import safe_set_full_fp32_param, safe_set_full_optimizer_state

    flat = _flat_partition(optimizer)
    per_param = state["state"]
    if len(state["param_groups"]) != 1 or len(state["param_groups"][0]["params"]) != len(params):
        raise ValueError(f"checkpoint optimizer has {[len(g['params']) for g in state['param_groups']]} parameters "
                         f"in its groups; this learner trains {len(params)} in one group")
    for key, value in _hyperparameters(state["param_groups"][0]).items():
        optimizer.param_groups[0][key] = value
    for param in params:  # the master copy the next step starts from
        safe_set_full_fp32_param(param, param.detach().to(torch.float32))
    if not per_param:
        optimizer.state.pop(flat, None)
        return
    first = per_param[0] if 0 in per_param else per_param[str(0)]
    sliced = [k for k, v in first.items() if torch.is_tensor(v) and v.dim() > 0]
    flat_state: dict[str, Any] = {k: (v.clone() if torch.is_tensor(v) else v) for k, v in first.items() if k not in sliced}
    for key in sliced:
        flat_state[key] = torch.zeros_like(flat)
    optimizer.state[flat] = flat_state
    # (re)link each parameter's view into the flat state, then write the full values through it
    zero_optimizer._hp_optimizer_states_linked = False
    zero_optimizer._lazy_init_hp_params_optimizer_state()
    for i, param in enumerate(params):
        entry = per_param[i] if i in per_param else per_param[str(i)]
        for key in sliced:
            safe_set_full_optimizer_state(param, entry[key].to(flat.device, flat.dtype), key)
