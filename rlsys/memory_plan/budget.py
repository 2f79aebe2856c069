"""The memory plan's records: items per phase, the plan, its table and its verdict."""

from __future__ import annotations

import io
from dataclasses import dataclass, field
from typing import Any

from rlsys.memory_plan.shapes import ModelShape

GIB = 2**30
ROW_ORDER = (
    "policy weights (learner)", "LoRA + AdamW states (fp32)", "activations", "logits for the loss",
    "rollout engine weights", "rollout engine LoRA slots", "rollout engine workspace + graphs", "rollout KV cache",
    "rollout engine (asleep)", "judge engine weights", "judge engine workspace + graphs", "judge KV cache",
    "judge engine (asleep)", "CUDA contexts", "fragmentation headroom",
)


class MemoryPlanError(RuntimeError):
    """The configuration does not fit on the GPU; the message says what and what to change."""


def gib(nbytes: float) -> str:
    return f"{nbytes / GIB:.2f} GiB"


@dataclass
class Item:
    name: str
    nbytes: int
    note: str = ""
    engine: bool = False   # part of the awake vLLM engine's own budget (gpu_memory_utilization)


@dataclass
class Phase:
    name: str
    items: list[Item] = field(default_factory=list)
    kv_wanted: int = 0     # KV bytes the awake engine would like (every sequence at full length)
    kv_min: int = 0        # KV bytes it must have (one sequence at full length)
    kv_label: str = ""     # name of the KV item, "" when no engine is awake
    kv_block: int = 1      # vLLM sizes each replica's KV pool in whole blocks of this many bytes
    kv_replicas: int = 1   # replicas of the awake engine

    def add(self, name: str, nbytes: float, note: str = "", engine: bool = False) -> None:
        self.items.append(Item(name, int(nbytes), note, engine))

    @property
    def total(self) -> int:
        return sum(item.nbytes for item in self.items)

    @property
    def kv(self) -> int:
        return sum(item.nbytes for item in self.items if self.kv_label and item.name == self.kv_label)

    @property
    def fixed(self) -> int:
        """Everything but the KV cache, which is sized to what is left."""
        return self.total - self.kv

    def biggest(self, n: int = 3) -> list[Item]:
        return sorted(self.items, key=lambda it: it.nbytes, reverse=True)[:n]


