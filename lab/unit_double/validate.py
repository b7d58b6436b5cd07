"""Unit's configuration validator (src/nxt_conf_validation.c, 1.35.0), ported.

The control API answers a bad configuration with one sentence naming the first
problem found, walking each object in member order.  The provider shows those
sentences to users, so the tables and messages below follow Unit's: a member
list per object, each member with its accepted types, an optional validator,
and the flags "required" and "may hold a $variable".

Deliberately not ported (the double accepts what Unit would check): regular
expressions in match patterns (Unit uses PCRE2), the HTTP compression,
static mime-type and OpenSSL conf_commands details, and every language other
than Python and "external".
"""
from __future__ import annotations

import ipaddress
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from .confjson import ARRAY, BOOLEAN, INTEGER, NULL, NUMBER, OBJECT, STRING, conf_type

JsonValue = Any

T_NULL = 1 << NULL
T_BOOLEAN = 1 << BOOLEAN
T_INTEGER = 1 << INTEGER
T_NUMBER = (1 << NUMBER) | T_INTEGER
T_STRING = 1 << STRING
T_ARRAY = 1 << ARRAY
T_OBJECT = 1 << OBJECT

INT32_MAX = 2**31 - 1

_TYPE_NAMES = (
    "a null", "a boolean", "an integer number", "a fractional number",
    "a string", "an array", "an object",
)


class Invalid(Exception):
    """The configuration is refused; `detail` is Unit's sentence."""

    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail


@dataclass(frozen=True)
class Module:
    """An application language module, as discovery reports it."""

    type: str  # "python", "external"
    version: str  # "3.11.2"; "" for the built-in external module


@dataclass
class Context:
    conf: JsonValue
    certificates: frozenset[str]
    modules: Sequence[Module]
    ctx: Any = None  # per-walk scratch, like vldt->ctx in Unit


Validator = Callable[[Context, JsonValue, Any], None]


@dataclass(frozen=True)
class M:
    """One member of an object schema (nxt_conf_vldt_object_t)."""

    name: str
    type: int
    validator: Validator | None = None
    data: Any = None
    required: bool = False
    tstr: bool = False  # may be a template string ($var) instead


Members = tuple[M, ...]


def type_error(name: str | None, value: JsonValue, allowed: int) -> Invalid:
    bits = [t for t in range(7) if allowed & (1 << t)]
    words = [_TYPE_NAMES[t] for t in bits]
    if len(words) == 1:
        expected = words[0]
    elif len(words) == 2:
        expected = f"either {words[0]} or {words[1]}"
    else:
        expected = "either " + ", ".join(words[:-1]) + ", or " + words[-1]
    actual = _TYPE_NAMES[conf_type(value)]
    if name is None:
        return Invalid(f"The configuration must be {expected}, but not {actual}.")
    return Invalid(f'The "{name}" value must be {expected}, but not {actual}.')


def check_type(name: str | None, value: JsonValue, allowed: int) -> None:
    if not (1 << conf_type(value)) & allowed:
        raise type_error(name, value, allowed)


# --- template strings ($variables) -------------------------------------------

_VARIABLES = frozenset({
    "dollar", "request_time", "method", "request_uri", "uri", "host",
    "remote_addr", "time_local", "request_line", "request_id", "status",
    "body_bytes_sent", "header_referer", "response_header_connection",
    "response_header_content_length", "response_header_transfer_encoding",
    "header_user_agent",
})
_VARIABLE_PREFIXES = ("response_header_", "header_", "arg_", "cookie_")


def is_tstr(text: str) -> bool:
    return "`" in text or "$" in text


def _variable_known(name: str) -> bool:
    return name in _VARIABLES or name.startswith(_VARIABLE_PREFIXES)


def tstr_error(text: str) -> str | None:
    """nxt_tstr_test: None when the template is valid, else the message."""
    if text.startswith("`"):
        return ('Unit is built without support of njs: "--njs" ./configure '
                "option is missing.")
    if "$" not in text:
        return None
    p, end = 0, len(text)
    while p < end:
        if text[p] != "$":
            nxt = text.find("$", p)
            p = end if nxt < 0 else nxt
            continue
        start = p
        p += 1
        if p == end:
            return f"Invalid variable at position {start}"
        bracket = text[p] == "{"
        if bracket:
            if end - p < 2:
                return f"Invalid variable at position {start}"
            p += 1
        name_start = p
        while p < end and (text[p].isascii() and (text[p].isalpha() or text[p] == "_")):
            p += 1
        name = text[name_start:p]
        if bracket and p < end and text[p] == "}":
            p += 1
            bracket = False
        if bracket or not name:
            return f"Invalid variable at position {start}"
        if not _variable_known(name):
            return f'Unknown variable "{name}"'
    return None


def check_var(name: str, text: str) -> None:
    error = tstr_error(text)
    if error is not None:
        raise Invalid(f'{error} in the "{name}" value.')


