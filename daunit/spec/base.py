"""What every spec module shares: the base model, the project's error type, field paths."""
from __future__ import annotations

import re

from pydantic import BaseModel, ConfigDict, ValidationError, ValidationInfo
from pydantic.alias_generators import to_camel
from pydantic_core import InitErrorDetails, PydanticCustomError

# The error type of every message written here; format_errors prints it as it is.
ERROR_TYPE = "da_flask_invalid"

Loc = tuple[str | int, ...]
# One problem: where (relative to the validator raising it) and the message.
Problem = tuple[Loc, str]


class Spec(BaseModel):
    """Frozen, camelCase aliases (snake_case accepted), unknown fields refused, and the
    input never echoed by pydantic's own text (a private key pasted in the wrong field)."""

    model_config = ConfigDict(
        extra="forbid",
        frozen=True,
        populate_by_name=True,
        alias_generator=to_camel,
        hide_input_in_errors=True,
    )


def invalid(message: str) -> PydanticCustomError:
    # The template is a single placeholder so braces inside the message are
    # printed as written, never parsed as further placeholders.
    return PydanticCustomError(ERROR_TYPE, "{reason}", {"reason": message})


def errors_at(title: str, problems: list[Problem]) -> ValidationError:
    """A ValidationError with one entry per (loc, message); raised from a validator,
    pydantic prefixes each loc with the validator's own location."""
    return ValidationError.from_exception_data(
        title,
        [InitErrorDetails(type=invalid(message), loc=loc, input=None) for loc, message in problems],
    )


def raise_problems(title: str, problems: list[Problem]) -> None:
    if problems:
        raise errors_at(title, problems)


def show(value: object, limit: int = 80) -> str:
    """The value as a message quotes it: repr (control characters spelt out), cut short."""
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 4] + "...'"


def reads_local_files(info: ValidationInfo) -> bool:
    """Whether this validation may read the deploying machine's disk (see parse_stack)."""
    return bool((info.context or {}).get("check_source"))


def format_path(loc: Loc) -> str:
    """A field path as the user writes it: apps[0].domain, appSecrets.shop.KEY."""
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        elif re.fullmatch(r"[A-Za-z_][A-Za-z0-9_-]*", part):
            out += f".{part}" if out else part
        else:
            out += f"[{part!r}]"
    return out