@dataclass
class MemoryPlan:
    gpu_bytes: int
    policy: ModelShape
    judge: ModelShape | None
    phases: list[Phase]
    cpu_offload_bytes: int
    hints: dict[str, Any]     # the config values the advice quotes
    config_problems: list[str] = field(default_factory=list)  # set keys vLLM would refuse (`plan.py`)

    def phase(self, name: str) -> Phase | None:
        return next((p for p in self.phases if p.name == name), None)

    @property
    def peak(self) -> Phase:
        return max(self.phases, key=lambda p: p.total)

    @property
    def episodes_resident(self) -> int:
        """Episodes per rollout worker whose KV fits at full length at once."""
        gen = self.phase("generate")
        replicas, per = self.hints["rollout_replicas"], self.hints["per_episode_kv"]
        if not gen or not per or not replicas:
            return 0
        block = self.hints["kv_block"]
        pool = gen.kv // replicas // block * block   # vLLM: whole blocks, one of them the null block
        return max(0, pool - block) // per

    def gpu_memory_utilization(self, phase_name: str, replicas: int) -> float | None:
        """vLLM `gpu_memory_utilization` for one replica of the engine awake in `phase_name`."""
        phase = self.phase(phase_name)
        if phase is None or not phase.kv_label or replicas < 1:
            return None
        own = sum(it.nbytes for it in phase.items if it.engine) + phase.kv
        return round(own / replicas / self.gpu_bytes + self.hints["context_bytes"] / self.gpu_bytes, 3)

    def _advice(self, phase: Phase) -> list[str]:
        h = self.hints
        if phase.name == "generate":
            fit = max(0, (self.gpu_bytes - phase.fixed) // max(1, h["per_episode_kv"] * h["rollout_replicas"]))
            advice = [f"lower rollout.concurrency (now {h['concurrency']}; {fit} episodes fit at full length)",
                      f"lower rollout.max_episode_tokens (now {h['max_episode_tokens']})"]
            for key in ("kv_key", "util_key"):
                if h.get(f"rollout_{key}"):
                    name = "kv_cache_memory_bytes" if key == "kv_key" else "gpu_memory_utilization"
                    advice.insert(0, f"lower rollout.{name} (now {h[f'rollout_{key}']}) or set it to null "
                                     "(the memory plan decides it)")
            if not h["learner_offload"]:
                advice.append("offload the learner's base weights outside the learn phase")
            if h["judge_llm"]:
                advice.append("serve the judge elsewhere (judge.kind=http) or use judge.kind=rule")
            return advice + ["use a smaller policy (model.path)"]
        if phase.name == "judge":
            return ["serve the judge elsewhere (judge.kind=http) or use judge.kind=rule",
                    f"lower rollout.group_size (now {h['group_size']}: the judge's concurrency)",
                    f"lower rollout.max_episode_tokens (now {h['max_episode_tokens']})"]
        advice = []
        if h["micro_batch"] > 1:
            advice.append(f"lower learner.micro_batch (now {h['micro_batch']}) or cap learner.micro_batch_tokens")
        if not h["checkpointing"]:
            advice.append("turn on learner.gradient_checkpointing")
        if not h["chunk"]:
            advice.append("compute the loss over chunks of positions (learner.logits_chunk_tokens, e.g. 1024)")
        return advice + [f"lower rollout.max_episode_tokens (now {h['max_episode_tokens']})"]

    def problems(self, strict: bool = False) -> list[str]:
        """What does not fit, each with what to change; empty when the plan fits."""
        found = list(self.config_problems)
        gpu = self.gpu_bytes
        for phase in self.phases:
            need = phase.fixed + phase.kv_min
            short = ""
            if need > gpu:
                extra = f" + {gib(phase.kv_min)} {phase.kv_label} for one episode" if phase.kv_min else ""
                short = (f"the {phase.name} phase needs {gib(need)} ({gib(phase.fixed)} fixed{extra}) "
                         f"on a {gib(gpu)} GPU")
            elif strict and phase.kv < phase.kv_wanted:
                short = (f"the {phase.name} phase has room for {gib(phase.kv)} of {phase.kv_label} "
                         f"but its concurrency wants {gib(phase.kv_wanted)}")
            if short:
                biggest = ", ".join(f"{it.name} {gib(it.nbytes)}" for it in phase.biggest())
                found.append(f"{short}; biggest: {biggest}.\n    change: " + "; or ".join(self._advice(phase)))
        return found

    def warnings(self) -> list[str]:
        """Fits, but an engine's KV pool holds fewer sequences at full length than are in flight."""
        notes = []
        for phase in self.phases:
            if phase.kv_label and phase.kv_min <= phase.kv < phase.kv_wanted:
                notes.append(f"{phase.kv_label}: {gib(phase.kv)} of the {gib(phase.kv_wanted)} wanted; "
                             "vLLM will queue or preempt sequences beyond it. "
                             + "; or ".join(self._advice(phase)[:2]))
        return notes

    def check(self, strict: bool = False) -> None:
        """Raise `MemoryPlanError` naming what does not fit and what to change."""
        found = self.problems(strict)
        if found:
            head = f"memory plan: {self.policy.name} does not fit on a {gib(self.gpu_bytes)} GPU:"
            raise MemoryPlanError(head + "\n  - " + "\n  - ".join(found))

    def render(self, width: int = 110) -> str:
        """The plan as a text table (rich), one column per phase, plus KV and CPU notes."""
        from rich.console import Console
        from rich.table import Table

        names: list[str] = []
        notes: dict[str, str] = {}
        for phase in self.phases:
            for item in phase.items:
                if item.name not in names:
                    names.append(item.name)
                    notes[item.name] = item.note
        names.sort(key=lambda n: ROW_ORDER.index(n) if n in ROW_ORDER else len(ROW_ORDER))
        table = Table(title=f"memory plan: {self.policy.name} on a {gib(self.gpu_bytes)} GPU (GiB)")
        table.add_column("component")
        for phase in self.phases:
            table.add_column(phase.name, justify="right")
        table.add_column("how", style="dim")
        for name in names:
            cells = []
            for phase in self.phases:
                item = next((it for it in phase.items if it.name == name), None)
                cells.append(f"{item.nbytes / GIB:.2f}" if item else "-")
            table.add_row(name, *cells, notes[name])
        table.add_section()
        table.add_row("total", *[f"{p.total / GIB:.2f}" for p in self.phases], "")
        table.add_row("free", *[f"{(self.gpu_bytes - p.total) / GIB:.2f}" for p in self.phases], "")
        buffer = io.StringIO()
        console = Console(file=buffer, width=width, color_system=None, force_terminal=False)
        console.print(table)
        lines = [f"peak: {self.peak.name} phase, {gib(self.peak.total)} of {gib(self.gpu_bytes)}",
                 f"rollout KV: {self.episodes_resident} episodes of {self.hints['max_episode_tokens']} tokens "
                 f"at once per worker (rollout.concurrency {self.hints['concurrency']})",
                 f"CPU RAM for sleeping engines' weights: {gib(self.cpu_offload_bytes)}"]
        for name, role in (("generate", "rollout"), ("judge", "judge")):
            util = self.gpu_memory_utilization(name, self.hints[f"{role}_replicas"])
            if util is not None:
                lines.append(f"vLLM gpu_memory_utilization of the {role} engine: {util}")
        lines += [f"warning: {w}" for w in self.warnings()]
        lines += [f"DOES NOT FIT: {p}" for p in self.problems()]
        return buffer.getvalue() + "\n".join(lines) + "\n"

    def to_dict(self) -> dict[str, Any]:
        return {
            "gpu_gib": self.gpu_bytes / GIB,
            "policy": self.policy.name,
            "judge": self.judge.name if self.judge else None,
            "phases": {p.name: {"total_gib": p.total / GIB, **{it.name: it.nbytes / GIB for it in p.items}}
                       for p in self.phases},
            "peak_phase": self.peak.name,
            "episodes_resident": self.episodes_resident,
            "cpu_offload_gib": self.cpu_offload_bytes / GIB,
            "fits": not self.problems(),
        }
