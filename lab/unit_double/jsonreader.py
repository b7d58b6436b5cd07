"""Unit's reading of JSON request bodies, with the errors it reports.

Unit is laxer than RFC 8259 in three ways (comments, trailing commas, a
leading zero after a minus sign) and stricter in others (duplicate member
names, numbers longer than 14 characters or outside a 64-bit range).  Every
refusal names a byte offset; the line and column a client sees are derived
from it (columns count characters, not bytes).

A small recursive reader over the bytes; string escapes are decoded by
Python's own `json` once their positions have been checked.
"""
from __future__ import annotations

import json
import re
from typing import Any

_VALUE_FORMS = ("It must be either a literal (null, true, or false), a number, a string "
                '(in double quotes ""), an array (with brackets []), or an object '
                "(with braces {}).")
EMPTY = "An empty JSON payload isn't allowed.  " + _VALUE_FORMS
NO_VALUE = "A valid JSON value is expected here.  " + _VALUE_FORMS
_END = "Unexpected end of JSON payload.  There's "
OPEN_OBJECT = _END + "an object without a closing brace (})."
OPEN_ARRAY = _END + "an array without a closing bracket (])."
OPEN_STRING = _END + 'a string without a final double quote (").'
MEMBER_WITHOUT_VALUE = _END + "an object member without a value."
NO_COLON = "A colon (:) is expected here.  There must be a colon after a JSON member name."
OBJECT_SEPARATOR = ("Either a closing brace (}) or a comma (,) is expected here.  Each JSON object "
                    "must be enclosed in braces and its members must be separated by commas.")
ARRAY_SEPARATOR = ("Either a closing bracket (]) or a comma (,) is expected here.  Each array "
                   "must be enclosed in brackets and its members must be separated by commas.")
NO_NAME = ('A double quote (") is expected here.  There must be a valid JSON object member '
           "starts with a name, which is a string enclosed in double quotes.")
DUPLICATE = "Duplicate object member.  All JSON object members must have unique names."
TRAILING = "Unexpected character after the end of a valid JSON value."
CONTROL_CHAR = "Unexpected character.  All control characters in a JSON string must be escaped."
BACKSLASH = ("Unexpected backslash.  A literal backslash in a JSON string must be escaped "
             "with a second backslash (\\\\).")
BAD_ESCAPE = ("Invalid escape sequence.  An escape sequence in a JSON string must start with a "
              "backslash, followed by the lowercase letter u, followed by four hexadecimal "
              "digits (\\uXXXX).")
LONE_SURROGATE = ("Invalid JSON encoding sequence.  This 6-byte sequence does not represent "
                  "a valid UTF character.")
BAD_PAIR = ("Invalid JSON encoding sequence.  This 12-byte sequence composes an illegal "
            "UTF-16 surrogate pair.")
LEADING_ZERO = "The number is invalid.  Leading zeros are not allowed in JSON numbers."
EMPTY_FRACTION = ("The number is invalid.  A fraction part in JSON numbers must contain at "
                  "least one digit.")
EMPTY_EXPONENT = ("The number is invalid.  An exponent part in JSON numbers must contain at "
                  "least one digit.")
TOO_LONG = "The number is too long.  Such a long JSON number value is not supported."
OUT_OF_RANGE = ("The number is out of representable range.  Such JSON number value is not "
                "supported.")

MAX_NUMBER_TEXT = 14
LARGEST = 2**63 - 1
SMALLEST = 2.2250738585072014e-308  # the smallest normal double: subnormals are refused

# Whitespace and *terminated* comments; an unterminated one is not skipped,
# so the error lands on its first character.
_GAP = re.compile(rb"(?:[ \t\r\n]+|/\*.*?\*/|//[^\n]*\n)*", re.S)
_NUMBER = re.compile(rb"(-?)(\d+)(\.\d*)?([eE][+-]?\d*)?")
_NUMBER_GLUED = re.compile(rb"[\w.+-]")
_STRING_BODY = re.compile(rb'(?:[^"\\]|\\.)*', re.S)
_CONTROL = re.compile(rb"[\x00-\x1f]")
_ESCAPE = re.compile(rb"\\(.)", re.S)
_HEX = re.compile(rb"[0-9a-fA-F]{0,4}")
_LITERALS = {b"true": True, b"false": False, b"null": None}


class JsonError(ValueError):
    """A body Unit would refuse, with what it says and where."""

    def __init__(self, detail: str, offset: int) -> None:
        super().__init__(detail)
        self.detail = detail
        self.offset = offset

    def location(self, data: bytes) -> dict[str, int]:
        line_start = data.rfind(b"\n", 0, self.offset) + 1
        column = len(data[line_start:self.offset].decode("utf-8", "replace")) + 1
        return {"offset": self.offset, "line": data.count(b"\n", 0, self.offset) + 1,
                "column": column}


def parse(data: bytes) -> Any:
    """The value in data, or JsonError."""
    reader = _Reader(data)
    reader.skip()
    if reader.at_end():
        raise JsonError(EMPTY, 0)
    value = reader.value(NO_VALUE)
    reader.skip()
    if not reader.at_end():
        raise JsonError(TRAILING, reader.pos)
    return value


