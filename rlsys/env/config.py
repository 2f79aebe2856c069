"""Config of the environment (the task)."""

from __future__ import annotations

from typing import Any

from pydantic import Field, field_validator

from rlsys.config_base import Section


class EnvConfig(Section):
    name: str = Field("wiki_search", min_length=1)
    """The task: a registered environment (`wiki_search`, `reverse_text`) or a user's own named by
    dotted path, `package.module:Class` (importable on every node; see docs/extending.md)."""
    options: dict[str, Any] = {}
    """Free-form settings handed to the environment (`EnvSettings.options`); each environment
    documents and checks its own (e.g. reverse_text: `train_size`, `test_size`, `min_len`, `max_len`)."""

    @field_validator("name")
    @classmethod
    def _known_or_path(cls, value: str) -> str:
        from rlsys.env.registry import resolve_factory

        # raises ValueError naming the registered ones; a user's module is imported here, before the
        # judge section is read, so that judges and rewards it registers can be named there
        resolve_factory(value)
        return value
