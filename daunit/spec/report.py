"""ValidationError -> one (field path, message) per bad field, as the user reads them."""
from __future__ import annotations

import difflib

from pydantic import ValidationError

from daunit.spec.base import ERROR_TYPE, Spec, format_path

# pydantic's error types for a value of the wrong kind, and what to write instead.
_TYPE_HINTS = {
    "int_type": "must be a whole number written without quotes (not true/false, text or a fraction)",
    "int_parsing": "must be a whole number written without quotes",
    "string_type": "must be text: quote it in the stack YAML",
    "bool_type": "must be true or false",
    "bool_parsing": "must be true or false",
    "dict_type": "must be a map of names to values",
    "tuple_type": "must be a list",
    "list_type": "must be a list",
}


def _known_field_names() -> list[str]:
    """Every field of every spec model, as written in config (for "did you mean")."""
    names: set[str] = set()
    models = list(Spec.__subclasses__())
    while models:
        model = models.pop()
        models += model.__subclasses__()
        names.update(field.alias or name for name, field in model.model_fields.items())
    return sorted(names)


def _message(error: dict[str, object], field: str) -> str:
    kind = str(error["type"])
    if kind == ERROR_TYPE:
        return str(error["msg"])
    if kind == "missing":
        return f"{field} is required: add it"
    if kind in _TYPE_HINTS:
        return f"{field} {_TYPE_HINTS[kind]}"
    if kind == "extra_forbidden":
        close = difflib.get_close_matches(field, _known_field_names(), n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        return f"unknown field {field!r}: remove it or fix its spelling{hint}"
    return f"{field}: {error['msg']}"


def format_errors(exc: ValidationError) -> list[tuple[str, str]]:
    """One (field path, message) per error, e.g. ("apps[0].domain", "domain 'x y' is not ...").

    Messages name the field and never include the rejected input.
    """
    out: list[tuple[str, str]] = []
    for error in exc.errors(include_input=False, include_url=False):
        loc = tuple(error["loc"])
        out.append((format_path(loc), _message(dict(error), str(loc[-1]) if loc else "config")))
    return out
