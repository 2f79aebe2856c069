"""An OpenAI-compatible chat endpoint over any `Engine` + a tokenizer with a chat template.

`POST /v1/chat/completions` (non-streaming; `n`, `stop`, `seed`, `max_tokens` /
`max_completion_tokens`, `chat_template_kwargs` such as Qwen3's `enable_thinking`),
`GET /v1/models`, `GET /health`. Errors come back in OpenAI's `{"error": {...}}` shape.
`rlsys serve` runs it so a judge (or the trained policy) can be reached over HTTP.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import time
from contextlib import asynccontextmanager
from typing import Any, Awaitable, Callable

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from rlsys.rollout.types import Engine, SamplingParams

log = logging.getLogger(__name__)


class ChatMessage(BaseModel):
    model_config = ConfigDict(extra="ignore")
    role: str
    content: str | list[dict[str, Any]] | None = None

    def text(self) -> str:
        if self.content is None:
            return ""
        if isinstance(self.content, str):
            return self.content
        return "".join(str(part.get("text", "")) for part in self.content if part.get("type", "text") == "text")


class ChatRequest(BaseModel):
    model_config = ConfigDict(extra="ignore")
    model: str | None = None
    messages: list[ChatMessage] = Field(min_length=1)
    temperature: float = Field(1.0, ge=0.0, le=2.0)
    top_p: float = Field(1.0, gt=0.0, le=1.0)
    max_tokens: int | None = Field(None, ge=1)
    max_completion_tokens: int | None = Field(None, ge=1)
    stop: str | list[str] | None = None
    seed: int | None = None
    n: int = Field(1, ge=1, le=64)
    stream: bool = False
    chat_template_kwargs: dict[str, Any] | None = None


def _error(status: int, message: str, kind: str = "invalid_request_error") -> JSONResponse:
    return JSONResponse(status_code=status, content={"error": {"message": message, "type": kind, "code": status}})


def _cut_at_stop(text: str, stops: list[str]) -> str:
    cuts = [text.find(s) for s in stops if s and s in text]
    return text[: min(cuts)] if cuts else text


def create_app(
    engine: Engine,
    tokenizer: Any,
    model_name: str,
    api_key: str | None = None,
    default_max_tokens: int = 256,
    max_model_len: int | None = None,
    startup: Callable[[], Awaitable[None]] | None = None,
) -> FastAPI:
    """The FastAPI app serving `engine` as `model_name` (requests for another model are refused);
    `startup` runs on the server's event loop before the first request (e.g. loading an adapter)."""
    if not getattr(tokenizer, "chat_template", None):
        raise ValueError("the served tokenizer has no chat template")

    @asynccontextmanager
    async def lifespan(_: FastAPI):
        if startup is not None:
            await startup()
        yield
        close = getattr(engine, "close", None)
        if close is not None:
            await close()

    app = FastAPI(title="rlsys OpenAI-compatible endpoint", lifespan=lifespan)
    created = int(time.time())
    eos = getattr(tokenizer, "eos_token", None)

    @app.exception_handler(RequestValidationError)
    async def bad_request(_: Request, err: RequestValidationError) -> JSONResponse:
        first = err.errors()[0] if err.errors() else {}
        where = ".".join(str(p) for p in first.get("loc", ()) if p != "body")
        return _error(400, f"{where}: {first.get('msg', 'invalid request')}")

    @app.middleware("http")
    async def check_key(request: Request, call_next):
        if api_key and request.url.path.startswith("/v1/"):
            if request.headers.get("authorization", "") != f"Bearer {api_key}":
                return _error(401, "missing or wrong API key", "authentication_error")
        return await call_next(request)

    @app.get("/health")
    async def health() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/v1/models")
    async def models() -> dict[str, Any]:
        return {"object": "list", "data": [{"id": model_name, "object": "model", "created": created, "owned_by": "rlsys"}]}

    @app.post("/v1/chat/completions")
    async def chat(req: ChatRequest) -> JSONResponse:
        if req.stream:
            return _error(400, "stream=true is not supported by this server")
        if req.model and req.model != model_name:
            return _error(404, f"model {req.model!r} is not served here (serving {model_name!r})", "not_found_error")
        messages = [{"role": m.role, "content": m.text()} for m in req.messages]
        try:
            text = tokenizer.apply_chat_template(
                messages, tokenize=False, add_generation_prompt=True, **(req.chat_template_kwargs or {})
            )
            prompt = list(tokenizer(text, add_special_tokens=False)["input_ids"])
        except Exception as err:  # a template that rejects the conversation is the caller's error
            return _error(400, f"cannot apply the chat template: {err}")
        max_new = req.max_completion_tokens or req.max_tokens or default_max_tokens
        if max_model_len is not None and len(prompt) + max_new > max_model_len:
            return _error(400, f"prompt ({len(prompt)} tokens) + max_tokens ({max_new}) exceeds the context of {max_model_len}")
        stops = [req.stop] if isinstance(req.stop, str) else list(req.stop or [])
        params = [
            SamplingParams(
                temperature=req.temperature,
                top_p=req.top_p,
                max_new_tokens=max_new,
                stop=stops,
                seed=None if req.seed is None else req.seed + i,
            )
            for i in range(req.n)
        ]
        try:
            outs = await asyncio.gather(*(engine.generate(prompt, p) for p in params))
        except Exception as err:
            log.exception("generation failed")
            return _error(500, f"generation failed: {type(err).__name__}: {err}", "server_error")
        choices = []
        for i, out in enumerate(outs):
            content = _cut_at_stop(out.text, stops)
            if eos and content.endswith(eos):
                content = content[: -len(eos)]
            choices.append(
                {"index": i, "message": {"role": "assistant", "content": content}, "finish_reason": out.finish_reason}
            )
        completion_tokens = sum(len(o.token_ids) for o in outs)
        return JSONResponse(
            {
                "id": f"chatcmpl-{secrets.token_hex(12)}",
                "object": "chat.completion",
                "created": int(time.time()),
                "model": model_name,
                "choices": choices,
                "usage": {
                    "prompt_tokens": len(prompt),
                    "completion_tokens": completion_tokens,
                    "total_tokens": len(prompt) + completion_tokens,
                },
            }
        )

    return app