class _Reader:
    def __init__(self, data: bytes) -> None:
        self.data = data
        self.pos = 0

    def at_end(self) -> bool:
        return self.pos >= len(self.data)

    def skip(self) -> None:
        match = _GAP.match(self.data, self.pos)
        assert match is not None  # the pattern matches the empty string
        self.pos = match.end()

    def peek(self) -> bytes:
        return self.data[self.pos:self.pos + 1]

    def value(self, at_end: str) -> Any:
        """The value starting at the next token; at_end is what a missing one means here."""
        self.skip()
        if self.at_end():
            raise JsonError(at_end, self.pos)
        first = self.peek()
        if first == b"{":
            return self.object()
        if first == b"[":
            return self.array()
        if first == b'"':
            return self.string()
        if re.match(rb"-?\d", self.data[self.pos:self.pos + 2]):
            return self.number()
        for text, literal in _LITERALS.items():
            if self.data.startswith(text, self.pos):
                self.pos += len(text)
                return literal
        raise JsonError(NO_VALUE, self.pos)

    def object(self) -> dict[str, Any]:
        self.pos += 1
        members: dict[str, Any] = {}
        while True:
            if self.ends_here(b"}", OPEN_OBJECT):
                return members
            name_at = self.pos
            if self.peek() != b'"':
                raise JsonError(NO_NAME, name_at)
            name = self.string()
            if name in members:
                raise JsonError(DUPLICATE, name_at)
            self.colon()
            members[name] = self.value(MEMBER_WITHOUT_VALUE)
            if self.closes(b"}", OPEN_OBJECT, OBJECT_SEPARATOR):
                return members

    def ends_here(self, mark: bytes, at_end: str) -> bool:
        """Past blanks: True at `mark` (consumed), False at anything else; the
        error `at_end` when the text ends first."""
        self.skip()
        if self.at_end():
            raise JsonError(at_end, self.pos)
        if self.peek() == mark:
            self.pos += 1
            return True
        return False

    def colon(self) -> None:
        if not self.ends_here(b":", MEMBER_WITHOUT_VALUE):
            raise JsonError(NO_COLON, self.pos)

    def closes(self, closer: bytes, at_end: str, otherwise: str) -> bool:
        """After a member: True at the closer (consumed), False after a comma."""
        if self.ends_here(closer, at_end):
            return True
        if not self.ends_here(b",", at_end):
            raise JsonError(otherwise, self.pos)
        return False

    def array(self) -> list[Any]:
        self.pos += 1
        items: list[Any] = []
        while True:
            if self.ends_here(b"]", OPEN_ARRAY):
                return items
            items.append(self.value(OPEN_ARRAY))
            if self.closes(b"]", OPEN_ARRAY, ARRAY_SEPARATOR):
                return items

    def string(self) -> str:
        start = self.pos + 1
        match = _STRING_BODY.match(self.data, start)
        assert match is not None
        end = match.end()
        if self.data[end:end + 1] != b'"':
            raise JsonError(OPEN_STRING, len(self.data))
        body = self.data[start:end]
        control = _CONTROL.search(body)
        if control:
            raise JsonError(CONTROL_CHAR, start + control.start())
        _check_escapes(body, start)
        self.pos = end + 1
        # Invalid UTF-8 passes Unit unchanged; here it becomes U+FFFD.
        decoded: str = json.loads('"' + body.decode("utf-8", "replace") + '"')
        return decoded

    def number(self) -> int | float:
        start = self.pos
        match = _NUMBER.match(self.data, start)
        assert match is not None
        sign, digits, fraction, exponent = match.groups()
        text = match.group()
        if _NUMBER_GLUED.match(self.data, match.end()):
            raise JsonError(NO_VALUE, start)  # "0x1", "1.5.3": no number Unit knows
        if not sign and len(digits) > 1 and digits.startswith(b"0"):
            raise JsonError(LEADING_ZERO, start)
        if fraction == b".":
            raise JsonError(EMPTY_FRACTION, start)
        if exponent is not None and not exponent.lstrip(b"eE+-"):
            raise JsonError(EMPTY_EXPONENT, start)
        if len(text) > MAX_NUMBER_TEXT:
            raise JsonError(TOO_LONG, start)
        value = float(text)
        if abs(value) > LARGEST or (value != 0 and abs(value) < SMALLEST):
            raise JsonError(OUT_OF_RANGE, start)
        self.pos = match.end()
        return int(text) if fraction is None and exponent is None else value


def _check_escapes(body: bytes, base: int) -> None:
    """Refuse unknown escapes, short \\u sequences and unpaired UTF-16 surrogates.

    base is the offset of body in the payload, for the error position."""
    paired_low_at = -1
    for escape in _ESCAPE.finditer(body):
        at = escape.start()
        kind = escape.group(1)
        if kind in b'"\\/bfnrt':
            continue
        if kind != b"u":
            raise JsonError(BACKSLASH, base + at)
        hex_digits = _HEX.match(body, at + 2)
        assert hex_digits is not None
        if len(hex_digits.group()) < 4:
            raise JsonError(BAD_ESCAPE, base + hex_digits.end())
        unit = int(hex_digits.group(), 16)
        if 0xDC00 <= unit <= 0xDFFF and at != paired_low_at:
            raise JsonError(LONE_SURROGATE, base + at)
        if 0xD800 <= unit <= 0xDBFF:
            paired_low_at = _low_surrogate_after(body, at, base)


def _low_surrogate_after(body: bytes, high_at: int, base: int) -> int:
    """Where the low half of the pair that starts at high_at is, or JsonError."""
    follower = re.match(rb"\\u([0-9a-fA-F]{4})", body[high_at + 6:high_at + 12])
    if follower is None:
        raise JsonError(LONE_SURROGATE, base + high_at)
    if not 0xDC00 <= int(follower.group(1), 16) <= 0xDFFF:
        raise JsonError(BAD_PAIR, base + high_at)
    return high_at + 6
