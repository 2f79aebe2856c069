"""A loopback OpenAI-style chat server whose replies follow a script, for HTTP judge tests.

The script travels in the question text: `script=500,slow,garbage,ok` — the n-th request
for that question gets the n-th step (the last step repeats).
"""

from __future__ import annotations

import asyncio
import re
from collections import defaultdict

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

VERDICT = '<think>The agent read the cast section.</think>\n```json\n{"category": "correct", "approach": 73, "rationale": "ok",}\n```'


class ScriptedChat:
    def __init__(self, slow_s: float = 2.0, api_key: str | None = None, hold_s: float = 0.0):
        self.slow_s, self.api_key, self.hold_s = slow_s, api_key, hold_s
        self.calls: dict[str, int] = defaultdict(int)
        self.bodies: list[dict] = []
        self.inflight = 0
        self.max_inflight = 0
        self.app = FastAPI()
        self.app.post("/v1/chat/completions")(self.chat)

    @property
    def total(self) -> int:
        return sum(self.calls.values())

    async def chat(self, request: Request):
        body = await request.json()
        self.bodies.append(body)
        if self.api_key and request.headers.get("authorization") != f"Bearer {self.api_key}":
            return JSONResponse({"error": {"message": "bad key"}}, status_code=401)
        text = " ".join(m["content"] for m in body["messages"])
        m = re.search(r"script=([\w,]+)", text)
        steps = m.group(1).split(",") if m else ["ok"]
        key = m.group(0) if m else "default"
        step = steps[min(self.calls[key], len(steps) - 1)]
        self.calls[key] += 1
        self.inflight += 1
        self.max_inflight = max(self.max_inflight, self.inflight)
        try:
            if self.hold_s:
                await asyncio.sleep(self.hold_s)
            if step == "slow":
                await asyncio.sleep(self.slow_s)
            if step in ("500", "503", "429", "400"):
                return JSONResponse({"error": {"message": f"scripted {step}"}}, status_code=int(step))
            content = {"ok": VERDICT, "slow": VERDICT, "garbage": "I think it is fine.", "wrong": '{"category": "incorrect", "approach": 20}'}[step]
            return {"choices": [{"index": 0, "message": {"role": "assistant", "content": content}, "finish_reason": "stop"}]}
        finally:
            self.inflight -= 1
