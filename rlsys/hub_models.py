"""Hub model names (`model.path: Qwen/Qwen3-4B`, `judge.model`) resolved to local snapshots.

Actors run with `HF_HUB_OFFLINE=1` and take `model.path` as a directory, so the driver resolves
hub names once, before any actor starts:

    cfg = resolve_hub_models(cfg)   # in the controller's setup

A name that is a local directory (or the tiny model, built locally) is left as it is. A hub name
is downloaded with `huggingface_hub.snapshot_download` (from the cache only when
`HF_HUB_OFFLINE` is set); when it is neither cached nor reachable, `HubModelError` says so in
one line.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from rlsys.config import Config

HUB_NAME = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+$")


class HubModelError(ValueError):
    """A hub model that is neither in the local cache nor downloadable."""


def is_hub_name(name: str) -> bool:
    """`owner/name` that is not an existing path (`./x`, `/x`, `~/x` are always paths)."""
    if name.startswith(("/", "./", "../", "~")) or Path(name).expanduser().exists():
        return False
    return bool(HUB_NAME.match(name))


def _offline() -> bool:
    return os.environ.get("HF_HUB_OFFLINE", "").strip().lower() in ("1", "true", "yes", "on")


def resolve_model(name: str, setting: str = "model.path", cache_dir: str | Path | None = None) -> str:
    """The local directory of `name`: itself when local, else the hub snapshot (downloaded if needed)."""
    if not is_hub_name(name):
        return name
    from huggingface_hub import snapshot_download

    offline = _offline()
    try:
        return snapshot_download(name, local_files_only=offline, cache_dir=cache_dir)
    except Exception as err:  # noqa: BLE001 - offline cache miss, network or auth: one line either way
        where = "HF_HUB_OFFLINE is set" if offline else f"the hub cannot be reached ({type(err).__name__})"
        raise HubModelError(
            f"{setting} {name!r} is not in the Hugging Face cache and {where}: download it where there "
            f"is network (`huggingface-cli download {name}`) or set {setting} to a local directory"
        ) from err


def resolve_hub_models(cfg: Config, cache_dir: str | Path | None = None) -> Config:
    """`cfg` with `model.path` and (for an `llm` judge) `judge.model` as local directories."""
    model = cfg.model
    if not model.tiny:
        model = model.model_copy(update={"path": resolve_model(model.path, "model.path", cache_dir)})
    judge = cfg.judge
    if judge.kind == "llm":
        judge = judge.model_copy(update={"model": resolve_model(judge.model, "judge.model", cache_dir)})
    return cfg.model_copy(update={"model": model, "judge": judge})
