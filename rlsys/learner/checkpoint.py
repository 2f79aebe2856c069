"""Atomic, verified training checkpoints: adapter, optimizer, scheduler, step, RNG, data position, config.

Layout: `<root>/step-000010/` holding `adapter/` (PEFT format), `trainer.pt` (optimizer,
scheduler), `rng.pt`, `state.json` (step, policy version, data position, config) and, written
last, `manifest.json` (size and sha256 of every other file). A checkpoint is assembled in a
hidden temp directory, fsynced, then renamed into place; older checkpoints are deleted only
after the new one is complete (`keep` newest are kept). Loading verifies the manifest and refuses
a partial or corrupt checkpoint with a message saying what is wrong.
"""

from __future__ import annotations

import hashlib
import json
import logging
import random
import re
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from rlsys.learner.adapter import fsync_tree, load_lora_tensors, read_adapter_dir, replace_dir, save_adapter

log = logging.getLogger(__name__)
STEP_DIR = re.compile(r"^step-(\d+)$")


class CheckpointError(RuntimeError):
    """A checkpoint that cannot be used (missing, partial, corrupt); the message says why."""


@dataclass
class CheckpointState:
    step: int
    version: int
    data_state: dict[str, Any] = field(default_factory=dict)
    config: dict[str, Any] = field(default_factory=dict)
    path: Path | None = None


def rng_state() -> dict[str, Any]:
    state = {"python": random.getstate(), "numpy": np.random.get_state(), "torch": torch.get_rng_state()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict[str, Any]) -> None:
    random.setstate(state["python"])
    np.random.set_state(state["numpy"])
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _files(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*") if p.is_file() and p.name != "manifest.json")


def save_checkpoint(
    root: str | Path,
    step: int,
    model,
    trainer,
    version: int,
    data_state: dict[str, Any] | None = None,
    config: dict[str, Any] | None = None,
    keep: int = 2,
) -> Path:
    """Writes `<root>/step-<step>/` atomically and prunes to the `keep` newest complete ones."""
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    final = root / f"step-{step:06d}"
    tmp = Path(tempfile.mkdtemp(prefix=f".tmp-step-{step:06d}-", dir=root))
    try:
        save_adapter(model, tmp / "adapter", version)
        torch.save(trainer.state_dict(), tmp / "trainer.pt")
        torch.save(rng_state(), tmp / "rng.pt")
        state = {"step": step, "version": version, "data_state": data_state or {}, "config": config or {}}
        (tmp / "state.json").write_text(json.dumps(state, indent=2, default=str))
        manifest = {str(p.relative_to(tmp)): {"size": p.stat().st_size, "sha256": _sha256(p)} for p in _files(tmp)}
        (tmp / "manifest.json").write_text(json.dumps({"step": step, "files": manifest}, indent=2))
        fsync_tree(tmp)
        replace_dir(tmp, final)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    _prune(root, keep)
    log.info("wrote checkpoint %s (policy version %d)", final, version)
    return final


def _step_dirs(root: Path) -> list[tuple[int, Path]]:
    found = [(int(m.group(1)), p) for p in root.iterdir() if p.is_dir() and (m := STEP_DIR.match(p.name))]
    return sorted(found)


def _prune(root: Path, keep: int) -> None:
    complete = [(s, p) for s, p in _step_dirs(root) if verify_checkpoint(p, raise_error=False)]
    for _, path in complete[: max(0, len(complete) - max(1, keep))]:
        shutil.rmtree(path, ignore_errors=True)
    for stale in root.glob(".tmp-step-*"):  # leftovers of interrupted writes
        shutil.rmtree(stale, ignore_errors=True)


def verify_checkpoint(path: str | Path, raise_error: bool = True) -> bool:
    """True when `path` is a complete checkpoint whose files match its manifest."""
    path = Path(path)
    problem = None
    manifest_path = path / "manifest.json"
    if not path.is_dir():
        problem = "does not exist"
    elif not manifest_path.is_file():
        problem = "has no manifest.json (partial: the write did not finish)"
    else:
        try:
            files = json.loads(manifest_path.read_text())["files"]
        except (ValueError, KeyError) as err:
            files, problem = {}, f"has an unreadable manifest.json ({err})"
        for name, meta in files.items():
            file = path / name
            if not file.is_file():
                problem = f"is missing {name}"
            elif file.stat().st_size != meta["size"] or _sha256(file) != meta["sha256"]:
                problem = f"is corrupt: {name} does not match its checksum"
            if problem:
                break
    if problem and raise_error:
        raise CheckpointError(f"checkpoint {path} {problem}; refusing to load it")
    return problem is None


def latest_checkpoint(root: str | Path) -> Path | None:
    """The newest complete checkpoint under `root` (corrupt/partial ones are skipped, with a warning)."""
    root = Path(root)
    if not root.is_dir():
        return None
    for _, path in reversed(_step_dirs(root)):
        if verify_checkpoint(path, raise_error=False):
            return path
        log.warning("skipping incomplete or corrupt checkpoint %s", path)
    return None


def resolve_checkpoint(path: str | Path) -> Path:
    """A checkpoint directory itself, or the latest complete one under a root directory."""
    path = Path(path)
    if (path / "manifest.json").exists() or STEP_DIR.match(path.name):
        verify_checkpoint(path)
        return path
    found = latest_checkpoint(path)
    if found is None:
        raise CheckpointError(f"no complete checkpoint under {path}")
    return found


def load_checkpoint(path: str | Path, model, trainer, restore_rng: bool = True) -> CheckpointState:
    """Restores model adapter, trainer (optimizer, scheduler) and RNG; returns step/version/data state."""
    path = resolve_checkpoint(path)
    _, tensors = read_adapter_dir(path / "adapter")
    load_lora_tensors(model, tensors)
    trainer.load_state_dict(torch.load(path / "trainer.pt", weights_only=False))
    if restore_rng:
        set_rng_state(torch.load(path / "rng.pt", weights_only=False))
    state = json.loads((path / "state.json").read_text())
    log.info("resumed from %s (step %d, policy version %d)", path, state["step"], state["version"])
    return CheckpointState(state["step"], state["version"], state["data_state"], state["config"], path)
