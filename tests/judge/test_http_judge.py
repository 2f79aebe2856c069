"""HTTPJudge against a scripted loopback server: retries with backoff on 5xx/429/timeouts,
no retry on 4xx, one repair retry on an unparseable reply, then judge_error; concurrency cap."""

from __future__ import annotations

import time

import pytest

from rlsys.judge.config import JudgeConfig
from rlsys.judge.http_judge import HTTPJudge
from rlsys.judge.server_thread import ServerThread
from rlsys.judge.types import Category

from .scripted_server import ScriptedChat
from .trajectories import answer_turn, make_traj, search_turn

pytestmark = pytest.mark.timeout(120)


@pytest.fixture(scope="module")
def scripted():
    chat = ScriptedChat(slow_s=1.5)
    with ServerThread(chat.app) as server:
        chat.url = server.url
        yield chat


def judge_for(scripted, **overrides) -> HTTPJudge:
    values = dict(base_url=scripted.url + "/v1", model="judge", http_timeout_s=0.5, http_retries=2,
                  http_backoff_s=0.01, http_concurrency=4, api_key_env="RLSYS_TEST_JUDGE_KEY")
    values.update(overrides)
    return HTTPJudge(JudgeConfig(**values))


def traj(script: str, tag: str):
    question = f"Which actor played young Gavin? script={script} tag={tag}"
    return make_traj("Ty Simpkins", question=question, turns=[search_turn(["Ty Simpkins as young Gavin"]), answer_turn("Ty Simpkins")])


async def test_ok_replies_parse(scripted):
    judge = judge_for(scripted)
    verdicts = await judge.score([traj("ok", f"ok{i}") for i in range(5)])
    assert [v.category for v in verdicts] == [Category.CORRECT] * 5
    assert all(v.approach == 73.0 for v in verdicts)
    body = scripted.bodies[-1]
    assert body["model"] == "judge" and body["temperature"] == 0.0
    assert body["chat_template_kwargs"] == {"enable_thinking": False}
    assert "Gold answer: Ty Simpkins" in body["messages"][1]["content"]


async def test_5xx_is_retried_with_backoff(scripted):
    judge = judge_for(scripted)
    (v,) = await judge.score([traj("500,503,ok", "a")])
    assert v.category is Category.CORRECT
    assert scripted.calls["script=500,503,ok"] == 3 and judge.stats["http_retries"] == 2
    (v,) = await judge.score([traj("429,ok", "b")])
    assert v.category is Category.CORRECT and scripted.calls["script=429,ok"] == 2


async def test_persistent_500_is_judge_error_not_wrong(scripted):
    judge = judge_for(scripted)
    (v,) = await judge.score([traj("500", "c")])
    assert v.category is Category.JUDGE_ERROR and "HTTP 500" in v.rationale
    assert scripted.calls["script=500"] == 3  # 1 + http_retries
    assert judge.stats["judge_errors"] == 1


async def test_timeout_is_retried_then_judge_error(scripted):
    judge = judge_for(scripted)
    start = time.monotonic()
    (v,) = await judge.score([traj("slow,ok", "d")])
    assert v.category is Category.CORRECT and scripted.calls["script=slow,ok"] == 2
    (v,) = await judge.score([traj("slow", "e")])
    elapsed = time.monotonic() - start
    assert v.category is Category.JUDGE_ERROR and "Timeout" in v.rationale
    assert scripted.calls["script=slow"] == 3
    assert elapsed < 10  # bounded: 4 timed-out attempts of 0.5 s plus tiny backoffs


async def test_client_errors_are_not_retried(scripted):
    judge = judge_for(scripted)
    (v,) = await judge.score([traj("400,ok", "f")])
    assert v.category is Category.JUDGE_ERROR and "HTTP 400" in v.rationale
    assert scripted.calls["script=400,ok"] == 1