# --- generic walkers -----------------------------------------------------------

def vldt_object(vc: Context, value: dict[str, JsonValue], members: Members) -> None:
    for spec in members:
        if spec.required and spec.name not in value:
            raise Invalid(f'Required parameter "{spec.name}" is missing.')
    by_name: dict[str, M] = {}
    for spec in members:
        by_name.setdefault(spec.name, spec)  # the first entry wins, as in Unit
    for name, member in value.items():
        found = by_name.get(name)
        if found is None:
            raise Invalid(f'Unknown parameter "{name}".')
        if found.tstr and isinstance(member, str) and is_tstr(member):
            check_var(name, member)
            continue
        check_type(name, member, found.type)
        if found.validator is not None:
            found.validator(vc, member, found.data)


def vldt_members(vc: Context, value: JsonValue, data: Any) -> None:
    vldt_object(vc, value, data)


def object_iterator(vc: Context, value: dict[str, JsonValue],
                    each: Callable[[Context, str, JsonValue], None]) -> None:
    for name, member in value.items():
        each(vc, name, member)


def array_iterator(vc: Context, value: list[JsonValue],
                   each: Callable[[Context, JsonValue], None]) -> None:
    for element in value:
        each(vc, element)


def _iter_object(each: Callable[[Context, str, JsonValue], None]) -> Validator:
    return lambda vc, value, _data: object_iterator(vc, value, each)


def _iter_array(each: Callable[[Context, JsonValue], None]) -> Validator:
    return lambda vc, value, _data: array_iterator(vc, value, each)


def _int_range(name: str, low: int, high: int = INT32_MAX,
               low_text: str = "be equal to or greater than") -> Validator:
    def check(_vc: Context, value: JsonValue, _data: Any) -> None:
        number = int(value)
        if number < low:
            raise Invalid(f'The "{name}" number must {low_text} {low}.')
        if number > high:
            raise Invalid(f'The "{name}" number must not exceed {high}.')
    return check


# --- addresses -------------------------------------------------------------------

def int_parse(text: str) -> int:
    """nxt_int_parse: digits only, -1 when not a number, -2 on overflow."""
    if not text:
        return -1
    value = 0
    for ch in text:
        if not ("0" <= ch <= "9"):
            return -1
        value = value * 10 + (ord(ch) - 48)
        if value > 2**63 - 1:
            return -2
    return value


def inet_addr(text: str) -> int | None:
    """nxt_inet_addr: dotted quad only; None for INADDR_NONE."""
    if not text or text.endswith("."):
        return None
    addr = octet = dots = 0
    for ch in text:
        if "0" <= ch <= "9":
            octet = octet * 10 + (ord(ch) - 48)
            continue
        if ch == "." and octet < 256:
            addr = (addr << 8) + octet
            octet = 0
            dots += 1
            continue
        return None
    if dots == 3 and octet < 256:
        addr = (addr << 8) + octet
        return None if addr == 0xFFFFFFFF else addr
    return None


def inet6_probe(text: str) -> bool:
    first = text.find(":")
    return first >= 0 and text.find(":", first + 1) >= 0


def _inet6_ok(text: str) -> bool:
    try:
        ipaddress.IPv6Address(text)
    except ValueError:
        return False
    return True


def sockaddr_ok(text: str) -> bool:
    """nxt_sockaddr_parse for listener and upstream server names."""
    if not text:
        return False
    if len(text) > 6 and text.startswith("unix:"):
        return len(text) - 5 <= 107
    if text.startswith("[") or inet6_probe(text):
        if text.startswith("["):
            close = text.find("]")
            if close < 0:
                return False
            host, rest = text[1:close], text[close + 1:]
            if len(rest) < 2 or rest[0] != ":":
                return False
            port = int_parse(rest[1:])
            if port < 1 or port > 65535:
                return False
        else:
            host, port = text, 0
        return _inet6_ok(host) and port != 0
    host, colon, port_text = text.partition(":")
    if not host:
        return False
    if host != "*" and inet_addr(host) is None:
        return False
    if not colon:
        return False  # a port is required
    port = int_parse(port_text)
    return 1 <= port <= 65535


