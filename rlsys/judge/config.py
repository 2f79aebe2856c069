"""Config of the judge and of the reward."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator

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
    cross_check: Literal["all", "unsure", "off"] = "all"
    """With an `llm`/`http` judge: `all` = the model judges every answer, the rule judge runs next to
    it and agreement is counted (verdicts stay the model's); `unsure` = the rule judge decides and
    only the answers it is `unsure` of go to the model (counted: `cross_check/rule_decided`,
    `cross_check/sent_to_model`); `off` = the model alone. `true`/`false` read as `all`/`off`."""
    engine: Literal["auto", "hf", "vllm"] = "auto"
    """Engine of the `llm` judge: `auto` is vLLM where CUDA and vLLM are present, else HF transformers."""
    quantization: str | None = None
    """Weight quantization passed to vLLM for the `llm` judge (`awq` for Qwen3-8B-AWQ; None = from the checkpoint)."""
    gpu_memory_utilization: float = 0.3
    """vLLM share of GPU memory for the `llm` judge engine (collocated: take it from the memory plan)."""
    reward: Literal["approach", "binary", "gave_up_penalty"] = "binary"
    """Reward formula: `binary` (default: 1 if correct, else `binary_incorrect_reward`; no answer at all
    `missing_answer_reward`) cannot be raised without raising accuracy (or answering at all).
    Opt-in shaping with the approach score a (gameable: measured reward up, accuracy halved):
    `approach` (R = a/100 if correct else -(1 - a/100)), `gave_up_penalty`, or `approach_bonus`."""

    # --- reward variants ---
    binary_incorrect_reward: float = 0.0
    """`binary` reward of a wrong, `unsure` or given-up answer: 0.0 gives 1/0 rewards, -1.0 gives 1/-1."""
    binary_gave_up_reward: float | None = None
    """`binary` reward of a given-up or missing answer, below a wrong one to keep answering rewarded; None: as wrong."""
    missing_answer_reward: float = Field(-0.5, ge=-10.0, le=10.0)
    """`binary` reward of an episode that ended with no answer at all (turn limit, token budget):
    below a wrong answer's, so that answering is learnt. Set it to `binary_incorrect_reward` to treat both alike."""
    approach_bonus: float = Field(0.0, ge=0.0, le=1.0)
    """Opt-in `binary` shaping: a correct answer earns 1 + approach_bonus * a (a = approach/100);
    wrong answers earn nothing for approach, so the bonus never pays for a wrong answer."""
    gave_up_penalty: float = 0.5
    """`gave_up_penalty` reward: a give-up earns -gave_up_penalty (wrong answers keep -(1 - a/100))."""

    @field_validator("cross_check", mode="before")
    @classmethod
    def _cross_check_from_bool(cls, value: object) -> object:
        return ("all" if value else "off") if isinstance(value, bool) else value

    # --- LLM / HTTP judges: prompt, sampling, parsing ---
    temperature: float = 0.0
    """Sampling temperature of LLM/HTTP judges (0 = greedy, deterministic)."""
    seed: int = 0
    """Sampling seed sent with every judge request."""
    max_new_tokens: int = 256
    """Tokens for the judge's JSON reply (after any thinking)."""
    thinking: bool = False
    """Let a Qwen3 judge think first (`enable_thinking` in its chat template)."""
    thinking_budget: int = 512
    """Most tokens of thinking; at the budget the judge is made to close `</think>` and answer."""
    batch_size: int = 24
    """Judge requests an `llm` judge keeps in flight on its engine at once."""
    max_prompt_tokens: int = 6144
    """Longest rubric prompt (tokens) for an `llm` judge; longer trajectories are rendered shorter."""
    max_cell_chars: int = 800
    """Characters of each code cell and of each tool output shown to the judge (head and tail kept)."""
    max_trajectory_chars: int = 8000
    """Characters of the whole rendered trajectory shown to the judge (middle turns dropped first)."""
    default_approach: float = 50.0
    """Approach score used when a judge reply gives a category but no approach score."""
    parse_retries: int = 1
    """Times an unparseable judge reply is asked again before the verdict is `judge_error`."""

    # --- HTTP judge transport ---
    http_timeout_s: float = 120.0
    """Timeout of one HTTP judge request."""
    http_retries: int = 3
    """Retries of an HTTP request after a 5xx/429 reply, a timeout or a connection error."""
    http_backoff_s: float = 1.0
    """First backoff before an HTTP retry; doubles after each retry."""
    http_concurrency: int = 16
    """Most HTTP judge requests in flight at once."""
    http_chat_template_kwargs: bool = True
    """Send `chat_template_kwargs: {enable_thinking: ...}` (vLLM / `rlsys serve`); off for endpoints that reject it."""

    # --- rule judge ---
    f1_threshold: float = 0.8
    """Rule judge: token F1 against the gold answer (or an alias) at or above which an answer is correct."""
    containment_min_ratio: float = 0.5
    """Rule judge: an answer that is a part of a proper-name gold ("Tenoch Huerta" for "José Tenoch Huerta
    Mejía") is correct with at least this share of the gold's tokens; other parts of the gold are `unsure`."""
    efficient_tool_calls: int = 8
    """Rule judge: most tool calls an episode may make and still earn the efficiency part of the approach score."""
