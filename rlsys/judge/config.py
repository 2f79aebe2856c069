"""Config of the judge and of the reward."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator, model_validator

from rlsys.config_base import Section, require


class JudgeConfig(Section):
    kind: str = Field("rule", min_length=1)
    """Judge, by registered name (`rlsys.judge.factory`): `rule` (normalised matching, CPU default),
    `exact_match` (string equality), `llm` (an engine) or `http` (OpenAI-compatible endpoint).
    Unset in a preset, it is the environment's `default_judge`."""
    model: str = "Qwen/Qwen3-8B-AWQ"
    """Model of the `llm` judge (or the model name sent to the `http` endpoint)."""
    base_url: str = "http://127.0.0.1:8000/v1"
    """Base URL of the OpenAI-compatible endpoint of the `http` judge."""
    api_key_env: str = "OPENAI_API_KEY"
    """Environment variable holding the `http` judge's API key (may be unset for local servers)."""
    replicas: int = Field(1, ge=1)
    """Number of `JudgeActor` replicas."""
    cross_check: Literal["all", "unsure", "off"] = "all"
    """With an `llm`/`http` judge: `all` = the model judges every answer, the rule judge runs next to
    it and agreement is counted (verdicts stay the model's); `unsure` = the rule judge decides and
    only the answers it is `unsure` of go to the model (counted: `cross_check/rule_decided`,
    `cross_check/sent_to_model`); `off` = the model alone. `true`/`false` read as `all`/`off`."""
    engine: str = Field("auto", min_length=1)
    """Engine of the `llm` judge, by registered name (`hf`, `vllm`, ...): `auto` is vLLM where CUDA and vLLM
    are present, else HF transformers."""

    @field_validator("engine")
    @classmethod
    def _registered_engine(cls, value: str) -> str:
        from rlsys.rollout.engines import check_engine_name

        return check_engine_name(value, allow_auto=True)
    quantization: str | None = None
    """Weight quantization passed to vLLM for the `llm` judge (`awq` for Qwen3-8B-AWQ; None = from the checkpoint)."""
    gpu_memory_utilization: float = Field(0.3, gt=0, le=1)
    """vLLM share of GPU memory for the `llm` judge engine (collocated: take it from the memory plan)."""
    reward: str = Field("binary", min_length=1)
    """Reward formula, by registered name (`rlsys.judge.reward.REWARDS`; unset in a preset: the
    environment's `default_reward`): `binary` (default: 1 if correct, else `binary_incorrect_reward`; no answer at all
    `missing_answer_reward`) cannot be raised without raising accuracy (or answering at all).
    Opt-in shaping with the approach score a (gameable: measured reward up, accuracy halved):
    `approach` (R = a/100 if correct else -(1 - a/100)), `gave_up_penalty`, or `approach_bonus`."""

    # --- reward variants ---
    binary_incorrect_reward: float = Field(0.0, lt=1)
    """`binary` reward of a wrong, `unsure` or given-up answer: 0.0 gives 1/0 rewards, -1.0 gives 1/-1."""
    binary_gave_up_reward: float | None = Field(None, lt=1)
    """`binary` reward of a given-up or missing answer, below a wrong one to keep answering rewarded; None: as wrong."""
    missing_answer_reward: float = Field(-0.5, ge=-10.0, le=10.0)
    """`binary` reward of an episode that ended with no answer at all (turn limit, token budget):
    below a wrong answer's, so that answering is learnt. Set it to `binary_incorrect_reward` to treat both alike."""
    approach_bonus: float = Field(0.0, ge=0.0, le=1.0)
    """Opt-in `binary` shaping: a correct answer earns 1 + approach_bonus * a (a = approach/100);
    wrong answers earn nothing for approach, so the bonus never pays for a wrong answer."""
    gave_up_penalty: float = Field(0.5, ge=0)
    """`gave_up_penalty` reward: a give-up earns -gave_up_penalty (wrong answers keep -(1 - a/100))."""
    recovery_bonus: float = Field(0.0, ge=0.0, le=1.0)
    """Opt-in shaping (any variant): extra reward of a correct answer that a cell printed after an observed
    miss (an error, an empty search, no output, "not found", a section read without the answer;
    `rlsys/judge/search_recovery.py`), read from the tool outputs; a lucky guess or a first search that
    hit earns nothing extra. 0 = off. Misses and recoveries are logged per step either way."""

    @field_validator("kind")
    @classmethod
    def _registered_judge(cls, value: str) -> str:
        from rlsys.judge.factory import judge_spec

        judge_spec(value)  # ValueError naming the registered judges
        return value

    @field_validator("reward")
    @classmethod
    def _registered_reward(cls, value: str) -> str:
        from rlsys.judge.reward import REWARDS

        if value not in REWARDS:
            raise ValueError(f"unknown reward {value!r} (registered: {', '.join(sorted(REWARDS))})")
        return value

    @field_validator("cross_check", mode="before")
    @classmethod
    def _cross_check_from_bool(cls, value: object) -> object:
        return ("all" if value else "off") if isinstance(value, bool) else value

    # --- LLM / HTTP judges: prompt, sampling, parsing ---
    temperature: float = Field(0.0, ge=0)
    """Sampling temperature of LLM/HTTP judges (0 = greedy, deterministic)."""
    seed: int = Field(0, ge=0)
    """Sampling seed sent with every judge request."""
    max_new_tokens: int = Field(256, ge=1)
    """Tokens for the judge's JSON reply (after any thinking)."""
    thinking: bool = False
    """Let a Qwen3 judge think first (`enable_thinking` in its chat template)."""
    thinking_budget: int = Field(512, ge=0)
    """Most tokens of thinking; at the budget the judge is made to close `</think>` and answer."""

    @model_validator(mode="after")
    def _cross_checks(self) -> "JudgeConfig":
        return require(
            self,
            ("model", self.kind == "rule" or bool(self.model.strip()), f"judge.kind={self.kind} needs a model name"),
            ("base_url", self.kind != "http" or self.base_url.startswith(("http://", "https://")),
             "judge.kind=http needs an http:// or https:// base URL"),
            ("thinking_budget", not self.thinking or self.thinking_budget >= 1, "must be >= 1 when thinking is on"),
        )

    batch_size: int = Field(24, ge=1)
    """Judge requests an `llm` judge keeps in flight on its engine at once."""
    max_prompt_tokens: int = Field(6144, ge=1)
    """Longest rubric prompt (tokens) for an `llm` judge; longer trajectories are rendered shorter."""
    max_cell_chars: int = Field(800, ge=1)
    """Characters of each code cell and of each tool output shown to the judge (head and tail kept)."""
    max_trajectory_chars: int = Field(8000, ge=1)
    """Characters of the whole rendered trajectory shown to the judge (middle turns dropped first)."""
    default_approach: float = Field(50.0, ge=0, le=100)
    """Approach score used when a judge reply gives a category but no approach score."""
    parse_retries: int = Field(1, ge=0)
    """Times an unparseable judge reply is asked again before the verdict is `judge_error`."""

    # --- HTTP judge transport ---
    http_timeout_s: float = Field(120.0, gt=0)
    """Timeout of one HTTP judge request."""
    http_retries: int = Field(3, ge=0)
    """Retries of an HTTP request after a 5xx/429 reply, a timeout or a connection error."""
    http_backoff_s: float = Field(1.0, ge=0)
    """First backoff before an HTTP retry; doubles after each retry."""
    http_concurrency: int = Field(16, ge=1)
    """Most HTTP judge requests in flight at once."""
    http_chat_template_kwargs: bool = True
    """Send `chat_template_kwargs: {enable_thinking: ...}` (vLLM / `rlsys serve`); off for endpoints that reject it."""

    # --- rule judge ---
    f1_threshold: float = Field(0.8, gt=0, le=1)
    """Rule judge: token F1 against the gold answer (or an alias) at or above which an answer is correct."""
    containment_min_ratio: float = Field(0.5, ge=0, le=1)
    """Rule judge: an answer that is a part of a proper-name gold ("Tenoch Huerta" for "José Tenoch Huerta
    Mejía") is correct with at least this share of the gold's tokens; other parts of the gold are `unsure`."""
    efficient_tool_calls: int = Field(8, ge=0)
    """Rule judge: most tool calls an episode may make and still earn the efficiency part of the approach score."""