def _addr_pattern_error(value: JsonValue) -> str | None:
    """nxt_http_route_addr_pattern_parse, reduced to its verdict."""
    if not isinstance(value, str):
        return 'The "match" pattern for "address" must be a string.'
    addr = value.removeprefix("!")
    if addr == "unix":
        return None
    if len(addr) < 2:
        return 'The "address" is too short.'
    fmt = 'The "address" format is invalid.'
    port: str | None = None
    if addr.startswith("*:"):
        port = addr[2:]
    elif inet6_probe(addr):
        if addr.startswith("["):
            body = addr[1:]
            idx = body.rfind("]:")
            if idx < 0:
                return fmt
            addr, port = body[:idx], body[idx + 2:]
        if "-" in addr:
            low, _, high = addr.partition("-")
            if not (_inet6_ok(low) and _inet6_ok(high)):
                return fmt
            if ipaddress.IPv6Address(low) > ipaddress.IPv6Address(high):
                return 'The "address" range is overlapping.'
        elif "/" in addr:
            addr, _, prefix_text = addr.partition("/")
            prefix = int_parse(prefix_text)
            if prefix < 0 or prefix > 128:
                return 'The "address" has an invalid CIDR prefix.'
            if not _inet6_ok(addr):
                return fmt
        elif not _inet6_ok(addr):
            return fmt
    else:
        if ":" in addr:
            addr, _, port = addr.partition(":")
        if "-" in addr:
            low, _, high = addr.partition("-")
            start, stop = inet_addr(low), inet_addr(high)
            if start is None or stop is None:
                return fmt
            if start > stop:
                return 'The "address" range is overlapping.'
        else:
            if "/" in addr:
                addr, _, prefix_text = addr.partition("/")
                prefix = int_parse(prefix_text)
                if prefix < 0 or prefix > 32:
                    return 'The "address" has an invalid CIDR prefix.'
            if inet_addr(addr) is None:
                return fmt
    if port is None:
        return None
    if port == "":
        return fmt
    first_text, dash, last_text = port[:-1].partition("-")
    if dash:
        first = int_parse(first_text)
        last = int_parse(last_text + port[-1])
        if first < 0 or first > 65535 or last < first or last > 65535:
            return 'The "address" port an invalid port.'
    else:
        number = int_parse(port)
        if number < 0 or number > 65535:
            return 'The "address" port an invalid port.'
    return None


def _match_addr(_vc: Context, value: JsonValue) -> None:
    error = _addr_pattern_error(value)
    if error is not None:
        raise Invalid(error)


def _match_addrs(vc: Context, value: JsonValue, _data: Any) -> None:
    if isinstance(value, list):
        array_iterator(vc, value, _match_addr)
    else:
        _match_addr(vc, value)


# --- match patterns ------------------------------------------------------------------

def decode_uri(text: str) -> str | None:
    """nxt_decode_uri: %XX decoding; None when a sequence is broken."""
    raw = text.encode("utf-8", "surrogateescape")
    out = bytearray()
    i = 0
    while i < len(raw):
        ch = raw[i]
        i += 1
        if ch == 0x25:
            pair = raw[i:i + 2]
            if len(pair) < 2 or any(c not in b"0123456789abcdefABCDEF" for c in pair):
                return None
            out.append(int(pair, 16))
            i += 2
            continue
        out.append(ch)
    return bytes(out).decode("utf-8", "surrogateescape")


def _pattern(vc: Context, value: JsonValue) -> None:
    if not isinstance(value, str):
        raise Invalid(f'The "match" pattern for "{vc.ctx}" must be strings.')
    if not value:
        return
    first = 1 if value[0] == "!" else 0
    if first < len(value) and value[first] == "~":
        return  # a regular expression: not checked by the double
    if "**" in value[first:]:
        raise Invalid('The "match" pattern must not contain double "*" markers.')


def _patterns(vc: Context, value: JsonValue, data: Any) -> None:
    vc.ctx = data
    if isinstance(value, list):
        array_iterator(vc, value, _pattern)
    else:
        _pattern(vc, value)
    vc.ctx = None


def _encoded_pattern(vc: Context, value: JsonValue) -> None:
    if not isinstance(value, str):
        raise Invalid(f'The "match" pattern for "{vc.ctx}" must be a string.')
    _pattern(vc, value)
    if decode_uri(value) is None:
        raise Invalid(f'The "match" pattern for "{vc.ctx}" is encoded but is invalid.')


def _encoded_patterns(vc: Context, value: JsonValue, data: Any) -> None:
    vc.ctx = data
    if isinstance(value, list):
        array_iterator(vc, value, _encoded_pattern)
    else:
        _encoded_pattern(vc, value)
    vc.ctx = None


def _encoded_set_member(vc: Context, name: str, value: JsonValue) -> None:
    if not name:
        raise Invalid('The "match" pattern objects must not contain empty member names.')
    if decode_uri(name) is None:
        raise Invalid('The "match" pattern for "arguments" is encoded but is invalid.')
    _encoded_patterns(vc, value, "arguments")


def _encoded_set(vc: Context, value: JsonValue) -> None:
    if not isinstance(value, dict):
        raise Invalid('The "match" pattern for "arguments" must be an object.')
    object_iterator(vc, value, _encoded_set_member)


def _encoded_sets(vc: Context, value: JsonValue, _data: Any) -> None:
    if isinstance(value, list):
        array_iterator(vc, value, _encoded_set)
    else:
        _encoded_set(vc, value)


