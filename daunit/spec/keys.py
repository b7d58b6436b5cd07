"""Key material pasted where a path or a public key belongs: scrubbed before validation.

A private key pasted into keyFile (or PEM into a TLS file path) must not survive
in a ValidationError's recorded input (`errors()` carries it), so the model swaps
it for a marker before its fields are validated, and the field's validator then
refuses the marker with a message that shows nothing of the key.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pydantic.alias_generators import to_snake

from daunit.spec.base import invalid
from daunit.spec.types import Check

KEY_MATERIAL_MARKER = "<private key material, removed>"


def looks_like_key_material(value: object) -> bool:
    return isinstance(value, str) and ("PRIVATE KEY" in value or value.lstrip().startswith("-----"))


def is_key_material(value: str) -> bool:
    """The marker a scrubbed field holds, or key material given directly to the model."""
    return value == KEY_MATERIAL_MARKER or looks_like_key_material(value)


def scrub_pasted_keys(data: Any, aliases: tuple[str, ...]) -> Any:
    """`data` (a model's raw input) with key material in the named fields (camelCase
    aliases; their snake_case names too) replaced by the marker."""
    if not isinstance(data, dict):
        return data
    for alias in aliases:
        for field in (alias, to_snake(alias)):
            if looks_like_key_material(data.get(field)):
                data = {**data, field: KEY_MATERIAL_MARKER}
    return data


@dataclass(frozen=True)
class NoKeyMaterial(Check):
    """Refuses key material (scrubbed or not) in a field meant for a path, with `message`."""

    message: str

    def check(self, value: str) -> str:
        if is_key_material(value):
            raise invalid(self.message)
        return value
