"""Environments by name and by dotted path; the built-ins' behaviour; config defaults from the env."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from rlsys.config import Config, ConfigError, load_config
from rlsys.corpus.types import Question
from rlsys.env import Action, EnvSettings, Environment, build_environment, register_environment
from rlsys.env.registry import ENVIRONMENTS, environment_of

USER_ENVS = str(Path(__file__).parent / "user_envs")


@pytest.fixture
def user_path(monkeypatch):
    monkeypatch.syspath_prepend(USER_ENVS)
    yield
    sys.modules.pop("upper_env", None)


def test_builtins_are_registered_and_satisfy_the_protocol():
    for name in ("wiki_search", "reverse_text"):
        env = build_environment(name, EnvSettings(max_turns=2))
        assert isinstance(env, Environment) and env.name == name
    assert {"wiki_search", "reverse_text"} <= set(ENVIRONMENTS)


def test_unknown_names_and_bad_paths_are_clear_errors(user_path):
    with pytest.raises(ValueError, match="unknown environment 'wiki'.*registered: .*wiki_search"):
        build_environment("wiki")
    with pytest.raises(ValueError, match="cannot import no_such_pkg"):
        build_environment("no_such_pkg.envs:Env")
    with pytest.raises(ValueError, match="has no attribute Nope"):
        build_environment("upper_env:Nope")
    with pytest.raises(ValueError, match="plain words"):
        register_environment("a.b")


def test_a_factory_that_builds_no_environment_is_refused(user_path):
    @register_environment("broken_env_for_test")
    def broken(settings):
        return object()

    try:
        with pytest.raises(TypeError, match="lacking .*initial_messages"):
            build_environment("broken_env_for_test")
    finally:
        ENVIRONMENTS.pop("broken_env_for_test")


def test_a_user_environment_loads_by_dotted_path_and_sets_the_judge_defaults(user_path):
    cfg = Config.model_validate({"env": {"name": "upper_env:UpperCase"}})
    env = environment_of(cfg)
    assert type(env).__name__ == "UpperCase" and not env.uses_sandbox
    assert (cfg.judge.kind, cfg.judge.reward) == ("exact_match", "approach")
    train, test = env.questions(cfg)
    assert len(train) == 8 and len(test) == 4 and test[0].answer == "JAR"
    # the resolved defaults survive the round trip to the actors
    assert Config.model_validate(cfg.model_dump()).judge.kind == "exact_match"
    # a preset's explicit judge wins over the environment's default
    assert Config.model_validate({"env": {"name": "upper_env:UpperCase"}, "judge": {"kind": "rule"}}).judge.kind == "rule"


def test_wiki_search_keeps_the_rule_judge_default_and_refuses_options():
    assert Config().judge.kind == "rule" and Config().env.name == "wiki_search"
    with pytest.raises(ConfigError, match="env.options: wiki_search takes none"):
        load_config("configs/tiny-cpu.yaml", ["env.options={x: 1}"])


def test_wiki_search_actions_follow_the_turn_grammar():
    env = build_environment("wiki_search")
    assert env.parse_turn("<python>\nprint(1)\n</python>") == Action(cell="print(1)", answer=None)
    assert env.parse_turn("<answer> Paris </answer>") == Action(cell=None, answer="Paris")
    assert env.parse_turn("hello").cell is None and env.parse_turn("<python>  </python>").empty_cell
    assert env.setup_cell(Question("q", "Who?", "x")) is None
    env = build_environment("wiki_search", EnvSettings(question_variable=True))
    assert env.setup_cell(Question("q", "Who?", "x")) == "question = 'Who?'"


def test_reverse_text_questions_are_reproducible_disjoint_and_reversed():
    env = build_environment("reverse_text", EnvSettings(options={"train_size": 50, "test_size": 20, "max_len": 3}))
    train, test = env.questions()
    assert len(train) == 50 and len(test) == 20
    assert not {q.question for q in train} & {q.question for q in test}
    assert all(q.answer == q.question[::-1] and q.question.isdigit() for q in train + test)
    assert train == build_environment("reverse_text", EnvSettings(options={"train_size": 50, "test_size": 20,
                                                                           "max_len": 3})).questions()[0]
    assert env.parse_turn("<think>\nhm\n</think>\n\n 321 <|im_end|>") == Action(answer="321")
    assert env.parse_turn("21x0") == Action(answer="21") and env.parse_turn("x21") == Action(answer="")
    assert env.initial_messages(train[0]) == [{"role": "user", "content": f"Reverse: {train[0].question}"}]
    assert not env.uses_sandbox and env.tool_server(None) is None


@pytest.mark.parametrize(("options", "message"), [
    ({"size": 3}, "no option"), ({"min_len": 0}, "min_len: must be an integer >= 1"),
    ({"min_len": 3, "max_len": 2}, "min_len <= max_len"), ({"alphabet": "a"}, "two distinct"),
    ({"train_size": 100, "test_size": 20, "min_len": 1, "max_len": 2}, r"only 100 \(palindromes left out\) exist"),
])
def test_reverse_text_options_are_checked(options, message):
    with pytest.raises(ValueError, match=message):
        build_environment("reverse_text", EnvSettings(options=options))


async def test_exact_match_judge_and_its_shaped_reward():
    from rlsys.judge.config import JudgeConfig
    from rlsys.judge.exact_match import ExactMatchJudge
    from rlsys.judge.reward import reward

    judge = ExactMatchJudge()
    cfg = JudgeConfig(kind="exact_match", reward="approach")
    right, close, far, none = (judge.verdict(a, "321") for a in ("321", "31", "xyz", None))
    assert right.correct and not close.correct and not far.correct and none.missing_answer
    assert reward(right, cfg) == 1.0 and reward(far, cfg) == -1.0
    assert -1.0 < reward(close, cfg) < 0.0  # partial credit for similarity, never positive


def test_position_match_gives_positional_credit_and_reverse_text_defaults_to_it():
    from rlsys.judge.config import JudgeConfig
    from rlsys.judge.exact_match import PositionMatchJudge
    from rlsys.judge.reward import reward

    cfg = Config.model_validate({"env": {"name": "reverse_text"}})
    assert (cfg.judge.kind, cfg.judge.reward) == ("position_match", "approach")
    judge, rcfg = PositionMatchJudge(), JudgeConfig(kind="position_match", reward="approach")
    copy, half, right = (judge.verdict(a, "21") for a in ("12", "22", "21"))
    # a copy is no part of a reversal (difflib would give it 0.5); one right position is half
    assert (copy.approach, half.approach, right.approach) == (0.0, 50.0, 100.0)
    assert right.correct and not half.correct
    assert (reward(copy, rcfg), reward(half, rcfg), reward(right, rcfg)) == (-1.0, -0.5, 1.0)
