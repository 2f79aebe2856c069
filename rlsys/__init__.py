"""rlsys: a distributed actor-learner RL system that teaches small language models to answer
questions by writing Python code that searches a Wikipedia corpus."""

__version__ = "0.1.0"
