"""The configuration objects Unit 1.35 accepts, as far as the provider and the
lab use them, described with checks.py.

`validate(config, ctx)` raises Invalid with Unit's sentence for the first
problem met walking the configuration in document order.  Keys Unit knows
but nobody here uses (upstreams, other languages' options, ...) are refused as
unknown: the double is narrower than Unit, never wider.
"""
from __future__ import annotations

import ipaddress
import re
from typing import Any

from .appconf import application
from .checks import (
    BOOLEAN,
    INTEGER,
    NOUNS,
    OBJECT,
    STRING,
    Check,
    Context,
    Invalid,
    items,
    kind_of,
    members,
    obj,
    one_of,
    value,
)

# --- variables ($name or ${name}) in strings that Unit expands per request ----

VARIABLES = {"uri", "host", "remote_addr", "request_uri", "method", "request_line", "status",
             "time_local", "body_bytes_sent", "dollar", "request_id", "request_time"}
VARIABLE_PREFIXES = ("arg_", "header_", "cookie_", "response_header_")
_VARIABLE = re.compile(r"\$(?:\{(\w+)\}|(\w+))")


def _known_variable(name: str) -> bool:
    return name in VARIABLES or any(
        name.startswith(p) and len(name) > len(p) for p in VARIABLE_PREFIXES)


def template(text: str, name: str, ctx: Context) -> None:
    """Every $ in text starts a variable Unit knows."""
    at = text.find("$")
    while at >= 0:
        found = _VARIABLE.match(text, at)
        if found is None:
            raise Invalid(f'Invalid variable at position {at} in the "{name}" value.')
        variable = found.group(1) or found.group(2)
        if not _known_variable(variable):
            raise Invalid(f'Unknown variable "{variable}" in the "{name}" value.')
        at = text.find("$", found.end())


# --- "pass": where a request goes ----------------------------------------------

def _points_somewhere(parts: list[str], config: Any) -> bool:
    routes, apps = config.get("routes"), config.get("applications") or {}
    if parts == ["routes"]:
        return isinstance(routes, list)
    if parts[0] == "routes" and len(parts) == 2:
        return isinstance(routes, dict) and parts[1] in routes
    if parts[0] == "applications" and len(parts) >= 2 and parts[1] in apps:
        targets = apps[parts[1]].get("targets") if isinstance(apps[parts[1]], dict) else None
        return len(parts) == 2 or (isinstance(targets, dict) and parts[2] in targets)
    return False


def pass_target(target: str, name: str, ctx: Context) -> None:
    if "$" in target:  # resolved per request: only the variables are checked now
        template(target, "pass", ctx)
        return
    parts = target.split("/")
    if len(parts) > 3 or "" in parts:
        raise Invalid(f'Request "pass" value "{target}" is invalid.')
    if not _points_somewhere(parts, ctx.config):
        raise Invalid(f'Request "pass" points to invalid location "{target}".')


PASS = value(string=pass_target)

# --- listeners -------------------------------------------------------------------

def _valid_host(host: str) -> bool:
    if host == "*":
        return True
    if host.startswith("[") and host.endswith("]"):
        host, version = host[1:-1], 6
    else:
        version = 4
    try:
        return ipaddress.ip_address(host).version == version
    except ValueError:
        return False


def listener_address(address: str) -> None:
    if address.startswith("unix:") and len(address) > len("unix:"):
        return
    host, _, port = address.rpartition(":")
    if not (port.isdigit() and 0 < int(port) < 65536 and _valid_host(host)):
        raise Invalid(f'The listener address "{address}" is invalid.')


def certificate_name(name: str, key: str, ctx: Context) -> None:
    if name not in ctx.certificates:
        raise Invalid(f'Certificate "{name}" is not found.')


def legacy_application(app: str, name: str, ctx: Context) -> None:
    if app not in (ctx.config.get("applications") or {}):
        raise Invalid(f'Listening socket is assigned for a non existing application "{app}".')


TLS = obj({
    "certificate": value(string=certificate_name,
                         array=items("string", certificate_name, nonempty=True)),
    "conf_commands": OBJECT, "session": OBJECT,
}, required=("certificate",))

LISTENER = obj({"pass": PASS, "application": value(string=legacy_application), "tls": TLS,
                "forwarded": OBJECT, "client_ip": OBJECT, "backlog": INTEGER})


def listener(item: Any, address: str, ctx: Context) -> None:
    listener_address(address)
    LISTENER(item, address, ctx)


# --- routes ------------------------------------------------------------------------

def pattern_check(encoded: bool) -> Check:
    def check(pattern: str, name: str, ctx: Context) -> None:
        if pattern.startswith("~"):
            try:
                re.compile(pattern[1:])
            except re.error as exc:
                raise Invalid(f"Invalid regular expression: {exc.msg}") from None
            return
        if "**" in pattern:
            raise Invalid('The "match" pattern must not contain double "*" markers.')
        if encoded and re.search(r"%(?![0-9A-Fa-f]{2})", pattern):
            raise Invalid(f'The "match" pattern for "{name}" is encoded but is invalid.')
    return check


