"""An OpenAI-compatible endpoint over any `Engine` + a tokenizer with a chat template.

`POST /v1/chat/completions` (`n`, `stop`, `seed`, `max_tokens` / `max_completion_tokens`,
`logprobs`, `stream`, `chat_template_kwargs` such as Qwen3's `enable_thinking`),
`POST /v1/completions` (a text or token-id prompt; `logprobs`, `stream`), `GET /v1/models`,
`GET /health`. Errors come back in OpenAI's `{"error": {...}}` shape; the wire format is in
`openai_protocol`.
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
from fastapi.responses import JSONResponse, StreamingResponse

from rlsys.judge.openai_protocol import (
    ChatRequest,
    CompletionRequest,
    chat_logprobs,
    chat_stream,
    completion_logprobs,
    completion_stream,
    kept_tokens,
    usage,
)
from rlsys.rollout.types import Engine, Generation, SamplingParams

log = logging.getLogger(__name__)


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

    def sampling(req: ChatRequest | CompletionRequest, max_new: int) -> list[SamplingParams]:
        return [SamplingParams(temperature=req.temperature, top_p=req.top_p, max_new_tokens=max_new, stop=req.stops(),
                               seed=None if req.seed is None else req.seed + i) for i in range(req.n)]

    async def run(prompt: list[int], params: list[SamplingParams]) -> list[Generation] | JSONResponse:
        max_new = params[0].max_new_tokens
        if max_model_len is not None and len(prompt) + max_new > max_model_len:
            return _error(400, f"prompt ({len(prompt)} tokens) + max_tokens ({max_new}) exceeds the context of {max_model_len}")
        try:
            return list(await asyncio.gather(*(engine.generate(prompt, p) for p in params)))
        except Exception as err:
            log.exception("generation failed")
            return _error(500, f"generation failed: {type(err).__name__}: {err}", "server_error")

    def content_of(out: Generation, stops: list[str]) -> str:
        content = _cut_at_stop(out.text, stops)
        return content[: -len(eos)] if eos and content.endswith(eos) else content

    def wrong_model(name: str | None) -> JSONResponse | None:
        if name and name != model_name:
            return _error(404, f"model {name!r} is not served here (serving {model_name!r})", "not_found_error")
        return None

    @app.post("/v1/chat/completions")
    async def chat(req: ChatRequest):
        if (refused := wrong_model(req.model)) is not None:
            return refused
        messages = [{"role": m.role, "content": m.text()} for m in req.messages]
        try:
            text = tokenizer.apply_chat_template(
                messages, tokenize=False, add_generation_prompt=True, **(req.chat_template_kwargs or {})
            )
            prompt = list(tokenizer(text, add_special_tokens=False)["input_ids"])
        except Exception as err:  # a template that rejects the conversation is the caller's error
            return _error(400, f"cannot apply the chat template: {err}")
        outs = await run(prompt, sampling(req, req.max_completion_tokens or req.max_tokens or default_max_tokens))
        if isinstance(outs, JSONResponse):
            return outs
        choices = []
        for i, out in enumerate(outs):
            content = content_of(out, req.stops())
            choice: dict[str, Any] = {"index": i, "message": {"role": "assistant", "content": content},
                                      "finish_reason": out.finish_reason}
            if req.logprobs:
                choice["logprobs"] = chat_logprobs(kept_tokens(tokenizer, out, content))
            choices.append(choice)
        head = {"id": f"chatcmpl-{secrets.token_hex(12)}", "created": int(time.time()), "model": model_name}
        if req.stream:
            return StreamingResponse(chat_stream(head, choices), media_type="text/event-stream")
        return JSONResponse({**head, "object": "chat.completion", "choices": choices,
                             "usage": usage(len(prompt), sum(len(o.token_ids) for o in outs))})

    @app.post("/v1/completions")
    async def completions(req: CompletionRequest):
        if (refused := wrong_model(req.model)) is not None:
            return refused
        if req.echo:
            return _error(400, "echo=true is not supported by this server")
        if isinstance(req.prompt, str) or (isinstance(req.prompt, list) and req.prompt and isinstance(req.prompt[0], int)):
            prompt = req.prompt if isinstance(req.prompt, list) else list(tokenizer(req.prompt, add_special_tokens=False)["input_ids"])
        else:
            return _error(400, "prompt must be one string or one list of token ids (batches of prompts are not supported)")
        if not prompt:
            return _error(400, "prompt is empty")
        if max(prompt) >= len(tokenizer) or min(prompt) < 0:
            return _error(400, f"prompt has token ids outside the vocabulary (0..{len(tokenizer) - 1})")
        outs = await run(list(prompt), sampling(req, req.max_tokens or default_max_tokens))
        if isinstance(outs, JSONResponse):
            return outs
        choices = []
        for i, out in enumerate(outs):
            text = _cut_at_stop(out.text, req.stops())
            logprobs = completion_logprobs(kept_tokens(tokenizer, out, text)) if req.logprobs is not None else None
            choices.append({"index": i, "text": text, "logprobs": logprobs, "finish_reason": out.finish_reason})
        head = {"id": f"cmpl-{secrets.token_hex(12)}", "object": "text_completion", "created": int(time.time()),
                "model": model_name}
        if req.stream:
            return StreamingResponse(completion_stream(head, choices), media_type="text/event-stream")
        return JSONResponse({**head, "choices": choices, "usage": usage(len(prompt), sum(len(o.token_ids) for o in outs))})

    return app
