"""A judge that runs a chat model on an `Engine` from the rollout component (HF or vLLM).

The rubric is rendered with the tokenizer's chat template (Qwen3 `enable_thinking` passed
through), requests run `batch_size` at a time on the engine (which batches them), greedy at
`temperature` ~0 with a fixed seed. With thinking on, the judge thinks for at most
`thinking_budget` tokens; if it has not closed `</think>` by then, `</think>` is appended and
it answers within `max_new_tokens`.
"""

from __future__ import annotations

from typing import Any

from rlsys.judge.chat_judge import ChatJudge, JudgeRequestError, Messages
from rlsys.judge.config import JudgeConfig
from rlsys.judge.rubric import rubric_messages
from rlsys.rollout.plain_text import encode_chat
from rlsys.rollout.types import Engine, SamplingParams, Trajectory

THINK_CLOSE = "</think>"


class LLMJudge(ChatJudge):
    """`score(batch)` with a chat model on `engine`; `tokenizer` needs a chat template."""

    def __init__(self, engine: Engine, tokenizer: Any, cfg: JudgeConfig | None = None):
        cfg = cfg or JudgeConfig()
        super().__init__(cfg, concurrency=cfg.batch_size)
        if not getattr(tokenizer, "chat_template", None):
            raise ValueError("the LLM judge's tokenizer has no chat template")
        self.engine = engine
        self.tokenizer = tokenizer
        self._end_markers = [t for t in (getattr(tokenizer, "eos_token", None), getattr(tokenizer, "pad_token", None)) if t]

    def _clean(self, text: str) -> str:
        """The reply without trailing end-of-turn tokens the engine decoded."""
        text = text.rstrip()
        stripped = True
        while stripped:
            stripped = False
            for marker in self._end_markers:
                if text.endswith(marker):
                    text, stripped = text[: -len(marker)].rstrip(), True
        return text

    def encode(self, messages: Messages) -> list[int]:
        """Prompt token ids: the chat template with the generation prompt. Every content (question,
        gold, answer, cells, tool output) is plain text: special-token strings in it become ordinary
        tokens, so a trajectory cannot close the rubric's turn and write the judge's reply."""
        return encode_chat(self.tokenizer, messages, add_generation_prompt=True, enable_thinking=self.cfg.thinking)

    def messages_for(self, traj: Trajectory) -> Messages:
        """The rubric, rendered shorter until it fits `max_prompt_tokens` (or as short as it gets)."""
        cell, total = self.cfg.max_cell_chars, self.cfg.max_trajectory_chars
        messages = rubric_messages(traj, cell, total, self.view)
        for _ in range(5):
            if len(self.encode(messages)) <= self.cfg.max_prompt_tokens:
                break
            cell, total = max(cell // 2, 80), max(total // 2, 400)
            messages = rubric_messages(traj, cell, total, self.view)
        return messages

    def _params(self, max_new_tokens: int, stop: list[str]) -> SamplingParams:
        return SamplingParams(
            temperature=self.cfg.temperature, top_p=1.0, max_new_tokens=max_new_tokens, stop=stop, seed=self.cfg.seed
        )

    async def complete(self, messages: Messages) -> str:
        prompt = self.encode(messages)
        try:
            if not self.cfg.thinking:
                return self._clean((await self.engine.generate(prompt, self._params(self.cfg.max_new_tokens, []))).text)
            thought = await self.engine.generate(prompt, self._params(self.cfg.thinking_budget, [THINK_CLOSE]))
            text, ids = thought.text, list(thought.token_ids)
            if THINK_CLOSE not in text:  # budget spent: close the thinking ourselves
                close = "\n" + THINK_CLOSE + "\n\n"
                text += close
                ids += list(self.tokenizer(close, add_special_tokens=False)["input_ids"])
            answer = await self.engine.generate(prompt + ids, self._params(self.cfg.max_new_tokens, []))
            return self._clean(text + answer.text)
        except Exception as err:
            raise JudgeRequestError(f"engine failed: {type(err).__name__}: {err}") from err