def patterns(encoded: bool = False) -> Check:
    single = pattern_check(encoded)

    def several(array: list[Any], name: str, ctx: Context) -> None:
        for element in array:
            if kind_of(element) != "string":
                raise Invalid(f'The "match" pattern for "{name}" must be strings.')
            single(element, name, ctx)
    return value(string=single, array=several)


def address(text: str, name: str, ctx: Context) -> None:
    """A source/destination: *, an address or a CIDR block, "!" to negate, ":port" optional."""
    text = text.removeprefix("!")
    if len(text) < 2 and text != "*":
        raise Invalid('The "address" is too short.')
    text = re.sub(r":\d+(-\d+)?$", "", text) if text.count(":") <= 1 or "]" in text else text
    host, slash, prefix = text.strip("[]").partition("/")
    if host == "*":
        return
    try:
        parsed = ipaddress.ip_address(host)
    except ValueError:
        raise Invalid('The "address" format is invalid.') from None
    if slash and not (prefix.isdigit() and int(prefix) <= parsed.max_prefixlen):
        raise Invalid('The "address" has an invalid CIDR prefix.')


ADDRESSES = value(string=address, array=items("string", address))
MATCH = obj({
    "host": patterns(), "uri": patterns(encoded=True), "method": patterns(),
    "query": patterns(encoded=True), "scheme": value(string=one_of("http", "https")),
    "arguments": value(object=None, array=None), "headers": value(object=None, array=None),
    "cookies": value(object=None, array=None), "source": ADDRESSES, "destination": ADDRESSES,
})


def response_header(header: Any, name: str, ctx: Context) -> None:
    if name == "Content-Length":
        raise Invalid(f'The "{name}" response header value is not supported')
    if not isinstance(header, (str, type(None))):
        raise Invalid(f'The "{name}" response header value must either be a string or a null')
    if header is not None:
        template(header, name, ctx)


def status_code(code: Any, name: str, ctx: Context) -> None:
    if not 0 <= code <= 999:
        raise Invalid(f'The "{name}" value is out of allowed HTTP status code range 0-999.')


def proxy_address(target: str, name: str, ctx: Context) -> None:
    if not re.fullmatch(r"http://(unix:/\S+|[^\s/:]+:\d+|\[[0-9a-fA-F:]+\]:\d+)", target):
        raise Invalid(f'The "proxy" address is invalid "{target}"')


TEMPLATE = value(string=template)
TEMPLATES = value(string=template, array=items("string", template))
ACTION_KINDS: dict[str, dict[str, Check]] = {
    "pass": {"pass": PASS},
    "return": {"return": value(integer=status_code), "location": TEMPLATE},
    "share": {"share": TEMPLATES, "index": STRING, "chroot": TEMPLATE,
              "follow_symlinks": BOOLEAN, "traverse_mounts": BOOLEAN,
              "types": value(string=None, array=items("string"))},
    "proxy": {"proxy": value(string=proxy_address)},
}
ACTION_COMMON: dict[str, Check] = {
    "rewrite": TEMPLATE, "response_headers": obj({}, other=response_header),
}
_KINDS_TEXT = '"pass", "return", "share", or "proxy"'


def action(item: dict[str, Any], name: str, ctx: Context) -> None:
    kinds = [k for k in ACTION_KINDS if k in item]
    if not kinds:
        raise Invalid(f'The "action" object must have either {_KINDS_TEXT} option set.')
    if len(kinds) > 1:
        raise Invalid(f'The "action" object must have just one of {_KINDS_TEXT} options set.')
    known = {**ACTION_KINDS[kinds[0]], **ACTION_COMMON}
    if kinds[0] == "share":
        known["fallback"] = ACTION
    members(known)(item, name, ctx)


ACTION = value(object=action)
STEPS = items("object", obj({"match": MATCH, "action": ACTION}), label="routes")
ROUTES = value(array=STEPS, object=members({}, other=value(array=STEPS)))

# --- the rest, and the whole -------------------------------------------------------

HTTP_SETTINGS = obj({
    **dict.fromkeys(("header_read_timeout", "body_read_timeout", "send_timeout", "idle_timeout",
                     "max_body_size"), INTEGER),
    **dict.fromkeys(("discard_unsafe_fields", "log_route", "server_version", "chunked_transform"), BOOLEAN),
    "static": OBJECT,
})
ROOT = members({
    "listeners": obj({}, other=listener),
    "routes": ROUTES,
    "applications": obj({}, other=application),
    "settings": obj({"http": HTTP_SETTINGS, "listen_threads": INTEGER}),
    "access_log": value(string=None, object=None),
})


def validate(config: Any, ctx: Context) -> None:
    """Raise Invalid with Unit's detail when config is not a configuration Unit takes."""
    if not isinstance(config, dict):
        raise Invalid(f"The configuration must be an object, but not {NOUNS[kind_of(config)]}.")
    ROOT(config, "configuration", ctx)
