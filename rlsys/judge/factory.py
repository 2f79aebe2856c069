"""`build_judge(cfg, engine, tokenizer)`: the judge `judge.kind` names, ready to `score`."""

from __future__ import annotations

from typing import Any

from rlsys.judge.config import JudgeConfig
from rlsys.judge.cross_check import CrossCheckedJudge
from rlsys.judge.http_judge import HTTPJudge
from rlsys.judge.llm_judge import LLMJudge
from rlsys.judge.rule_judge import RuleJudge
from rlsys.judge.types import Judge


def build_judge(cfg: JudgeConfig, engine: Any = None, tokenizer: Any = None) -> Judge:
    """`rule` needs nothing; `http` needs the endpoint in `cfg`; `llm` needs an `Engine` and a
    tokenizer with a chat template (built by the caller: an actor or a command). Model judges
    are wrapped in a `CrossCheckedJudge` unless `cfg.cross_check` is `off` (`all`: rule judge next to
    the model, agreement counted; `unsure`: rule judge first, only its `unsure` answers to the model)."""
    if cfg.kind == "rule":
        return RuleJudge(cfg)
    if cfg.kind == "http":
        judge: Judge = HTTPJudge(cfg)
    elif cfg.kind == "llm":
        if engine is None or tokenizer is None:
            raise ValueError("judge.kind=llm needs an engine and a tokenizer (build them from judge.model)")
        judge = LLMJudge(engine, tokenizer, cfg)
    else:
        raise ValueError(f"unknown judge.kind {cfg.kind!r}")
    return judge if cfg.cross_check == "off" else CrossCheckedJudge(judge, RuleJudge(cfg), cfg.cross_check)
