"""`python -m rlsys.train`: the training entry point (what `ray job submit` runs); the controller
itself lives in `rlsys/controller/` (`Controller` is re-exported here for existing callers).

    python -m rlsys.train --config configs/qwen3-4b-cluster.yaml [--set key=value ...] [--resume]
"""

from __future__ import annotations

from rlsys.controller.entry import add_train_arguments, main, run_training

__all__ = ["Controller", "add_train_arguments", "main", "run_training"]


def __getattr__(name: str):
    if name == "Controller":
        from rlsys.controller.loop import Controller

        return Controller
    raise AttributeError(name)


if __name__ == "__main__":
    raise SystemExit(main())
