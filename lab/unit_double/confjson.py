"""Unit's own JSON dialect: the parser and the printer of the control API.

Unit does not use a stock JSON library: it accepts `//` and `/* */` comments and
trailing commas, rejects duplicate member names, numbers longer than 14
characters and leading zeros, and answers each mistake with a fixed sentence
plus an offset/line/column.  Clients show that sentence to users, so the
double ports the parser (src/nxt_conf.c in NGINX Unit 1.35.0) rather than
wrapping `json`, and reports the same position for the same mistake.

Values are plain Python: dict (member order kept), list, str, int, float, bool,
None.  Unit classes a number as an integer when it has no fractional part
(``1.0`` is an integer for validation), which `conf_type` reproduces.
"""
from __future__ import annotations

import math
from typing import Any

JsonValue = Any

INT64_MAX = 2**63 - 1
MAX_NUMBER_LEN = 14  # NXT_CONF_MAX_NUMBER_LEN

# Type indexes, in the order of Unit's nxt_conf_type_t (the validator's
# messages list expected types in this order).
NULL, BOOLEAN, INTEGER, NUMBER, STRING, ARRAY, OBJECT = range(7)


class JsonParseError(Exception):
    """A payload Unit would refuse with "Invalid JSON."."""

    def __init__(self, detail: str, pos: int) -> None:
        super().__init__(detail)
        self.detail = detail
        self.pos = pos


_EMPTY = (
    "An empty JSON payload isn't allowed.  It must be either a literal "
    "(null, true, or false), a number, a string (in double quotes \"\"), "
    "an array (with brackets []), or an object (with braces {})."
)
_VALUE_EXPECTED = (
    "A valid JSON value is expected here.  It must be either a literal "
    "(null, true, or false), a number, a string (in double quotes \"\"), "
    "an array (with brackets []), or an object (with braces {})."
)
_TRAILING = "Unexpected character after the end of a valid JSON value."
_OBJ_UNCLOSED = (
    "Unexpected end of JSON payload.  There's an object without "
    "a closing brace (})."
)
_OBJ_QUOTE = (
    "A double quote (\") is expected here.  There must be a valid "
    "JSON object member starts with a name, which is a string "
    "enclosed in double quotes."
)
_OBJ_DUP = (
    "Duplicate object member.  All JSON object members must "
    "have unique names."
)
_OBJ_NO_VALUE = (
    "Unexpected end of JSON payload.  There's an object member "
    "without a value."
)
_OBJ_COLON = (
    "A colon (:) is expected here.  There must be a colon after "
    "a JSON member name."
)
_OBJ_SEP = (
    "Either a closing brace (}) or a comma (,) is expected here.  "
    "Each JSON object must be enclosed in braces and its members "
    "must be separated by commas."
)
_ARR_UNCLOSED = (
    "Unexpected end of JSON payload.  There's an array without "
    "a closing bracket (])."
)
_ARR_SEP = (
    "Either a closing bracket (]) or a comma (,) is expected "
    "here.  Each array must be enclosed in brackets and its "
    "members must be separated by commas."
)
_STR_CONTROL = (
    "Unexpected character.  All control characters in a JSON "
    "string must be escaped."
)
_STR_BACKSLASH = (
    "Unexpected backslash.  A literal backslash in a JSON string "
    "must be escaped with a second backslash (\\\\)."
)
_STR_ESCAPE = (
    "Invalid escape sequence.  An escape sequence in a JSON "
    "string must start with a backslash, followed by the lowercase "
    "letter u, followed by four hexadecimal digits (\\uXXXX)."
)
_STR_UNCLOSED = (
    "Unexpected end of JSON payload.  There's a string without "
    "a final double quote (\")."
)
_STR_PAIR = (
    "Invalid JSON encoding sequence.  This 12-byte "
    "sequence composes an illegal UTF-16 surrogate pair."
)
_STR_UTF = (
    "Invalid JSON encoding sequence.  This 6-byte sequence "
    "does not represent a valid UTF character."
)
_NUM_FRACTION = (
    "The number is invalid.  A fraction part in JSON numbers "
    "must contain at least one digit."
)
_NUM_ZEROS = (
    "The number is invalid.  Leading zeros are not allowed in JSON "
    "numbers."
)
_NUM_EXPONENT = (
    "The number is invalid.  An exponent part in JSON numbers "
    "must contain at least one digit."
)
_NUM_LONG = (
    "The number is too long.  Such a long JSON number value "
    "is not supported."
)
_NUM_RANGE = (
    "The number is out of representable range.  Such JSON number "
    "value is not supported."
)

