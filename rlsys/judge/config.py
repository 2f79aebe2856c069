"""Config of the judge and of the reward."""

from __future__ import annotations

from typing import Literal

from rlsys.config_base import Section


class JudgeConfig(Section):
    kind: Literal["rule", "llm", "http"] = "rule"
    """Judge: `rule` (normalised matching, CPU default), `llm` (an engine) or `http` (OpenAI-compatible endpoint)."""
    model: str = "Qwen/Qwen3-8B-AWQ"
    """Model of the `llm` judge (or the model name sent to the `http` endpoint)."""
    base_url: str = "http://127.0.0.1:8000/v1"
    """Base URL of the OpenAI-compatible endpoint of the `http` judge."""
    api_key_env: str = "OPENAI_API_KEY"
    """Environment variable holding the `http` judge's API key (may be unset for local servers)."""
    replicas: int = 1
    """Number of `JudgeActor` replicas."""
    reward: Literal["approach", "binary", "gave_up_penalty"] = "approach"
    """Reward formula: `approach` (R = a/100 if correct else -(1 - a/100)), `binary`, or with a give-up penalty."""