async def test_unparseable_reply_is_repaired_once(scripted):
    judge = judge_for(scripted)
    (v,) = await judge.score([traj("garbage,ok", "g")])
    assert v.category is Category.CORRECT and scripted.calls["script=garbage,ok"] == 2
    repair = scripted.bodies[-1]["messages"]
    assert [m["role"] for m in repair] == ["system", "user", "assistant", "user"]
    assert repair[2]["content"] == "I think it is fine." and "JSON" in repair[3]["content"]


async def test_unparseable_twice_is_judge_error_never_incorrect(scripted):
    judge = judge_for(scripted)
    batch = [traj("garbage", "h"), traj("wrong", "i")]
    verdicts = await judge.score(batch)
    assert verdicts[0].category is Category.JUDGE_ERROR and "unparseable after 2" in verdicts[0].rationale
    assert verdicts[0].raw == "I think it is fine."
    assert verdicts[1].category is Category.INCORRECT  # a parsed "incorrect" stays incorrect
    assert scripted.calls["script=garbage"] == 2
    assert judge.stats["parse_failures"] == 2 and judge.stats["repairs"] == 1


async def test_unreachable_endpoint_is_judge_error():
    judge = HTTPJudge(JudgeConfig(base_url="http://127.0.0.1:9/v1", http_retries=1, http_backoff_s=0.01, http_timeout_s=1))
    (v,) = await judge.score([traj("ok", "j")])
    assert v.category is Category.JUDGE_ERROR and "gave up after 2 attempts" in v.rationale


async def test_concurrency_is_capped_and_key_sent(monkeypatch):
    chat = ScriptedChat(hold_s=0.1, api_key="sekrit")
    monkeypatch.setenv("RLSYS_TEST_JUDGE_KEY", "sekrit")
    with ServerThread(chat.app) as server:
        chat.url = server.url
        judge = judge_for(chat, http_concurrency=3, http_timeout_s=5)
        verdicts = await judge.score([traj("ok", f"k{i}") for i in range(9)])
    assert [v.category for v in verdicts] == [Category.CORRECT] * 9
    assert 1 < chat.max_inflight <= 3
    monkeypatch.delenv("RLSYS_TEST_JUDGE_KEY")


async def test_cross_check_counts_agreement(scripted):
    from rlsys.judge.factory import build_judge

    judge = build_judge(judge_for(scripted).cfg.model_copy(update={"kind": "http"}))
    right, wrong = traj("ok", "x1"), traj("ok", "x2")
    wrong.answer = "Jake Gyllenhaal"
    verdicts = await judge.score([right, wrong])  # the scripted judge says "correct" to both
    assert [v.category for v in verdicts] == [Category.CORRECT, Category.CORRECT]
    assert judge.stats["cross_check/agree"] == 1 and judge.stats["cross_check/disagree"] == 1
    assert "[rule judge: incorrect]" in verdicts[1].rationale and judge.agreement() == 0.5


async def test_cross_check_unsure_sends_only_the_rule_judges_unsure_answers_to_the_model(scripted):
    from rlsys.judge.factory import build_judge

    judge = build_judge(judge_for(scripted).cfg.model_copy(update={"kind": "http", "cross_check": "unsure"}))
    sure_right, sure_wrong, unsure = traj("ok", "u1"), traj("ok", "u2"), traj("ok", "u3")
    sure_wrong.answer = "Jake Gyllenhaal"
    unsure.answer = "Simpkins, the child actor"  # a part of the gold: the rule judge cannot tell
    before = scripted.total
    verdicts = await judge.score([sure_right, sure_wrong, unsure])
    assert [v.category for v in verdicts] == [Category.CORRECT, Category.INCORRECT, Category.CORRECT]
    assert scripted.total - before == 1  # only the unsure one asked the model
    assert judge.stats["cross_check/rule_decided"] == 2 and judge.stats["cross_check/sent_to_model"] == 1
    assert "[rule judge: unsure]" in verdicts[2].rationale and verdicts[2].approach == 73.0