def _patterns_sets(vc: Context, value: JsonValue, data: Any) -> None:
    def member(vc: Context, name: str, pattern: JsonValue) -> None:
        if not name:
            raise Invalid('The "match" pattern objects must not contain empty member names.')
        _patterns(vc, pattern, data)

    def one(vc: Context, element: JsonValue) -> None:
        if not isinstance(element, dict):
            raise Invalid(f'The "match" patterns for "{data}" must be objects.')
        object_iterator(vc, element, member)

    if isinstance(value, list):
        array_iterator(vc, value, one)
    else:
        one(vc, value)


def _scheme(_vc: Context, value: JsonValue, _data: Any) -> None:
    if value.lower() not in ("http", "https"):
        raise Invalid('The "scheme" can either be "http" or "https".')


def _if(_vc: Context, value: JsonValue, _data: Any) -> None:
    text = value.removeprefix("!")
    if text and is_tstr(text):
        check_var("if", text)


MATCH: Members = (
    M("method", T_STRING | T_ARRAY, _patterns, "method"),
    M("scheme", T_STRING, _scheme),
    M("host", T_STRING | T_ARRAY, _patterns, "host"),
    M("source", T_STRING | T_ARRAY, _match_addrs),
    M("destination", T_STRING | T_ARRAY, _match_addrs),
    M("uri", T_STRING | T_ARRAY, _encoded_patterns, "uri"),
    M("query", T_STRING | T_ARRAY, _encoded_patterns, "query"),
    M("arguments", T_OBJECT | T_ARRAY, _encoded_sets),
    M("headers", T_OBJECT | T_ARRAY, _patterns_sets, "headers"),
    M("cookies", T_OBJECT | T_ARRAY, _patterns_sets, "cookies"),
    M("if", T_STRING, _if),
)


# --- actions ---------------------------------------------------------------------------

def _pass_segments(text: str) -> list[str] | None:
    """nxt_http_pass_segments: up to three non-empty, %-decoded segments."""
    parts = text.split("/")
    if len(parts) > 3:
        return None
    out = []
    for part in parts:
        if not part:
            return None
        decoded = decode_uri(part)
        if decoded is None:
            return None
        out.append(decoded)
    return out + [""] * (3 - len(out))


def pass_target_exists(conf: JsonValue, text: str) -> bool | None:
    """True/False whether a pass destination exists; None if malformed."""
    segments = _pass_segments(text)
    if segments is None:
        return None
    kind, name, target = segments
    root = conf if isinstance(conf, dict) else {}
    if kind == "applications":
        apps = root.get("applications")
        if not name or not isinstance(apps, dict) or name not in apps:
            return False
        if target:
            app = apps[name]
            targets = app.get("targets") if isinstance(app, dict) else None
            return isinstance(targets, dict) and target in targets
        return True
    if kind == "upstreams":
        ups = root.get("upstreams")
        return bool(name) and not target and isinstance(ups, dict) and name in ups
    if kind == "routes":
        routes = root.get("routes")
        if target or routes is None:
            return False
        if not name:
            return isinstance(routes, list)
        return isinstance(routes, dict) and name in routes
    return False


def _pass(vc: Context, value: JsonValue, _data: Any) -> None:
    exists = pass_target_exists(vc.conf, value)
    if exists is None:
        raise Invalid(f'Request "pass" value "{value}" is invalid.')
    if not exists:
        raise Invalid(f'Request "pass" points to invalid location "{value}".')


def _response_header(_vc: Context, name: str, value: JsonValue) -> None:
    if not name:
        raise Invalid("The response header name must not be empty.")
    if name == "Content-Length":
        raise Invalid('The "Content-Length" response header value is not supported')
    if value is None:
        return
    if isinstance(value, str):
        if is_tstr(value):
            check_var(name, value)
        return
    raise Invalid(f'The "{name}" response header value must either be a string or a null')


ACTION_COMMON: Members = (
    M("rewrite", T_STRING, tstr=True),
    M("response_headers", T_OBJECT, _iter_object(_response_header)),
)


def _return(_vc: Context, value: JsonValue, _data: Any) -> None:
    if int(value) < 0 or int(value) > 999:
        raise Invalid('The "return" value is out of allowed HTTP status code range 0-999.')


def _share_element(_vc: Context, value: JsonValue) -> None:
    if not isinstance(value, str):
        raise Invalid('The "share" array must contain only string values.')
    if is_tstr(value):
        check_var("share", value)


def _share(vc: Context, value: JsonValue, _data: Any) -> None:
    if isinstance(value, list):
        if not value:
            raise Invalid('The "share" array must contain at least one element.')
        array_iterator(vc, value, _share_element)
    else:
        _share_element(vc, value)


def _proxy(_vc: Context, value: JsonValue, _data: Any) -> None:
    if value.startswith("http://") and sockaddr_ok(value[7:]):
        return
    name = value.removeprefix("http://")
    raise Invalid(f'The "proxy" address is invalid "{name}"')


