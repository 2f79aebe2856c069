"""The phase schedule of a step: which engines are awake when, and the barriers between phases.

- `overlap` (local and cluster mode): generation, judging and learning overlap; nothing sleeps.
- `sequential` (collocated mode, one GPU; selectable anywhere with `train.phase_schedule`):

      generate (rollout awake) | judge (rollout asleep, judge awake) | learn (both asleep; the
      learner releases its cache at the end) | next step: wake rollout, push the adapter ...

  Each switch first puts the leaving engine to sleep, then wakes the entering one, and waits for
  both (a barrier), so two engines are never awake at once; the awake state is what the actors
  report back, and a breach raises. Every sleep and wake is timed and traced.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from rlsys.controller.deadlines import get

PHASES = ("generate", "judge", "learn")
AWAKE_IN = {"generate": "rollout", "judge": "judge", "learn": None}


def schedule_of(cfg: Any) -> str:
    """`overlap` or `sequential` for the config (`train.phase_schedule`, `auto` by mode)."""
    chosen = cfg.train.phase_schedule
    if chosen == "auto":
        return "sequential" if cfg.train.mode == "collocated" else "overlap"
    return chosen


@dataclass
class PhaseEvent:
    phase: str          # the phase being entered
    role: str           # "rollout" / "judge" / "learner"
    action: str         # "sleep" / "wake" / "release"
    seconds: float
    awake: list[str] = field(default_factory=list)  # roles with an engine awake after the event


class Phases:
    """Drives sleep/wake at phase boundaries (no-ops for the overlapped schedule)."""

    def __init__(self, system: Any, schedule: str, timeout_s: float, awake: dict[str, bool] | None = None):
        if schedule not in ("overlap", "sequential"):
            raise ValueError(f"unknown phase schedule {schedule!r}")
        self.system = system
        self.schedule = schedule
        self.timeout_s = timeout_s
        self.phase: str | None = None
        self.trace: list[PhaseEvent] = []
        self._step_events: list[PhaseEvent] = []
        self._phase_started = time.perf_counter()
        self._phase_s: dict[str, float] = {}
        # engines start asleep in the sequential schedule (System.start puts each one to sleep)
        up = schedule == "overlap"
        self.awake: dict[str, bool] = dict(awake) if awake is not None else {"rollout": up, "judge": up}
        self.has_engine: dict[str, bool] = {"rollout": True, "judge": True}

    @property
    def sequential(self) -> bool:
        return self.schedule == "sequential"

    def _actors(self, role: str) -> list[Any]:
        return self.system.rollout if role == "rollout" else self.system.judges

    def _switch(self, role: str, action: str) -> None:
        started = time.perf_counter()
        states = get([getattr(a, action).remote() for a in self._actors(role)], self.timeout_s,
                     f"{action} of the {role} engine(s)", "train.push_timeout_s")
        self.awake[role] = any(not s["asleep"] for s in states)
        self.has_engine[role] = any(s["engine"] for s in states)
        awake = [r for r, up in self.awake.items() if up and self.has_engine[r]]
        event = PhaseEvent(self.phase or "", role, action, time.perf_counter() - started, awake)
        self.trace.append(event)
        self._step_events.append(event)
        if len(awake) > 1:
            raise RuntimeError(f"engines {awake} awake at once in phase {self.phase!r} (sequential schedule)")

    def enter(self, phase: str) -> None:
        """Barrier: the previous phase's engine asleep, then this phase's engine awake."""
        if phase not in PHASES:
            raise ValueError(f"unknown phase {phase!r}")
        now = time.perf_counter()
        if self.phase is not None:
            self._phase_s[self.phase] = self._phase_s.get(self.phase, 0.0) + now - self._phase_started
        self.phase = phase
        self._phase_started = now
        if not self.sequential:
            return
        keep = AWAKE_IN[phase]
        for role in ("rollout", "judge"):
            if role != keep and self.awake[role]:
                self._switch(role, "sleep")
        if keep is not None and not self.awake[keep]:
            self._switch(keep, "wake")

    def after_learn(self) -> None:
        """The learner hands its cached accelerator memory back before the engines wake."""
        if not self.sequential:
            return
        started = time.perf_counter()
        get([rank.release_memory.remote() for rank in self.system.learners], self.timeout_s,
            "the learner's memory release", "train.push_timeout_s")
        event = PhaseEvent("learn", "learner", "release", time.perf_counter() - started,
                           [r for r, up in self.awake.items() if up and self.has_engine[r]])
        self.trace.append(event)
        self._step_events.append(event)

    def step_figures(self) -> dict[str, float]:
        """Per-step figures, then reset: seconds per phase, per sleep/wake, and `phase_switch_s`."""
        now = time.perf_counter()
        if self.phase is not None:
            self._phase_s[self.phase] = self._phase_s.get(self.phase, 0.0) + now - self._phase_started
            self._phase_started = now
        out = {f"phase_{p}_s": s for p, s in self._phase_s.items()}
        for e in self._step_events:
            key = f"{e.action}_{e.role}_s"
            out[key] = out.get(key, 0.0) + e.seconds
        out["phase_switch_s"] = sum(e.seconds for e in self._step_events if e.action in ("sleep", "wake"))
        self._phase_s, self._step_events = {}, []
        return out
