"""Where rlsys keeps what it builds (index, tiny model, sandbox image marker, runs)."""

from __future__ import annotations

import os
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent


def artifacts_dir() -> Path:
    """Root of built artifacts: $RLSYS_ARTIFACTS, else `artifacts/` next to the package."""
    return Path(os.environ.get("RLSYS_ARTIFACTS", REPO_ROOT / "artifacts"))


def shared_data_dir() -> Path:
    """The recovered real data (`../shared/data` beside the repo), or $RLSYS_SHARED_DATA."""
    return Path(os.environ.get("RLSYS_SHARED_DATA", REPO_ROOT.parent / "shared" / "data"))
