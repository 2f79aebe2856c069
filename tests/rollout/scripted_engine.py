"""A test `Engine` that replies with fixed texts (canonical tokens) and records its prompts."""

from __future__ import annotations

from rlsys.rollout.types import Generation, SamplingParams


class ScriptedEngine:
    def __init__(self, tokenizer, replies, version: int = 0):
        """`replies`: texts in call order, or a function of the prompt ids returning the text."""
        self.tokenizer = tokenizer
        self.replies = replies if callable(replies) else list(replies)
        self.prompts: list[list[int]] = []
        self.outputs: list[list[int]] = []
        self.params: list[SamplingParams] = []
        self.version = version

    async def generate(self, prompt_ids: list[int], params: SamplingParams) -> Generation:
        self.prompts.append(list(prompt_ids))
        self.params.append(params)
        text = self.replies(prompt_ids) if callable(self.replies) else self.replies.pop(0)
        ids = self.tokenizer.encode(text, add_special_tokens=False)[: params.max_new_tokens]
        self.outputs.append(ids)
        reason = "length" if len(ids) == params.max_new_tokens else "stop"
        return Generation(ids, [-0.5] * len(ids), self.tokenizer.decode(ids), reason, self.version)

    async def load_adapter(self, version, tensors) -> None:
        self.version = version

    async def sleep(self) -> None: ...

    async def wake(self) -> None: ...
