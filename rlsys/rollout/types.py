"""Types shared with other components: sampling, engines and trajectories."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from enum import Enum
from typing import Any, Protocol

from rlsys.corpus.types import Question
from rlsys.sandbox.types import ExecResult

__all__ = ["SamplingParams", "Generation", "Engine", "EndReason", "Turn", "Trajectory", "Question"]


@dataclass
class SamplingParams:
    temperature: float = 1.0
    top_p: float = 1.0
    max_new_tokens: int = 512
    stop: list[str] = field(default_factory=list)  # generation stops after any of these strings
    seed: int | None = None


@dataclass
class Generation:
    """Tokens one `Engine.generate` call sampled.

    `logprobs[i]` is `log softmax(logits_i / T)[token_ids[i]]` with T = `SamplingParams.temperature`
    (the temperature-scaled distribution, before any top-p truncation; T == 0 is greedy and records
    the T = 1 log-prob). The learner recomputes it with a plain forward pass of the same weights
    and divides its logits by `Trajectory.temperature` before the log-softmax, so the two agree
    (exactly when top_p == 1). vLLM: `logprobs_mode="processed_logprobs"` gives the same quantity
    when top_p == 1; with top_p < 1 it renormalises over the nucleus, so `rollout.top_p < 1` is
    refused for `rollout.engine: vllm` (`engines.check_rollout_engine`).
    """

    token_ids: list[int]          # sampled tokens, exactly as sampled
    logprobs: list[float]         # log-prob of each sampled token under the behaviour policy
    text: str                     # decoded sampled tokens
    finish_reason: str            # "stop" (stop string or EOS) or "length"
    policy_version: int = 0       # adapter version that produced the tokens


class Engine(Protocol):
    """A generation engine (HF transformers or vLLM) behind one async interface."""

    async def generate(self, prompt_ids: list[int], params: SamplingParams) -> Generation: ...

    async def load_adapter(self, version: int, tensors: dict[str, Any]) -> None: ...

    async def sleep(self) -> None: ...  # frees accelerator memory; a no-op where it cannot (`VLLMEngine.can_sleep`)

    async def wake(self) -> None: ...


class EndReason(str, Enum):
    ANSWERED = "answered"        # the model wrote <answer>
    MAX_TURNS = "max_turns"      # ran out of turns without an answer
    BUDGET = "budget"            # ran out of the episode token budget
    INFRA_ERROR = "infra_error"  # sandbox / corpus / engine failure: excluded from training


@dataclass
class Turn:
    text: str                          # the assistant's text of this turn
    cell: str | None = None            # the code cell it wrote, if any
    result: ExecResult | None = None   # what running the cell returned


@dataclass
class Trajectory:
    """One episode, token-exact. `loss_mask[i] == 1` exactly for sampled tokens."""

    episode_id: str
    question: Question
    token_ids: list[int]
    loss_mask: list[int]
    behaviour_logprobs: list[float]   # same length as token_ids; 0.0 where loss_mask == 0
    prompt_len: int
    turns: list[Turn] = field(default_factory=list)
    answer: str | None = None
    policy_version: int = 0
    temperature: float = 1.0
    end_reason: EndReason = EndReason.MAX_TURNS
    timings: dict[str, float] = field(default_factory=dict)
    # filled after judging
    reward: float | None = None
    failure: str | None = None  # "infra_error" / "judge_error": excluded from group statistics
    sampling_seed: int | None = None  # seed of this rollout's sampling (with `temperature`, drawn per rollout)
    error: str | None = None          # what failed, when end_reason is INFRA_ERROR

    @property
    def excluded(self) -> bool:
        return self.failure is not None or self.end_reason is EndReason.INFRA_ERROR

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["end_reason"] = self.end_reason.value
        data["turns"] = [
            {"text": t.text, "cell": t.cell, "result": t.result.to_dict() if t.result else None} for t in self.turns
        ]
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "Trajectory":
        data = dict(data)
        data["question"] = Question(**data["question"])
        data["end_reason"] = EndReason(data["end_reason"])
        data["turns"] = [
            Turn(t["text"], t.get("cell"), ExecResult.from_dict(t["result"]) if t.get("result") else None)
            for t in data.get("turns", [])
        ]
        return cls(**data)
