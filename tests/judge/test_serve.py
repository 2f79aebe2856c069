"""`rlsys serve` with the tiny model on loopback, and the HTTP judge against it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time

import httpx
import pytest

from rlsys.judge.config import JudgeConfig
from rlsys.judge.http_judge import HTTPJudge
from rlsys.judge.types import Category

from .trajectories import answer_turn, make_traj, search_turn

pytestmark = pytest.mark.timeout(300)
KEY_ENV = "RLSYS_TEST_SERVE_KEY"


@pytest.fixture(scope="module")
def served(nano_model_dir, tmp_path_factory):
    """`python -m rlsys serve` on 127.0.0.1:<free port>, requiring an API key."""
    ready = tmp_path_factory.mktemp("serve") / "ready.json"
    env = {**os.environ, KEY_ENV: "test-key", "OMP_NUM_THREADS": "1"}
    cmd = [sys.executable, "-m", "rlsys", "serve", "--model", str(nano_model_dir), "--port", "0",
           "--served-model-name", "tiny-judge", "--max-tokens", "16", "--api-key-env", KEY_ENV,
           "--ready-file", str(ready)]
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        deadline = time.monotonic() + 120
        while not ready.exists():
            if proc.poll() is not None:
                pytest.fail(f"rlsys serve exited with {proc.returncode}: {proc.stdout.read()}")
            if time.monotonic() > deadline:
                pytest.fail("rlsys serve did not become ready in 120 s")
            time.sleep(0.2)
        info = json.loads(ready.read_text())
        assert info["url"].startswith("http://127.0.0.1:")
        yield info["url"]
    finally:
        proc.terminate()
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)


def test_openai_surface(served):
    auth = {"Authorization": "Bearer test-key"}
    with httpx.Client(base_url=served, timeout=60) as client:
        assert client.get("/health").json() == {"status": "ok"}
        assert client.get("/v1/models").status_code == 401
        models = client.get("/v1/models", headers=auth).json()
        assert [m["id"] for m in models["data"]] == ["tiny-judge"]
        body = {"model": "tiny-judge", "messages": [{"role": "user", "content": "Who wrote Cabaret?"}],
                "max_tokens": 5, "temperature": 0.7, "seed": 3, "n": 2}
        out = client.post("/v1/chat/completions", json=body, headers=auth).json()
        assert out["object"] == "chat.completion" and len(out["choices"]) == 2
        assert out["choices"][0]["message"]["role"] == "assistant"
        assert out["choices"][0]["finish_reason"] in ("stop", "length")
        assert 0 < out["usage"]["completion_tokens"] <= 10
        assert out["usage"]["total_tokens"] == out["usage"]["prompt_tokens"] + out["usage"]["completion_tokens"]
        again = client.post("/v1/chat/completions", json=body, headers=auth).json()
        assert [c["message"] for c in again["choices"]] == [c["message"] for c in out["choices"]]  # seeded
        streamed = client.post("/v1/chat/completions", json={**body, "stream": True}, headers=auth)
        assert streamed.status_code == 200 and streamed.text.rstrip().endswith("data: [DONE]")
        bad = client.post("/v1/chat/completions", json={"messages": []}, headers=auth)
        assert bad.status_code == 400 and "messages" in bad.json()["error"]["message"]
        bad = client.post("/v1/chat/completions", json={**body, "model": "gpt-x"}, headers=auth)
        assert bad.status_code == 404


async def test_http_judge_through_rlsys_serve(served, monkeypatch):
    monkeypatch.setenv(KEY_ENV, "test-key")
    cfg = JudgeConfig(kind="http", base_url=served + "/v1", model="tiny-judge", api_key_env=KEY_ENV,
                      max_new_tokens=12, http_timeout_s=60, http_retries=1, http_backoff_s=0.1, http_concurrency=8)
    judge = HTTPJudge(cfg)
    batch = [make_traj("Ty Simpkins", episode_id=f"s{i}", turns=[search_turn(["Ty Simpkins as Gavin"]), answer_turn("Ty Simpkins")])
             for i in range(6)]
    verdicts = await judge.score(batch)
    # the random model's replies never parse: one repair each, then judge_error, never "incorrect"
    assert [v.category for v in verdicts] == [Category.JUDGE_ERROR] * 6
    assert judge.stats["requests"] == 12 and judge.stats["request_errors"] == 0 and judge.stats["repairs"] == 6

    monkeypatch.setenv(KEY_ENV, "wrong-key")
    (verdict,) = await HTTPJudge(cfg).score(batch[:1])
    assert verdict.category is Category.JUDGE_ERROR and "HTTP 401" in verdict.rationale
