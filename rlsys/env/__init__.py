"""Environments: what a task is (prompts, turn grammar, observations, tools, questions, judge view).

    from rlsys.env import Environment, EnvironmentBase, Action, build_environment, register_environment

Built in: `wiki_search` (the default: code that searches a Wikipedia corpus) and `reverse_text`
(reverse a short string; no sandbox). A user's own: `env.name: package.module:Class`.
"""

from rlsys.env.base import Action, EnvSettings, Environment, EnvironmentBase
from rlsys.env.registry import DEFAULT_ENVIRONMENT, build_environment, environment_of, register_environment

__all__ = ["Action", "EnvSettings", "Environment", "EnvironmentBase", "DEFAULT_ENVIRONMENT",
           "build_environment", "environment_of", "register_environment"]
