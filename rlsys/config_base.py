"""The base class of every config section: strict (unknown keys are errors), validated on
assignment, and documented (each field's docstring becomes its description)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class Section(BaseModel):
    """A config section. Subclasses declare fields with a default and a one-line docstring."""

    model_config = ConfigDict(
        extra="forbid",
        validate_assignment=True,
        use_attribute_docstrings=True,
        protected_namespaces=(),
    )