_HEX = frozenset(b"0123456789abcdefABCDEF")
_DIGITS = frozenset(b"0123456789")
# Characters that may follow a number (nxt_conf_json_parse_value).
_AFTER_NUMBER = frozenset(b" \t\r\n,}]{[\"/")


def decode_str(raw: bytes) -> str:
    """Unit strings are bytes; keep any byte sequence round-trippable."""
    return raw.decode("utf-8", "surrogateescape")


def encode_str(text: str) -> bytes:
    return text.encode("utf-8", "surrogateescape")


class _Parser:
    def __init__(self, data: bytes) -> None:
        self.data = data
        self.end = len(data)

    def skip_space(self, start: int) -> int:
        # Comments are white space to Unit; an unterminated one makes the
        # caller look at the slash that opened it.
        data, end = self.data, self.end
        state = "normal"
        p = start
        while p != end:
            ch = data[p]
            if state == "normal":
                if ch in b" \t\n\r":
                    p += 1
                    continue
                if ch == 0x2F:  # '/'
                    start = p
                    state = "after_slash"
                    p += 1
                    continue
                break
            if state == "after_slash":
                if ch == 0x2F:
                    state = "single"
                elif ch == 0x2A:  # '*'
                    state = "multi"
                else:
                    break
                p += 1
                continue
            if state == "single":
                if ch == 0x0A:
                    state = "normal"
                p += 1
                continue
            if state == "multi":
                if ch == 0x2A:
                    state = "after_asterisk"
                p += 1
                continue
            # after_asterisk
            if ch == 0x2F:
                state = "normal"
            elif ch != 0x2A:
                state = "multi"
            p += 1
        if state != "normal":
            return start
        return p

    def parse(self) -> JsonValue:
        p = self.skip_space(0)
        if p == self.end:
            raise JsonParseError(_EMPTY, 0)
        value, p = self.value(p)
        p = self.skip_space(p)
        if p != self.end:
            raise JsonParseError(_TRAILING, p)
        return value

    def value(self, start: int) -> tuple[JsonValue, int]:
        data, end = self.data, self.end
        ch = data[start]
        if ch == 0x7B:  # '{'
            return self.object(start)
        if ch == 0x5B:  # '['
            return self.array(start)
        if ch == 0x22:  # '"'
            return self.string(start)
        if ch == 0x74 and data.startswith(b"true", start):
            return True, start + 4
        if ch == 0x66 and data.startswith(b"false", start):
            return False, start + 5
        if ch == 0x6E and data.startswith(b"null", start):
            return None, start + 4
        if ch == 0x2D:  # '-'
            if end - start > 1:
                ch = data[start + 1]
            else:
                raise JsonParseError(_VALUE_EXPECTED, start)
        if ch in _DIGITS:
            number, p = self.number(start)
            if p == end or data[p] in _AFTER_NUMBER:
                return number, p
        raise JsonParseError(_VALUE_EXPECTED, start)

    def object(self, start: int) -> tuple[JsonValue, int]:
        data, end = self.data, self.end
        members: dict[str, JsonValue] = {}
        p = start
        while True:
            p = self.skip_space(p + 1)
            if p == end:
                raise JsonParseError(_OBJ_UNCLOSED, p)
            if data[p] != 0x22:
                if data[p] == 0x7D:  # '}' (also after a trailing comma)
                    break
                raise JsonParseError(_OBJ_QUOTE, p)
            name_pos = p
            name, p = self.string(p)
            if name in members:
                raise JsonParseError(_OBJ_DUP, name_pos)
            p = self.skip_space(p)
            if p == end:
                raise JsonParseError(_OBJ_NO_VALUE, p)
            if data[p] != 0x3A:  # ':'
                raise JsonParseError(_OBJ_COLON, p)
            p = self.skip_space(p + 1)
            if p == end:
                raise JsonParseError(_OBJ_NO_VALUE, p)
            members[name], p = self.value(p)
            p = self.skip_space(p)
            if p == end:
                raise JsonParseError(_OBJ_UNCLOSED, p)
            if data[p] != 0x2C:  # ','
                if data[p] == 0x7D:
                    break
                raise JsonParseError(_OBJ_SEP, p)
        return members, p + 1

    def array(self, start: int) -> tuple[JsonValue, int]:
        data, end = self.data, self.end
        elements: list[JsonValue] = []
        p = start
        while True:
            p = self.skip_space(p + 1)
            if p == end:
                raise JsonParseError(_ARR_UNCLOSED, p)
            if data[p] == 0x5D:  # ']'
                break
            element, p = self.value(p)
            elements.append(element)
            p = self.skip_space(p)
            if p == end:
                raise JsonParseError(_ARR_UNCLOSED, p)
            if data[p] != 0x2C:
                if data[p] == 0x5D:
                    break
                raise JsonParseError(_ARR_SEP, p)
        return elements, p + 1

    def string(self, start: int) -> tuple[str, int]:
        data, end = self.data, self.end
        begin = start + 1
        state = 0  # 0 usual, 1 escape, 2..5 the four hex digits of \u
        p = begin
        escaped = False
        while p != end:
            ch = data[p]
            if state == 0:
                if ch == 0x22:
                    break
                if ch == 0x5C:  # '\\'
                    state = 1
                    escaped = True
                elif ch < 0x20:
                    raise JsonParseError(_STR_CONTROL, p)
            elif state == 1:
                if ch in b"\"\\/nrtbf":
                    state = 0
                elif ch == 0x75:  # 'u'
                    state = 2
                else:
                    raise JsonParseError(_STR_BACKSLASH, p - 1)
            else:
                if ch not in _HEX:
                    raise JsonParseError(_STR_ESCAPE, p)
                state = 0 if state == 5 else state + 1
            p += 1
        if p == end:
            raise JsonParseError(_STR_UNCLOSED, p)
        last = p
        if not escaped:
            return decode_str(data[begin:last]), last + 1

        out = bytearray()
        p = begin
        simple = {
            0x22: b'"', 0x5C: b"\\", 0x2F: b"/", 0x6E: b"\n",
            0x72: b"\r", 0x74: b"\t", 0x62: b"\b", 0x66: b"\f",
        }
        while p != last:
            ch = data[p]
            p += 1
            if ch != 0x5C:
                out.append(ch)
                continue
            ch = data[p]
            p += 1
            if ch in simple:
                out += simple[ch]
                continue
            utf_high = 0
            while True:
                utf = int(data[p:p + 4], 16)
                p += 4
                if utf_high != 0:
                    if utf < 0xDC00 or utf > 0xDFFF:
                        raise JsonParseError(_STR_PAIR, p - 12)
                    utf = ((utf_high - 0xD800) << 10) + (utf - 0xDC00) + 0x10000
                    break
                if utf < 0xD800 or utf > 0xDFFF:
                    break
                if utf > 0xDBFF or data[p:p + 2] != b"\\u":
                    raise JsonParseError(_STR_UTF, p - 6)
                p += 2
                utf_high = utf
            out += chr(utf).encode("utf-8")
        return decode_str(bytes(out)), last + 1

    def number(self, start: int) -> tuple[int | float, int]:
        data, end = self.data, self.end
        s = start + 1 if data[start] == 0x2D else start
        dot_pos: int | None = None
        ch = data[start]
        p = s
        while p != end:
            ch = data[p]
            if ch not in _DIGITS:
                if ch == 0x2E and dot_pos is None:  # '.'
                    dot_pos = p
                    p += 1
                    continue
                break
            p += 1
        if dot_pos is not None:
            if p - dot_pos <= 1:
                raise JsonParseError(_NUM_FRACTION, s)
        else:
            dot_pos = p
        # Unit tests the first character of the whole token, so "-01" passes.
        if dot_pos - s > 1 and data[start] == 0x30:
            raise JsonParseError(_NUM_ZEROS, s)
        if ch in b"eE" and p != end:
            p += 1
            s = p
            if s != end:
                if data[s] in b"+-":
                    s += 1
                p = s
                while p != end and data[p] in _DIGITS:
                    p += 1
            if p == s:
                raise JsonParseError(_NUM_EXPONENT, start)
        size = p - start
        if size > MAX_NUMBER_LEN:
            raise JsonParseError(_NUM_LONG, start)
        text = data[start:p].decode("ascii")
        num = float(text)
        if math.isinf(num) or abs(num) > INT64_MAX:
            raise JsonParseError(_NUM_RANGE, start)
        if any(c in text for c in ".eE"):
            return num, p
        return int(text), p


