"""Judges by name: `build_judge(cfg, engine, tokenizer)` builds the one `judge.kind` names.

    @register_judge("mine")                       # then `judge.kind: mine`
    def _mine(cfg, engine, tokenizer): return MyJudge(cfg)

Built in: `rule` (normalised matching), `exact_match` (string equality), `llm` (an engine on
`judge.model`, `needs_engine`) and `http` (an OpenAI-compatible endpoint). Judges registered
with `cross_checked=True` (the model judges) are wrapped in a `CrossCheckedJudge` unless
`judge.cross_check` is `off` (`all`: the rule judge runs next to the model and agreement is
counted; `unsure`: the rule judge first, only its `unsure` answers go to the model).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

from rlsys.judge.config import JudgeConfig
from rlsys.judge.types import Judge
from rlsys.registry import Registry

__all__ = ["JUDGES", "JudgeSpec", "register_judge", "judge_spec", "judge_needs_engine", "build_judge"]

JudgeFactory = Callable[[JudgeConfig, Any, Any], Judge]


@dataclass(frozen=True)
class JudgeSpec:
    factory: JudgeFactory
    needs_engine: bool = False    # the caller builds an engine on `judge.model` (JudgeActor, commands)
    cross_checked: bool = False   # wrapped in a CrossCheckedJudge per `judge.cross_check`


JUDGES: Registry[JudgeSpec] = Registry("judge.kind")


def register_judge(name: str, needs_engine: bool = False, cross_checked: bool = False) -> Callable[[JudgeFactory], JudgeFactory]:
    return JUDGES.register(name, lambda factory: JudgeSpec(factory, needs_engine, cross_checked))


def judge_spec(kind: str) -> JudgeSpec:
    return JUDGES.lookup(kind)


def judge_needs_engine(kind: str) -> bool:
    return judge_spec(kind).needs_engine


@register_judge("rule")
def _rule(cfg: JudgeConfig, engine: Any, tokenizer: Any) -> Judge:
    from rlsys.judge.rule_judge import RuleJudge

    return RuleJudge(cfg)


@register_judge("exact_match")
def _exact(cfg: JudgeConfig, engine: Any, tokenizer: Any) -> Judge:
    from rlsys.judge.exact_match import ExactMatchJudge

    return ExactMatchJudge(cfg)


@register_judge("position_match")
def _position(cfg: JudgeConfig, engine: Any, tokenizer: Any) -> Judge:
    from rlsys.judge.exact_match import PositionMatchJudge

    return PositionMatchJudge(cfg)


@register_judge("http", cross_checked=True)
def _http(cfg: JudgeConfig, engine: Any, tokenizer: Any) -> Judge:
    from rlsys.judge.http_judge import HTTPJudge

    return HTTPJudge(cfg)


@register_judge("llm", needs_engine=True, cross_checked=True)
def _llm(cfg: JudgeConfig, engine: Any, tokenizer: Any) -> Judge:
    from rlsys.judge.llm_judge import LLMJudge

    return LLMJudge(engine, tokenizer, cfg)


def build_judge(cfg: JudgeConfig, engine: Any = None, tokenizer: Any = None, view: Any = None) -> Judge:
    """The judge `cfg.kind` names; a `needs_engine` judge needs an `Engine` and a tokenizer with a
    chat template (built by the caller from `judge.model`: an actor or a command). `view` is the
    environment's `judge_view(traj, cell_chars, total_chars) -> str`: what a judge that reads the
    trajectory (a `ChatJudge`: llm, http) is shown of it (None: `rubric.render_trajectory`)."""
    spec = judge_spec(cfg.kind)
    if spec.needs_engine and (engine is None or tokenizer is None):
        raise ValueError(f"judge.kind={cfg.kind} needs an engine and a tokenizer (build them from judge.model)")
    judge = spec.factory(cfg, engine, tokenizer)
    if view is not None and hasattr(judge, "view"):
        judge.view = view
    if not spec.cross_checked or cfg.cross_check == "off":
        return judge
    from rlsys.judge.cross_check import CrossCheckedJudge
    from rlsys.judge.rule_judge import RuleJudge

    return CrossCheckedJudge(judge, RuleJudge(cfg), cfg.cross_check)
