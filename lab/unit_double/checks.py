"""Small building blocks for describing Unit's configuration objects.

A Check is called with (value, name, context) and raises Invalid with the
sentence Unit's controller answers.  `name` is the key the value sits under,
which is what Unit's sentences quote.  unitconf.py assembles the objects Unit
knows from these blocks.
"""
from __future__ import annotations

from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass
from typing import Any


class Invalid(ValueError):
    """A configuration Unit refuses with 400, and the detail it gives."""

    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail


@dataclass
class Context:
    """What a check may need beyond its value: the whole configuration being
    installed (for "pass" targets) and the certificate names on file."""

    config: Mapping[str, Any]
    certificates: Collection[str] = ()
    python_version: str = "3"


Check = Callable[[Any, str, Context], None]

NOUNS = {
    "object": "an object", "array": "an array", "string": "a string",
    "integer": "an integer number", "fraction": "a fractional number",
    "boolean": "a boolean", "null": "a null",
}


def kind_of(value: Any) -> str:
    """JSON kind of a parsed value; 2.0 counts as an integer, as in Unit."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int) or (isinstance(value, float) and value.is_integer()):
        return "integer"
    if isinstance(value, float):
        return "fraction"
    if isinstance(value, str):
        return "string"
    return "array" if isinstance(value, list) else "object"


def _alternatives(kinds: list[str]) -> str:
    nouns = [NOUNS[k] for k in kinds]
    if len(nouns) == 1:
        return nouns[0]
    if len(nouns) == 2:
        return f"either {nouns[0]} or {nouns[1]}"
    return "either " + ", ".join(nouns[:-1]) + ", or " + nouns[-1]


def value(**by_kind: Check | None) -> Check:
    """A value of one of the given JSON kinds; each kind may have a further check."""
    def check(item: Any, name: str, ctx: Context) -> None:
        kind = kind_of(item)
        if kind not in by_kind:
            raise Invalid(f'The "{name}" value must be {_alternatives(list(by_kind))}, '
                          f"but not {NOUNS[kind]}.")
        further = by_kind[kind]
        if further is not None:
            further(item, name, ctx)
    return check


def members(known: Mapping[str, Check], *, required: tuple[str, ...] = (),
            other: Check | None = None,
            rules: tuple[Callable[[dict[str, Any]], None], ...] = ()) -> Check:
    """The inside of an object: known members in the order given, `other` for
    any other name (else it is unknown), then required names and cross-member rules."""
    def check(item: dict[str, Any], name: str, ctx: Context) -> None:
        for key, member in item.items():
            member_check = known.get(key, other)
            if member_check is None:
                raise Invalid(f'Unknown parameter "{key}".')
            member_check(member, key, ctx)
        for key in required:
            if key not in item:
                raise Invalid(f'Required parameter "{key}" is missing.')
        for rule in rules:
            rule(item)
    return check


def obj(known: Mapping[str, Check], **options: Any) -> Check:
    """An object with the given members (see members())."""
    return value(object=members(known, **options))


def items(kind: str, each: Check | None = None, *, nonempty: bool = False,
          label: str | None = None) -> Check:
    """The inside of an array whose elements are all of one kind; label, if
    given, is the name Unit's sentence uses instead of the member's."""
    def check(array: list[Any], name: str, ctx: Context) -> None:
        if nonempty and not array:
            raise Invalid(f'The "{name}" array must contain at least one element.')
        for element in array:
            if kind_of(element) != kind:
                raise Invalid(f'The "{label or name}" array must contain only {kind} values.')
            if each is not None:
                each(element, name, ctx)
    return check


def at_least(minimum: int) -> Check:
    def check(number: Any, name: str, ctx: Context) -> None:
        if number < minimum:
            raise Invalid(f'The "{name}" number must be equal to or greater than {minimum}.')
    return check


def one_of(*choices: str) -> Check:
    """A string from a fixed set, in Unit's "can either be" sentence."""
    def check(text: str, name: str, ctx: Context) -> None:
        if text not in choices:
            quoted = " or ".join(f'"{c}"' for c in choices)
            raise Invalid(f'The "{name}" can either be {quoted}.')
    return check


STRING = value(string=None)
INTEGER = value(integer=None)
BOOLEAN = value(boolean=None)
OBJECT = value(object=None)
