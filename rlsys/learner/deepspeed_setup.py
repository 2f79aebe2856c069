"""DeepSpeed ZeRO for learners over several devices; one device uses the plain torch path.

Launch one process per device (the `deepspeed`/`torchrun` launcher, Ray workers, or
`torch.multiprocessing`) with RANK/WORLD_SIZE/MASTER_ADDR/MASTER_PORT set; `init_engine`
joins the process group (NCCL on GPU, gloo on CPU) and wraps the model. We pass our own torch
AdamW so DeepSpeed does not compile its fused/CPU Adam; on CPU its first init still compiles a
shared-memory communication extension (about a minute), cached under
`artifacts/torch_extensions` (or $TORCH_EXTENSIONS_DIR) for later runs.

Gradient accumulation is unmanaged: the caller runs any number of backward passes and
`engine.step()` is the boundary (reduce, clip, AdamW step, lr schedule step).
"""

from __future__ import annotations

import os
from datetime import timedelta
from typing import Any

import torch

from rlsys.paths import artifacts_dir


def extensions_dir() -> str:
    """A stable build cache for DeepSpeed's JIT extensions (set before deepspeed is imported)."""
    path = os.environ.get("TORCH_EXTENSIONS_DIR") or str(artifacts_dir() / "torch_extensions")
    os.environ["TORCH_EXTENSIONS_DIR"] = path
    os.makedirs(path, exist_ok=True)
    return path


def deepspeed_config(stage: int, grad_clip: float, bf16: bool, world_size: int) -> dict[str, Any]:
    """The DeepSpeed config dict for ZeRO `stage` (1-3), bf16 on GPU, fp32 on CPU."""
    if stage not in (1, 2, 3):
        raise ValueError(f"deepspeed_stage must be 1, 2 or 3 (0 is the plain torch path), got {stage}")
    return {
        "train_micro_batch_size_per_gpu": 1,
        "gradient_accumulation_steps": 1,
        "train_batch_size": world_size,
        "managed_gradient_accumulation": False,
        "gradient_clipping": grad_clip if grad_clip and grad_clip > 0 else 0.0,
        "bf16": {"enabled": bool(bf16)},
        "zero_optimization": {
            "stage": stage,
            "overlap_comm": False,
            "contiguous_gradients": True,
            "reduce_scatter": True,
        },
        "zero_allow_untested_optimizer": True,
        "steps_per_print": 10**9,
        "wall_clock_breakdown": False,
    }


def init_distributed(timeout_s: float | None = None) -> tuple[int, int]:
    """Joins the process group from the environment (RANK, WORLD_SIZE, MASTER_ADDR/PORT); a no-op
    when joined already. With `timeout_s` a rank whose peers do not all arrive in time raises a
    `RuntimeError` naming the rendezvous and the ranks expected (instead of torch's 30 minutes)."""
    extensions_dir()
    import deepspeed
    import torch.distributed as dist

    if dist.is_initialized():
        return dist.get_rank(), dist.get_world_size()
    for key in ("RANK", "WORLD_SIZE", "MASTER_ADDR", "MASTER_PORT"):
        if key not in os.environ:
            raise RuntimeError(f"DeepSpeed learner needs {key} in the environment (use a launcher or set it)")
    os.environ.setdefault("LOCAL_RANK", os.environ["RANK"])
    backend = "nccl" if torch.cuda.is_available() else "gloo"
    kwargs = {} if timeout_s is None else {"timeout": timedelta(seconds=timeout_s)}
    try:
        deepspeed.init_distributed(dist_backend=backend, **kwargs)
    except Exception as err:  # torch's DistStoreError / timeout: say who waited for whom
        raise RuntimeError(
            f"learner rank {os.environ['RANK']} of {os.environ['WORLD_SIZE']}: the {backend} rendezvous at "
            f"{os.environ['MASTER_ADDR']}:{os.environ['MASTER_PORT']} failed within "
            f"{timeout_s if timeout_s is not None else 'the default'} s: not every rank arrived ({err})") from err
    return dist.get_rank(), dist.get_world_size()


def init_engine(model, optimizer: torch.optim.Optimizer, scheduler, stage: int, grad_clip: float, bf16: bool):
    """Wraps `model` and our optimizer/scheduler in a DeepSpeed engine (ZeRO `stage`)."""
    _, world = init_distributed()
    import deepspeed

    engine, _, _, _ = deepspeed.initialize(
        model=model,
        optimizer=optimizer,
        lr_scheduler=scheduler,
        config=deepspeed_config(stage, grad_clip, bf16, world),
    )
    return engine