def parse(data: bytes) -> JsonValue:
    """Parse like nxt_conf_json_parse; raises JsonParseError."""
    return _Parser(data).parse()


def position(data: bytes, pos: int) -> tuple[int, int] | None:
    """Line and column (in UTF-8 characters) of byte offset pos, 1-based.

    None when the line holds invalid UTF-8: Unit then reports the offset only.
    """
    line_start = data.rfind(b"\n", 0, pos) + 1
    line = data.count(b"\n", 0, pos) + 1
    try:
        column = len(data[line_start:pos].decode("utf-8")) + 1
    except UnicodeDecodeError:
        return None
    return line, column


def conf_type(value: JsonValue) -> int:
    if value is None:
        return NULL
    if isinstance(value, bool):
        return BOOLEAN
    if isinstance(value, int):
        return INTEGER
    if isinstance(value, float):
        return INTEGER if value == math.trunc(value) else NUMBER
    if isinstance(value, str):
        return STRING
    if isinstance(value, list):
        return ARRAY
    return OBJECT


def _escape(text: str) -> str:
    out = []
    for ch in text:
        code = ord(ch)
        if code > 0x1F:
            if ch in "\\\"":
                out.append("\\")
            out.append(ch)
            continue
        simple = {"\n": "n", "\r": "r", "\t": "t", "\b": "b", "\f": "f"}.get(ch)
        if simple is not None:
            out.append("\\" + simple)
        else:
            out.append(f"\\u00{code >> 4}{code & 0xF:X}")
    return "".join(out)


