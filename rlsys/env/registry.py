"""Environments by name: the built-ins register here, a user's is named by dotted path.

    env = build_environment("wiki_search", EnvSettings(max_turns=3))
    env = build_environment("mypkg.myenv:MyEnv", settings)   # imported, never registered
    env = environment_of(cfg)                                 # `env.name` of a Config

A registered factory (a class or a function) takes an `EnvSettings` and returns an object that
satisfies `rlsys.env.base.Environment`.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any, Callable

from rlsys.env.base import PROTOCOL_MEMBERS, EnvSettings, Environment
from rlsys.registry import Registry

if TYPE_CHECKING:
    from rlsys.config import Config

__all__ = ["DEFAULT_ENVIRONMENT", "ENVIRONMENTS", "register_environment", "resolve_factory", "build_environment", "environment_of"]

Factory = Callable[[EnvSettings], Any]
ENVIRONMENTS: Registry[Factory] = Registry("environment")
DEFAULT_ENVIRONMENT = "wiki_search"
"""The environment of `env.name` by default (and of an episode run without one)."""
_BUILTIN_MODULES = ("rlsys.env.wiki_search", "rlsys.env.reverse_text")


def register_environment(name: str) -> Callable[[Factory], Factory]:
    """Class/function decorator: makes `env.name: <name>` build it."""
    if not name or ":" in name or "." in name:
        raise ValueError(f"environment names are plain words (a dotted path is looked up, not registered): {name!r}")

    return ENVIRONMENTS.register(name)


def _load_builtins() -> None:
    for module in _BUILTIN_MODULES:
        importlib.import_module(module)


def _import_path(path: str) -> Factory:
    module_name, _, attr = path.partition(":")
    if not module_name or not attr:
        raise ValueError(f"env.name {path!r}: a user environment is named 'package.module:Attribute'")
    try:
        module = importlib.import_module(module_name)
    except ImportError as err:
        raise ValueError(f"env.name {path!r}: cannot import {module_name} ({err})") from err
    try:
        obj = module
        for part in attr.split("."):
            obj = getattr(obj, part)
    except AttributeError as err:
        raise ValueError(f"env.name {path!r}: {module_name} has no attribute {attr}") from err
    if not callable(obj):
        raise ValueError(f"env.name {path!r}: {attr} is not a class or function")
    return obj


def resolve_factory(name: str) -> Factory:
    """The factory of a registered name or of a `module:Attribute` path (ValueError otherwise)."""
    if ":" in name:
        return _import_path(name)
    _load_builtins()
    if name not in ENVIRONMENTS:
        raise ValueError(f"unknown environment {name!r} (registered: {', '.join(sorted(ENVIRONMENTS))}; "
                         "or name your own as 'package.module:Class')")
    return ENVIRONMENTS[name]


def build_environment(name: str, settings: EnvSettings | None = None) -> Environment:
    """The environment `name` built from `settings`; checked against the protocol."""
    env = resolve_factory(name)(settings or EnvSettings())
    if not isinstance(env, Environment):
        missing = [m for m in PROTOCOL_MEMBERS if not hasattr(env, m)]
        raise TypeError(f"environment {name!r} built a {type(env).__name__} lacking {', '.join(sorted(missing))}")
    return env


def environment_of(cfg: "Config") -> Environment:
    """The environment `cfg.env.name` names, built from the config."""
    return build_environment(cfg.env.name, EnvSettings.from_config(cfg))
