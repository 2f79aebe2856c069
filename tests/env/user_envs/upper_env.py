"""A user's environment, outside rlsys: reply with the word in upper case (loaded by dotted path,
`env.name: upper_env:UpperCase` with this directory on the path)."""

from rlsys.corpus.types import Question
from rlsys.env import EnvironmentBase


class UpperCase(EnvironmentBase):
    name = "upper_case"
    default_judge = "exact_match"
    default_reward = "approach"
    WORDS = ["abc", "dog", "sun", "map", "key", "tea", "owl", "fig", "jar", "kit", "elm", "ink"]

    def initial_messages(self, question):
        return [{"role": "user", "content": f"Upper case: {question.question}"}]

    def questions(self, cfg=None):
        qs = [Question(id=f"up-{i}", question=w, answer=w.upper(), split="train" if i < 8 else "test")
              for i, w in enumerate(self.WORDS)]
        return qs[:8], qs[8:]