def _number_text(value: float) -> str:
    return str(value) if isinstance(value, int) else repr(value)


class _Printer:
    """nxt_conf_json_print: compact, or pretty with tabs, CRLF and the blank
    line Unit leaves after a member whose value was a non-empty container."""

    def __init__(self, pretty: bool) -> None:
        self.pretty = pretty
        self.level = 0
        self.more_space = False

    def value(self, value: JsonValue, out: list[str]) -> None:
        if value is None:
            out.append("null")
        elif isinstance(value, bool):
            out.append("true" if value else "false")
        elif isinstance(value, (int, float)):
            out.append(_number_text(value))
        elif isinstance(value, str):
            out.append('"' + _escape(value) + '"')
        elif isinstance(value, list):
            self.array(value, out)
        else:
            self.object(value, out)

    def newline(self, out: list[str]) -> None:
        out.append("\r\n")

    def indent(self, out: list[str]) -> None:
        out.append("\t" * self.level)

    def array(self, value: list[JsonValue], out: list[str]) -> None:
        out.append("[")
        if value:
            if self.pretty:
                self.newline(out)
                self.level += 1
                self.indent(out)
            self.value(value[0], out)
            for element in value[1:]:
                out.append(",")
                if self.pretty:
                    self.newline(out)
                    self.indent(out)
                    self.more_space = False
                self.value(element, out)
            if self.pretty:
                self.newline(out)
                self.level -= 1
                self.indent(out)
                self.more_space = True
        out.append("]")

    def object(self, value: dict[str, JsonValue], out: list[str]) -> None:
        out.append("{")
        if value:
            if self.pretty:
                self.newline(out)
                self.level += 1
            items = list(value.items())
            for n, (name, member) in enumerate(items):
                if self.pretty:
                    self.indent(out)
                out.append('"' + _escape(name) + '":')
                if self.pretty:
                    out.append(" ")
                self.value(member, out)
                if n == len(items) - 1:
                    break
                out.append(",")
                if self.pretty:
                    self.newline(out)
                    if self.more_space:
                        self.more_space = False
                        self.newline(out)
            if self.pretty:
                self.newline(out)
                self.level -= 1
                self.indent(out)
                self.more_space = True
        out.append("}")


def dumps(value: JsonValue, pretty: bool = False) -> bytes:
    out: list[str] = []
    _Printer(pretty).value(value, out)
    return encode_str("".join(out))