def _action(vc: Context, value: JsonValue, _data: Any) -> None:
    chosen: Members | None = None
    for key, members in _ACTIONS:
        if key not in value:
            continue
        if chosen is not None:
            raise Invalid('The "action" object must have just one of "pass", '
                          '"return", "share", or "proxy" options set.')
        chosen = members
    if chosen is None:
        raise Invalid('The "action" object must have either "pass", "return", '
                      '"share", or "proxy" option set.')
    vldt_object(vc, value, chosen)


_ACTIONS: tuple[tuple[str, Members], ...] = (
    ("pass", (M("pass", T_STRING, _pass, tstr=True),) + ACTION_COMMON),
    ("return", (M("return", T_INTEGER, _return),
                M("location", T_STRING, tstr=True)) + ACTION_COMMON),
    ("share", (
        M("share", T_STRING | T_ARRAY, _share),
        M("index", T_STRING),
        M("types", T_STRING | T_ARRAY, _patterns, "types"),
        M("fallback", T_OBJECT, _action),
        M("chroot", T_STRING, tstr=True),
        M("follow_symlinks", T_BOOLEAN),
        M("traverse_mounts", T_BOOLEAN),
    ) + ACTION_COMMON),
    ("proxy", (M("proxy", T_STRING, _proxy),) + ACTION_COMMON),
)

ROUTE: Members = (
    M("match", T_OBJECT, vldt_members, MATCH),
    M("action", T_OBJECT, _action),
)


def _route(vc: Context, value: JsonValue) -> None:
    if not isinstance(value, dict):
        raise Invalid('The "routes" array must contain only object values.')
    vldt_object(vc, value, ROUTE)


def _routes_member(vc: Context, name: str, value: JsonValue) -> None:
    check_type(name, value, T_ARRAY)
    array_iterator(vc, value, _route)


def _routes(vc: Context, value: JsonValue, _data: Any) -> None:
    if isinstance(value, list):
        array_iterator(vc, value, _route)
    else:
        object_iterator(vc, value, _routes_member)


# --- listeners ---------------------------------------------------------------------------

def _certificate_element(vc: Context, value: JsonValue) -> None:
    if not isinstance(value, str):
        raise Invalid('The "certificate" array must contain only string values.')
    if value not in vc.certificates:
        raise Invalid(f'Certificate "{value}" is not found.')


def _certificate(vc: Context, value: JsonValue, _data: Any) -> None:
    if isinstance(value, list):
        if not value:
            raise Invalid('The "certificate" array must contain at least one element.')
        array_iterator(vc, value, _certificate_element)
    else:
        _certificate_element(vc, value)


def _conf_commands(_vc: Context, value: JsonValue, _data: Any) -> None:
    for name, member in value.items():
        check_type(name, member, T_STRING)


def _cache_size(_vc: Context, value: JsonValue, _data: Any) -> None:
    if int(value) < 0:
        raise Invalid('The "cache_size" number must not be negative.')


def _tls_timeout(_vc: Context, value: JsonValue, _data: Any) -> None:
    if int(value) <= 0:
        raise Invalid('The "timeout" number must be greater than zero.')


SESSION: Members = (
    M("cache_size", T_INTEGER, _cache_size),
    M("timeout", T_INTEGER, _tls_timeout),
    M("tickets", T_STRING | T_ARRAY | T_BOOLEAN),
)

TLS: Members = (
    M("certificate", T_STRING | T_ARRAY, _certificate, required=True),
    M("conf_commands", T_OBJECT, _conf_commands),
    M("session", T_OBJECT, vldt_members, SESSION),
)

FORWARDED: Members = (
    M("client_ip", T_STRING),
    M("protocol", T_STRING),
    M("source", T_STRING | T_ARRAY, _match_addrs, required=True),
    M("recursive", T_BOOLEAN),
)

CLIENT_IP: Members = (
    M("source", T_STRING | T_ARRAY, _match_addrs, required=True),
    M("header", T_STRING, required=True),
    M("recursive", T_BOOLEAN),
)


def _forwarded(vc: Context, value: JsonValue, _data: Any) -> None:
    if "client_ip" not in value and "protocol" not in value:
        raise Invalid('The "forwarded" object must have either "client_ip" '
                      'or "protocol" option set.')
    vldt_object(vc, value, FORWARDED)


def _app_name(vc: Context, value: JsonValue, _data: Any) -> None:
    apps = vc.conf.get("applications") if isinstance(vc.conf, dict) else None
    if not isinstance(apps, dict) or value not in apps:
        raise Invalid('Listening socket is assigned for a non existing '
                      f'application "{value}".')


