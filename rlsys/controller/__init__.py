"""The single controller of a GRPO run: the loop and what it drives, one idea per file.

- `loop.py`        — `Controller`: setup, the step loop (pipeline depth), eval, close
- `flight.py`      — the rollout groups of one step in flight: launch, collect, judge
- `weight_sync.py` — the adapter push protocol (policy versions, re-sync of restarted workers)
- `phases.py`      — the phase schedule: overlapped, or sequential with engines asleep outside their phase
- `checkpoints.py` — one checkpoint layer: learner state + controller state in one checksummed manifest
- `deadlines.py`   — every remote wait with its deadline (`train.*_timeout_s`); a dead learner rank fails at once
- `questions.py`   — the train / held-out split of the configured questions
- `question_log.py` — `questions.jsonl`: each step's question ids (a resumed run shows the same sequence)
- `entry.py`       — `python -m rlsys.train` / `rlsys train` arguments and main

Only this package and `rlsys/actors` know about Ray.
"""

from __future__ import annotations

__all__ = ["Controller"]


def __getattr__(name: str):
    if name == "Controller":
        from rlsys.controller.loop import Controller

        return Controller
    raise AttributeError(name)
