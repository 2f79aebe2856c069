"""A test `Engine` whose replies depend on the turn and on the beam-search candidate index (from
the seed), for beam search and `rlsys serve --search` (the answer is grounded only on one branch)."""

from __future__ import annotations

from rlsys.rollout.types import Generation, SamplingParams
from rlsys.search.beam import CANDIDATE_STRIDE, TURN_STRIDE


class BranchingEngine:
    """Replies by turn (assistant headers in the prompt) and candidate index (from the seed)."""

    def __init__(self, tokenizer):
        self.tokenizer, self.calls = tokenizer, []

    def reply(self, prompt: str, turn: int, index: int) -> str:
        if turn == 0:  # index 0 keeps state without printing, index 1 prints a non-answer
            return ["<python>\npages = search_pages('Ostrid Kael')\n</python>",
                    "<python>\nprint('nothing here')\n</python>"][index]
        if turn == 1:
            if "pages = search_pages" in prompt:  # needs the replayed `pages`, or a guess
                return ["<python>\nprint(read_section(pages[0]['page_id'] + ':full'))\n</python>",
                        "<answer>Blue</answer>"][index % 2]
            return "<answer>Velmora</answer>"  # the same for both candidates: kept once
        return "<answer>Harrowmere</answer>"

    async def generate(self, prompt_ids: list[int], params: SamplingParams) -> Generation:
        prompt = self.tokenizer.decode(prompt_ids)
        turn = prompt.count("<|im_start|>assistant") - 1
        index = (params.seed - TURN_STRIDE * turn) // CANDIDATE_STRIDE
        self.calls.append((turn, index))
        ids = self.tokenizer.encode(self.reply(prompt, turn, index), add_special_tokens=False)
        return Generation(ids, [-0.5] * len(ids), self.tokenizer.decode(ids), "stop", 0)