def _backlog(_vc: Context, value: JsonValue, _data: Any) -> None:
    if int(value) < -1:
        raise Invalid('The "backlog" number must be equal to or greater than -1.')
    if int(value) > INT32_MAX:
        raise Invalid(f'The "backlog" number must not exceed {INT32_MAX}.')


LISTENER: Members = (
    M("pass", T_STRING, _pass, tstr=True),
    M("application", T_STRING, _app_name),
    M("forwarded", T_OBJECT, _forwarded),
    M("client_ip", T_OBJECT, vldt_members, CLIENT_IP),
    M("backlog", T_NUMBER, _backlog),
    M("tls", T_OBJECT, vldt_members, TLS),
)


def _listener(vc: Context, name: str, value: JsonValue) -> None:
    if not sockaddr_ok(name):
        raise Invalid(f'The listener address "{name}" is invalid.')
    check_type(name, value, T_OBJECT)
    vldt_object(vc, value, LISTENER)


# --- applications -----------------------------------------------------------------------------

def _processes(vc: Context, value: JsonValue, data: Any) -> None:
    if not isinstance(value, dict):
        number = int(value)
        if number < 1:
            raise Invalid('The "processes" number must be equal to or greater than 1.')
        if number > INT32_MAX:
            raise Invalid(f'The "processes" number must not exceed {INT32_MAX}.')
        return
    vldt_object(vc, value, data)
    spare = int(value.get("spare", 0))
    maximum = int(value.get("max", 1))
    idle = int(value.get("idle_timeout", 15))
    if spare < 0:
        raise Invalid('The "spare" number must not be negative.')
    if spare > INT32_MAX:
        raise Invalid(f'The "spare" number must not exceed {INT32_MAX}.')
    if maximum < 1:
        raise Invalid('The "max" number must be equal to or greater than 1.')
    if maximum > INT32_MAX:
        raise Invalid(f'The "max" number must not exceed {INT32_MAX}.')
    if maximum < spare:
        raise Invalid('The "spare" number must be less than or equal to "max".')
    if idle < 0:
        raise Invalid('The "idle_timeout" number must not be negative.')
    if idle > INT32_MAX // 1000:
        raise Invalid(f'The "idle_timeout" number must not exceed {INT32_MAX // 1000}.')


def _environment(_vc: Context, name: str, value: JsonValue) -> None:
    if not name:
        raise Invalid("The environment name must not be empty.")
    if "\0" in name:
        raise Invalid("The environment name must not contain null character.")
    if "=" in name:
        raise Invalid("The environment name must not contain '=' character.")
    if not isinstance(value, str):
        raise Invalid(f'The "{name}" environment value must be a string.')
    if "\0" in value:
        raise Invalid(f'The "{name}" environment value must not contain null character.')


def _procmap(label: str) -> Callable[[Context, JsonValue], None]:
    def check(vc: Context, value: JsonValue) -> None:
        if not isinstance(value, dict):
            raise Invalid(f'The "{label}" array must contain only object values.')
        vldt_object(vc, value, PROCMAP)
    return check


def _cgroup_path(_vc: Context, value: JsonValue, _data: Any) -> None:
    if not value or "/../" in f"/{value}/":
        raise Invalid(f'The cgroup path "{value}" is invalid.')


PROCMAP: Members = (
    M("container", T_INTEGER, required=True),
    M("host", T_INTEGER, required=True),
    M("size", T_INTEGER, required=True),
)

NAMESPACES: Members = tuple(
    M(name, T_BOOLEAN)
    for name in ("credential", "pid", "network", "mount", "uname", "cgroup")
)

ISOLATION: Members = (
    M("namespaces", T_OBJECT, vldt_members, NAMESPACES),
    M("uidmap", T_ARRAY, _iter_array(_procmap("uidmap"))),
    M("gidmap", T_ARRAY, _iter_array(_procmap("gidmap"))),
    M("rootfs", T_STRING),
    M("automount", T_OBJECT, vldt_members, (
        M("language_deps", T_BOOLEAN),
        M("tmpfs", T_BOOLEAN),
        M("procfs", T_BOOLEAN),
    )),
    M("new_privs", T_BOOLEAN),
    M("cgroup", T_OBJECT, vldt_members, (
        M("path", T_STRING, _cgroup_path, required=True),
    )),
)

COMMON: Members = (
    M("type", T_STRING),
    M("limits", T_OBJECT, vldt_members, (
        M("timeout", T_INTEGER),
        M("requests", T_INTEGER),
        M("shm", T_INTEGER),
    )),
    M("processes", T_INTEGER | T_OBJECT, _processes, (
        M("spare", T_INTEGER),
        M("max", T_INTEGER),
        M("idle_timeout", T_INTEGER),
    )),
    M("user", T_STRING),
    M("group", T_STRING),
    M("working_directory", T_STRING),
    M("environment", T_OBJECT, _iter_object(_environment)),
    M("isolation", T_OBJECT, vldt_members, ISOLATION),
    M("stdout", T_STRING),
    M("stderr", T_STRING),
)


