"""The base class of every config section: strict (unknown keys are errors), validated on
assignment, and documented (each field's docstring becomes its description).

Ranges go on the field (`x: int = Field(4, ge=1)`); checks that involve more than one field
go in a `model_validator(mode="after")` that calls `require(...)` with one rule per field:

    @model_validator(mode="after")
    def _cross_checks(self):
        return require(self, ("temperature_max", self.temperature_max >= self.temperature_min,
                              f"must be >= temperature_min ({self.temperature_min})"))

Every failed rule becomes one error line naming the field's dotted key (see
`rlsys.config._format_validation_error`).
"""

from __future__ import annotations

from typing import Any, TypeVar

from pydantic import BaseModel, ConfigDict
from pydantic_core import PydanticCustomError

CROSS_FIELD = "cross_field"
"""Pydantic error type of a failed `require` rule; its ctx holds `problems`: (field, reason, value)."""

S = TypeVar("S", bound="Section")


class Section(BaseModel):
    """A config section. Subclasses declare fields with a default and a one-line docstring."""

    model_config = ConfigDict(
        extra="forbid",
        validate_assignment=True,
        use_attribute_docstrings=True,
        protected_namespaces=(),
        allow_inf_nan=False,
    )


def require(section: S, *rules: tuple[str, bool, str]) -> S:
    """Returns `section` when every rule (field, holds, reason) holds; otherwise raises one
    validation error listing each failed rule with the field's current value."""
    problems = [(field, reason, _value(section, field)) for field, holds, reason in rules if not holds]
    if problems:
        summary = "; ".join(f"{field}: {reason} (got {value!r})" for field, reason, value in problems)
        raise PydanticCustomError(CROSS_FIELD, "{summary}", {"summary": summary, "problems": problems})
    return section


def _value(section: BaseModel, dotted: str) -> Any:
    node: Any = section
    for part in dotted.split("."):
        node = getattr(node, part)
    return node
