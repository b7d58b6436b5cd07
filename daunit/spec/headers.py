"""securityHeaders: the headers Unit adds to every response of an app."""
from __future__ import annotations

import re
from typing import Any

from daunit.spec.base import Problem, invalid, raise_problems, show

# The seed's after_request headers, set at the edge by the app's Unit route
# (`response_headers` on each action) so static files carry them too. The
# seed's X-XSS-Protection is left out: browsers dropped that filter and
# OWASP advises against sending it.
DEFAULT_SECURITY_HEADERS: dict[str, str] = {
    "Content-Security-Policy": "default-src 'self'",
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "SAMEORIGIN",
}
HEADER_NAME_RE = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]{1,100}\Z")
# Headers that frame the message: Unit refuses Content-Length, and the others
# would break the response; none is a security header.
FRAMING_HEADERS = frozenset({"content-length", "transfer-encoding", "connection"})


def _header_value_problem(name: str, item: Any) -> str | None:
    if not isinstance(item, str) or not item.strip():
        return (f"securityHeaders {name} must be a non-empty text value (quote it in the "
                "stack YAML), or null to not send it")
    if any(ord(c) < 32 or ord(c) == 127 for c in item):
        return f"securityHeaders {name} contains a line break or control character: write the value on one line"
    if "$" in item or item.startswith("`"):
        return (f"securityHeaders {name} contains '$' or starts with '`': Unit would read "
                "it as a variable or a script; remove it")
    return None


def _header_name_problem(name: Any) -> str | None:
    if not isinstance(name, str) or not HEADER_NAME_RE.fullmatch(name):
        return (f"securityHeaders name {show(name)} is not an HTTP header name: use "
                "letters, digits and hyphens, like Strict-Transport-Security")
    if name.lower() in FRAMING_HEADERS:
        return f"securityHeaders {name} frames the response, it is not a security header: remove it"
    return None


def normalize_security_headers(value: Any) -> dict[str, str]:
    """The headers to send: the defaults, or none (false), or the defaults with
    the given ones merged over them (by name, case-insensitively; null drops one)."""
    if value is None or value is True:
        return dict(DEFAULT_SECURITY_HEADERS)
    if value is False:
        return {}
    if not isinstance(value, dict):
        raise invalid("securityHeaders must be a map of header name to value (null drops a default "
                      "header), true for the defaults or false for none")
    out = dict(DEFAULT_SECURITY_HEADERS)
    problems: list[Problem] = []
    for name, item in value.items():
        problem = _header_name_problem(name)
        if problem is None:
            for existing in [k for k in out if k.lower() == name.lower()]:
                del out[existing]
            if item is None:
                continue
            problem = _header_value_problem(name, item)
        if problem:
            problems.append(((str(name),), problem))
        else:
            out[name] = item.strip()
    raise_problems("securityHeaders", problems)
    return dict(sorted(out.items()))