def _python_path_element(_vc: Context, value: JsonValue) -> None:
    if not isinstance(value, str):
        raise Invalid('The "path" array must contain only string values.')


def _python_path(vc: Context, value: JsonValue, _data: Any) -> None:
    if isinstance(value, list):
        array_iterator(vc, value, _python_path_element)


def _python_protocol(_vc: Context, value: JsonValue, _data: Any) -> None:
    if value not in ("wsgi", "asgi"):
        raise Invalid('The "protocol" can either be "wsgi" or "asgi".')


def _thread_stack_min() -> int:
    try:
        return os.sysconf("SC_THREAD_STACK_MIN")
    except (ValueError, OSError):
        return 16384  # PTHREAD_STACK_MIN on Linux


def _thread_stack_size(_vc: Context, value: JsonValue, _data: Any) -> None:
    size = int(value)
    minimum = _thread_stack_min()
    page = os.sysconf("SC_PAGE_SIZE")
    if size < minimum:
        raise Invalid('The "thread_stack_size" number must be equal to or '
                      f"greater than {minimum}.")
    if size % page:
        raise Invalid('The "thread_stack_size" number must be a multiple of '
                      f"the system page size ({page}).")


def _python_prefix(_vc: Context, value: JsonValue, _data: Any) -> None:
    if not isinstance(value, str) or not value.startswith("/"):
        raise Invalid('The "prefix" must be a string beginning with "/".')


def _exclusive(_vc: Context, _value: JsonValue, data: Any) -> None:
    raise Invalid(f'The "{data}" option is mutually exclusive with the "targets" object.')


PYTHON_COMMON: Members = (
    M("home", T_STRING),
    M("path", T_STRING | T_ARRAY, _python_path),
    M("protocol", T_STRING, _python_protocol),
    M("threads", T_INTEGER, _int_range("threads", 1)),
    M("thread_stack_size", T_INTEGER, _thread_stack_size),
) + COMMON

PYTHON_TARGET: Members = (
    M("module", T_STRING, required=True),
    M("callable", T_STRING),
    M("factory", T_BOOLEAN),
    M("prefix", T_STRING, _python_prefix),
)


def _target(vc: Context, name: str, value: JsonValue) -> None:
    if not name:
        raise Invalid("The target name must not be empty.")
    if not isinstance(value, dict):
        raise Invalid(f'The "{name}" target must be an object.')
    vldt_object(vc, value, PYTHON_TARGET)


def _targets(vc: Context, value: JsonValue, _data: Any) -> None:
    if len(value) > 254:
        raise Invalid('The "targets" object must not contain more than 254 members.')
    object_iterator(vc, value, _target)


PYTHON_WITH_TARGETS: Members = (
    M("module", T_STRING, _exclusive, "module"),
    M("callable", T_STRING, _exclusive, "callable"),
    M("factory", T_BOOLEAN, _exclusive, "factory"),
    M("prefix", T_STRING, _exclusive, "prefix"),
    M("targets", T_OBJECT, _targets),
) + PYTHON_COMMON

PYTHON_NO_TARGETS: Members = PYTHON_TARGET + PYTHON_COMMON


def _argument(_vc: Context, value: JsonValue) -> None:
    if not isinstance(value, str):
        raise Invalid('The "arguments" array must contain only string values.')
    if "\0" in value:
        raise Invalid('The "arguments" array must not contain strings with null character.')


EXTERNAL: Members = (
    M("executable", T_STRING, required=True),
    M("arguments", T_ARRAY, _iter_array(_argument)),
) + COMMON


def strvers_match(version: str, prefix: str) -> bool:
    """nxt_strvers_match: "3" and "3.11" match "3.11.2", "3.1" does not."""
    if not prefix:
        return True
    if not version.startswith(prefix):
        return False
    if len(version) == len(prefix):
        return True
    return version[len(prefix) - 1].isdigit() != version[len(prefix)].isdigit()


def find_module(modules: Sequence[Module], type_name: str) -> Module | None:
    """nxt_app_lang_module: "python", "python 3.11", "python3" ..."""
    cut = len(type_name)
    version_at = len(type_name)
    for i, ch in enumerate(type_name):
        if ch == " ":
            cut, version_at = i, i + 1
            break
        if ch.isdigit() and ch.isascii():
            cut, version_at = i, i
            break
    kind = type_name[:cut]
    if kind == "go":
        kind = "external"
    version = type_name[version_at:]
    for module in modules:
        if module.type == kind and strvers_match(module.version, version):
            return module
    return None


