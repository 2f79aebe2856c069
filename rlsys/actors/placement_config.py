"""`cluster:` — the Ray resources each role's replica asks for in `train.mode: cluster`, and the
deadlines of placing and starting them.

A replica's bundle is `{CPU: cpus, GPU: gpus, <role>: 1}`; only nodes that advertise the custom
resource `<role>` take it (see `cluster/local-cluster.sh` and `cluster/cluster.yaml`). The
defaults are the GPU cluster's; `configs/tiny-cluster.yaml` sets CPU fractions for a 2-core
machine.
"""

from __future__ import annotations

from pydantic import Field

from rlsys.config_base import Section


class RoleResources(Section):
    """What one replica (one learner rank) of a role reserves."""

    cpus: float = Field(1.0, ge=0.0, le=512.0)
    """Logical CPUs per replica (fractions allowed)."""
    gpus: float = Field(0.0, ge=0.0, le=16.0)
    """GPUs per replica (the judge gets them only with `judge.kind: llm`)."""


class ClusterConfig(Section):
    """Per-role bundles and start-up deadlines of cluster mode (read only when `train.mode: cluster`)."""

    corpus: RoleResources = RoleResources(cpus=2.0)
    """A `CorpusActor` (LanceDB + MiniLM)."""
    sandbox: RoleResources = RoleResources(cpus=2.0)
    """A `SandboxWorker` (its containers are limited by `sandbox.*`)."""
    rollout: RoleResources = RoleResources(cpus=4.0, gpus=1.0)
    """A `RolloutWorker` (generation engine)."""
    judge: RoleResources = RoleResources(cpus=2.0, gpus=1.0)
    """A `JudgeActor`; `gpus` apply to an LLM judge only."""
    learner: RoleResources = RoleResources(cpus=4.0, gpus=1.0)
    """One learner rank (`learner.gpus` ranks under DeepSpeed, packed on one node)."""
    placement_timeout_s: float = Field(600.0, ge=1.0, le=86400.0)
    """Deadline for a role's placement group (and each learner rank) to be placed; the error names what is missing."""
    rendezvous_timeout_s: float = Field(600.0, ge=5.0, le=86400.0)
    """Deadline for the DeepSpeed learner ranks to find each other (torch.distributed rendezvous)."""
    learner_setup_timeout_s: float = Field(1800.0, ge=10.0, le=86400.0)
    """Deadline for every learner rank to load the model and build its engine (DeepSpeed's first init compiles)."""
