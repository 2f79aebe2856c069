"""OpenAI wire format of `rlsys serve`: request bodies, log-prob blocks and stream chunks.

Log-probs are the engine's (`Generation.logprobs`: the sampled token's log-prob under the
temperature-scaled distribution); only the sampled token is reported (`top_logprobs` /
`logprobs` above 0 or 1 are refused). A stream (`stream: true`) is sent once each choice is
complete: one content chunk per choice, a finish chunk, then `data: [DONE]`.
"""

from __future__ import annotations

import json
from typing import Any, Iterator

from pydantic import BaseModel, ConfigDict, Field

from rlsys.rollout.types import Generation


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


class SamplingBody(BaseModel):
    model_config = ConfigDict(extra="ignore")
    model: str | None = None
    temperature: float = Field(1.0, ge=0.0, le=2.0)
    top_p: float = Field(1.0, gt=0.0, le=1.0)
    max_tokens: int | None = Field(None, ge=1)
    stop: str | list[str] | None = None
    seed: int | None = None
    n: int = Field(1, ge=1, le=64)
    stream: bool = False

    def stops(self) -> list[str]:
        return [self.stop] if isinstance(self.stop, str) else list(self.stop or [])


class ChatRequest(SamplingBody):
    messages: list[ChatMessage] = Field(min_length=1)
    max_completion_tokens: int | None = Field(None, ge=1)
    chat_template_kwargs: dict[str, Any] | None = None
    logprobs: bool = False
    top_logprobs: int | None = Field(None, ge=0, le=0)  # only the sampled token's log-prob is known


class CompletionRequest(SamplingBody):
    prompt: str | list[int] | list[str] | list[list[int]]
    logprobs: int | None = Field(None, ge=0, le=1)  # 0 or 1: the sampled token's log-prob
    echo: bool = Field(False, description="not supported")


def kept_tokens(tokenizer: Any, gen: Generation, content: str) -> list[tuple[str, float]]:
    """(token text, log-prob) of the sampled tokens that make up `content` (a prefix of the text)."""
    out: list[tuple[str, float]] = []
    length = 0
    for token_id, logprob in zip(gen.token_ids, gen.logprobs):
        if length >= len(content):
            break
        piece = tokenizer.decode([token_id], skip_special_tokens=False)
        out.append((piece, logprob))
        length += len(piece)
    return out


def chat_logprobs(pieces: list[tuple[str, float]]) -> dict[str, Any]:
    return {"content": [{"token": t, "logprob": lp, "bytes": list(t.encode("utf-8")), "top_logprobs": []}
                        for t, lp in pieces]}


def completion_logprobs(pieces: list[tuple[str, float]]) -> dict[str, Any]:
    offsets, at = [], 0
    for text, _ in pieces:
        offsets.append(at)
        at += len(text)
    return {"tokens": [t for t, _ in pieces], "token_logprobs": [lp for _, lp in pieces],
            "top_logprobs": [{t: lp} for t, lp in pieces], "text_offset": offsets}


def usage(prompt_tokens: int, completion_tokens: int) -> dict[str, int]:
    return {"prompt_tokens": prompt_tokens, "completion_tokens": completion_tokens,
            "total_tokens": prompt_tokens + completion_tokens}


def sse(payload: dict[str, Any] | str) -> str:
    return f"data: {payload if isinstance(payload, str) else json.dumps(payload)}\n\n"


def chat_stream(head: dict[str, Any], choices: list[dict[str, Any]]) -> Iterator[str]:
    """`chat.completion.chunk` events for finished choices (role+content, then finish_reason)."""
    base = {**head, "object": "chat.completion.chunk"}
    for c in choices:
        delta = {"role": "assistant", "content": c["message"]["content"]}
        yield sse({**base, "choices": [{"index": c["index"], "delta": delta, "logprobs": c.get("logprobs"),
                                        "finish_reason": None}]})
        yield sse({**base, "choices": [{"index": c["index"], "delta": {}, "finish_reason": c["finish_reason"]}]})
    yield sse("[DONE]")


def completion_stream(head: dict[str, Any], choices: list[dict[str, Any]]) -> Iterator[str]:
    for c in choices:
        yield sse({**head, "choices": [{**c, "finish_reason": None}]})
        yield sse({**head, "choices": [{"index": c["index"], "text": "", "logprobs": None,
                                        "finish_reason": c["finish_reason"]}]})
    yield sse("[DONE]")