def _app(vc: Context, name: str, value: JsonValue) -> None:
    check_type(name, value, T_OBJECT)
    if "type" not in value:
        raise Invalid('Application must have the "type" property set.')
    check_type("type", value["type"], T_STRING)
    module = find_module(vc.modules, value["type"])
    if module is None:
        raise Invalid(f'The module to run "{value["type"]}" is not found among '
                      "the available application modules.")
    if module.type == "external":
        vldt_object(vc, value, EXTERNAL)
    elif "targets" in value:
        vldt_object(vc, value, PYTHON_WITH_TARGETS)
    else:
        vldt_object(vc, value, PYTHON_NO_TARGETS)


# --- upstreams, access log, settings, root ------------------------------------------------------

def _weight(_vc: Context, value: JsonValue, _data: Any) -> None:
    if value < 0:
        raise Invalid('The "weight" number must be positive.')
    if value > 1000000:
        raise Invalid('The "weight" number must not exceed 1,000,000')


def _server(vc: Context, name: str, value: JsonValue) -> None:
    check_type(name, value, T_OBJECT)
    if not sockaddr_ok(name):
        raise Invalid(f'The "{name}" is not valid server address.')
    vldt_object(vc, value, (M("weight", T_NUMBER, _weight),))


def _upstream(vc: Context, name: str, value: JsonValue) -> None:
    check_type(name, value, T_OBJECT)
    vldt_object(vc, value, (M("servers", T_OBJECT, _iter_object(_server)),))
    if "servers" not in value:
        raise Invalid(f'The "{name}" upstream must contain "servers" object value.')


def _log_format_field(_vc: Context, name: str, value: JsonValue) -> None:
    if not name:
        raise Invalid("In the access log format, the name must not be empty.")
    if not isinstance(value, str):
        raise Invalid("In the access log format, the value must be a string.")
    if is_tstr(value):
        check_var(name, value)


def _log_format(vc: Context, value: JsonValue, _data: Any) -> None:
    if isinstance(value, dict):
        object_iterator(vc, value, _log_format_field)
    else:
        _log_format_field(vc, "format", value)


ACCESS_LOG: Members = (
    M("path", T_STRING),
    M("format", T_STRING | T_OBJECT, _log_format),
    M("if", T_STRING, _if),
)


def _access_log(vc: Context, value: JsonValue, _data: Any) -> None:
    if isinstance(value, str):
        return
    vldt_object(vc, value, ACCESS_LOG)
    path = value.get("path")
    if not isinstance(path, str) or not path:
        raise Invalid('The "path" string must not be empty.')
    fmt = value.get("format")
    if isinstance(fmt, str) and is_tstr(fmt):
        check_var("format", fmt)


def _any(_vc: Context, _value: JsonValue, _data: Any) -> None:
    """Accepted without a closer look (see the module docstring)."""


HTTP: Members = (
    M("header_read_timeout", T_INTEGER),
    M("body_read_timeout", T_INTEGER),
    M("send_timeout", T_INTEGER),
    M("idle_timeout", T_INTEGER),
    M("large_header_buffer_size", T_INTEGER),
    M("large_header_buffers", T_INTEGER),
    M("body_buffer_size", T_INTEGER),
    M("max_body_size", T_INTEGER),
    M("body_temp_path", T_STRING),
    M("discard_unsafe_fields", T_BOOLEAN),
    M("websocket", T_OBJECT, vldt_members, (
        M("read_timeout", T_INTEGER),
        M("keepalive_interval", T_INTEGER),
        M("max_frame_size", T_INTEGER),
    )),
    M("static", T_OBJECT, vldt_members, (M("mime_types", T_OBJECT, _any),)),
    M("log_route", T_BOOLEAN),
    M("server_version", T_BOOLEAN),
    M("chunked_transform", T_BOOLEAN),
    M("compression", T_OBJECT, vldt_members, (
        M("types", T_STRING | T_ARRAY, _patterns, "types"),
        M("compressors", T_OBJECT | T_ARRAY, _any),
    )),
)

SETTINGS: Members = (
    M("listen_threads", T_INTEGER, _int_range("listen_threads", 1)),
    M("http", T_OBJECT, vldt_members, HTTP),
)

ROOT: Members = (
    M("settings", T_OBJECT, vldt_members, SETTINGS),
    M("listeners", T_OBJECT, _iter_object(_listener)),
    M("routes", T_ARRAY | T_OBJECT, _routes),
    M("applications", T_OBJECT, _iter_object(_app)),
    M("upstreams", T_OBJECT, _iter_object(_upstream)),
    M("access_log", T_STRING | T_OBJECT, _access_log),
)


@dataclass
class Validation:
    """What a validation needs to know beyond the configuration itself."""

    certificates: frozenset[str] = field(default_factory=frozenset)
    modules: Sequence[Module] = ()


def validate(conf: JsonValue, env: Validation) -> None:
    """nxt_conf_validate: raises Invalid with Unit's sentence."""
    check_type(None, conf, T_OBJECT)
    vldt_object(Context(conf, env.certificates, env.modules), conf, ROOT)
