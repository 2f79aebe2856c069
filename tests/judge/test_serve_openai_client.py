"""`rlsys serve` answering the real `openai` client, on the HF engine and on vLLM (`--engine`):
chat and text completions, `stream: true`, `logprobs`, token-id prompts. One server per engine."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
import time

import pytest

pytestmark = pytest.mark.timeout(600)


@pytest.fixture(scope="module", params=["hf", pytest.param("vllm", marks=pytest.mark.vllm)])
def client(request, nano_model_dir, tmp_path_factory):
    """An `openai.OpenAI` client of `python -m rlsys serve --engine <param>` on a free loopback port."""
    openai = pytest.importorskip("openai")
    ready = tmp_path_factory.mktemp("serve") / "ready.json"
    env = {**os.environ, "OMP_NUM_THREADS": "1", "VLLM_CPU_KVCACHE_SPACE": "1"}
    cmd = [sys.executable, "-m", "rlsys", "serve", "--model", str(nano_model_dir), "--port", "0",
           "--engine", request.param, "--served-model-name", "tiny", "--max-tokens", "12",
           "--ready-file", str(ready)]
    log = tmp_path_factory.mktemp("serve-log") / "serve.log"
    with open(log, "w") as out:
        proc = subprocess.Popen(cmd, env=env, stdout=out, stderr=subprocess.STDOUT, text=True)
    try:
        deadline = time.monotonic() + 400  # vLLM takes ~1 min to start on a loaded CPU
        while not ready.exists():
            if proc.poll() is not None:
                pytest.fail(f"rlsys serve exited with {proc.returncode}: {log.read_text()[-3000:]}")
            if time.monotonic() > deadline:
                pytest.fail("rlsys serve did not become ready in 400 s")
            time.sleep(0.5)
        url = json.loads(ready.read_text())["url"]
        yield request.param, openai.OpenAI(base_url=url + "/v1", api_key="unused", timeout=120, max_retries=0)
    finally:
        proc.terminate()
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)


def test_chat_with_logprobs_and_stream(client):
    _, api = client
    messages = [{"role": "user", "content": "Who wrote Cabaret?"}]
    out = api.chat.completions.create(model="tiny", messages=messages, max_tokens=8, temperature=0.7, seed=5,
                                      logprobs=True, n=2)
    assert len(out.choices) == 2 and out.usage.completion_tokens > 0
    for choice in out.choices:
        tokens = choice.logprobs.content
        assert tokens and all(t.logprob <= 0 and math.isfinite(t.logprob) for t in tokens)
        assert "".join(t.token for t in tokens).startswith(choice.message.content)
    chunks = list(api.chat.completions.create(model="tiny", messages=messages, max_tokens=8, temperature=0.7, seed=5,
                                              stream=True))
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == out.choices[0].message.content  # same seed, same text
    assert chunks[-1].choices[0].finish_reason in ("stop", "length")


def test_text_completions(client):
    _, api = client
    out = api.completions.create(model="tiny", prompt="Question: Where was Ostrid Kael born?", max_tokens=6,
                                 temperature=1.0, seed=1, logprobs=1)
    (choice,) = out.choices
    assert choice.finish_reason in ("stop", "length") and len(choice.logprobs.token_logprobs) > 0
    assert "".join(choice.logprobs.tokens).startswith(choice.text)
    by_ids = api.completions.create(model="tiny", prompt=[5, 6, 7, 8], max_tokens=4, temperature=0.0)
    assert by_ids.usage.prompt_tokens == 4 and by_ids.usage.completion_tokens > 0
    streamed = list(api.completions.create(model="tiny", prompt="Question: Where was Ostrid Kael born?", max_tokens=6,
                                           temperature=1.0, seed=1, stream=True))
    assert "".join(c.choices[0].text for c in streamed) == choice.text
    import openai

    with pytest.raises(openai.NotFoundError):
        api.completions.create(model="other", prompt="x", max_tokens=2)
