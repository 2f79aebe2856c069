"""LoRA adapter export and import: in memory (for the weight push) and in PEFT's on-disk format.

In memory, an adapter is `dict[str, Tensor]` keyed by the names PEFT writes to
`adapter_model.safetensors` (`base_model.model.<module path>.lora_A.weight`, ...; no adapter
name), CPU tensors, so `peft.set_peft_model_state_dict(model, tensors)` (what an HF engine's
`load_adapter(version, tensors)` does) puts them into any PEFT model with the same LoRA config.
On disk, `write_adapter_dir` produces what `PeftModel.save_pretrained` writes
(`adapter_config.json` + `adapter_model.safetensors`), loadable by `peft` and vLLM, plus
`rlsys_adapter.json` with the policy version. Directories are written atomically.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path

import torch

VERSION_FILE = "rlsys_adapter.json"


def lora_tensors(model) -> dict[str, torch.Tensor]:
    """The LoRA tensors of a PEFT model (active adapter), detached CPU copies, PEFT names."""
    from peft import get_peft_model_state_dict

    module = getattr(model, "module", model)  # a DeepSpeed engine wraps the PEFT model
    state = get_peft_model_state_dict(module, save_embedding_layers=False)
    return {name: t.detach().to("cpu", copy=True).contiguous() for name, t in state.items()}


def load_lora_tensors(model, tensors: dict[str, torch.Tensor]) -> None:
    """Sets a PEFT model's LoRA weights from `lora_tensors` output; every LoRA weight must be given."""
    from peft import set_peft_model_state_dict

    module = getattr(model, "module", model)
    expected = set(lora_tensors(module))
    missing, unexpected = expected - set(tensors), set(tensors) - expected
    if missing or unexpected:
        raise ValueError(
            f"adapter does not match the model: {len(missing)} missing (e.g. {sorted(missing)[:2]}), "
            f"{len(unexpected)} unexpected (e.g. {sorted(unexpected)[:2]})"
        )
    set_peft_model_state_dict(module, tensors)


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def fsync_tree(path: Path) -> None:
    """fsyncs every file below `path` and the directories themselves."""
    for root, _, files in os.walk(path):
        for name in files:
            with open(Path(root) / name, "rb+") as fh:
                os.fsync(fh.fileno())
        _fsync_dir(Path(root))


def replace_dir(tmp: Path, final: Path) -> None:
    """Moves a complete `tmp` directory to `final`, replacing an older one only at the end."""
    fsync_tree(tmp)
    old = None
    if final.exists():
        old = final.with_name(f".{final.name}.old-{os.getpid()}")
        os.replace(final, old)
    os.replace(tmp, final)
    _fsync_dir(final.parent)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


def write_adapter_dir(
    out_dir: str | Path,
    tensors: dict[str, torch.Tensor],
    peft_config,
    version: int,
    base_model: str | None = None,
) -> Path:
    """Writes tensors + a PEFT `LoraConfig` as a `save_pretrained`-compatible adapter directory."""
    from safetensors.torch import save_file

    out = Path(out_dir)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.tmp-", dir=out.parent))
    try:
        config = peft_config.to_dict()
        if base_model is not None:
            config["base_model_name_or_path"] = base_model
        for key, value in list(config.items()):
            if isinstance(value, set):
                config[key] = sorted(value)
        (tmp / "adapter_config.json").write_text(json.dumps(config, indent=2, default=str))
        save_file({k: v.contiguous() for k, v in tensors.items()}, str(tmp / "adapter_model.safetensors"),
                  metadata={"format": "pt"})
        (tmp / VERSION_FILE).write_text(json.dumps({"version": int(version), "tensors": len(tensors)}))
        replace_dir(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return out


def save_adapter(model, out_dir: str | Path, version: int) -> Path:
    """The PEFT model's active adapter to `out_dir` (PEFT on-disk format + version)."""
    module = getattr(model, "module", model)
    config = module.peft_config[module.active_adapter]
    return write_adapter_dir(out_dir, lora_tensors(module), config, version, config.base_model_name_or_path)


def read_adapter_dir(path: str | Path) -> tuple[int, dict[str, torch.Tensor]]:
    """(version, tensors) of an adapter directory written by `write_adapter_dir`/`save_pretrained`."""
    from safetensors.torch import load_file

    path = Path(path)
    weights = path / "adapter_model.safetensors"
    if not weights.is_file():
        raise FileNotFoundError(f"{path} is not an adapter directory (no adapter_model.safetensors)")
    version_file = path / VERSION_FILE
    version = json.loads(version_file.read_text())["version"] if version_file.is_file() else 0
    return int(version), load_file(str(weights))
