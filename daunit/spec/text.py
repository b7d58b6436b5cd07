"""Checks of single text values (names, paths, listeners), shared by several fields.

Each `check_*` returns the normalized value or raises the project's error naming
`field` and the fix. Every pattern ends in \\Z, never $: `$` also matches before
a trailing newline, so "shop\\n" would pass. Character classes are ASCII ranges
([0-9], not \\d, which matches other scripts' digits).
"""
from __future__ import annotations

import ipaddress
import re

from daunit.spec.base import invalid, show

DNS_LABEL_RE = re.compile(r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\Z")


def has_control(value: str, *, allowed: str = "") -> bool:
    """C0/C1 control characters, DEL and Unicode line separators, except those in `allowed`."""
    return any((ord(c) < 32 or 127 <= ord(c) < 160 or c in "\u2028\u2029") and c not in allowed
               for c in value)


def refuse_control(field: str, value: str) -> None:
    # Shown with repr(), so the message spells the character out (\n, \x00).
    if has_control(value):
        raise invalid(f"{field} {show(value)} contains a line break or control character: remove it")


def refuse_non_ascii(field: str, value: str) -> None:
    if not value.isascii():
        raise invalid(f"{field} {show(value)} has non-ASCII characters (a look-alike letter or digit?): "
                      "type it again in plain ASCII; write an international domain in punycode, xn--...")


def refuse_dollar(field: str, value: str) -> None:
    # Unit expands $name and ${name} in `share` (and other options) on every
    # request, and there is no escape for it.
    if "$" in value:
        raise invalid(f"{field} {show(value)} contains '$': NGINX Unit reads it as a variable in the "
                      "paths it serves; rename the directory without '$'")


# --- DNS names ---------------------------------------------------------------------------


def dns_name_problem(value: str, *, need_dot: bool) -> str | None:
    """Why `value` (already lower-cased) is not a DNS host name, or None."""
    if not value:
        return "it is empty"
    if any(ord(c) > 127 for c in value):
        return "it has non-ASCII characters (write it in punycode, xn--...)"
    if len(value) > 253:
        return "it is longer than 253 characters"
    labels = value.split(".")
    if need_dot and len(labels) < 2:
        return "it has no dot"
    for label in labels:
        if not DNS_LABEL_RE.fullmatch(label):
            return f"label {label!r} is not 1-63 letters, digits or inner hyphens"
    if len(labels) > 1 and labels[-1].isdigit():
        return "its last label is all digits, so it reads as an IP address"
    return None


def normalize_dns_name(value: str) -> str:
    return value.strip().lower().removesuffix(".")


def check_dns_name(field: str, value: str) -> str:
    refuse_control(field, value)
    name = normalize_dns_name(value)
    # Checked before lower-casing too: "\u212a" (Kelvin sign) lower-cases to an ASCII "k".
    problem = (dns_name_problem(name, need_dot=True) if value.isascii()
               else "it has non-ASCII characters (a look-alike letter? write an international "
                    "domain in punycode, xn--...)")
    if problem:
        raise invalid(f"{field} {show(value)} is not a valid host name: {problem}; "
                      "use letters, digits, hyphens and dots, like example.com")
    return name


# --- paths -------------------------------------------------------------------------------


def check_remote_path(field: str, value: str, *, example: str) -> str:
    """An absolute POSIX path on the host, written out in full."""
    if not value.startswith("/"):
        raise invalid(f"{field} {show(value)} must be an absolute path on the host, like {example}")
    refuse_control(field, value)
    parts = [p for p in value.split("/") if p]
    if any(p in (".", "..") for p in parts):
        raise invalid(f"{field} {show(value)} must not contain '.' or '..': write the path out in full")
    if not parts:
        raise invalid(f"{field} must not be the root directory: use a directory like {example}")
    if len(value) > 1024 or any(len(p.encode()) > 255 for p in parts):
        raise invalid(f"{field} is too long: a path on the host has at most 1024 characters and 255 "
                      f"bytes per directory name, like {example}")
    return "/" + "/".join(parts)


def check_relative_path(field: str, value: str, *, example: str) -> str:
    """A path inside the app's source tree: relative, no '..', POSIX separators."""
    if "\\" in value:
        raise invalid(f"{field} {show(value)} uses backslashes: use / between directories, like {example}")
    if value.startswith("/") or value.startswith("~"):
        raise invalid(f"{field} {show(value)} must be relative to the app's source directory, like {example}")
    refuse_control(field, value)
    parts = [p for p in value.split("/") if p and p != "."]
    if ".." in parts:
        raise invalid(f"{field} {show(value)} must stay inside the source directory: remove '..'")
    if not parts:
        raise invalid(f"{field} is empty: name a path inside the source directory, like {example}")
    return "/".join(parts)


def check_local_path(field: str, value: str, *, example: str) -> str:
    """A path on the deploying machine; not opened here."""
    if not value.strip():
        raise invalid(f"{field} is empty: give a path on the deploying machine, like {example}")
    if has_control(value):
        raise invalid(f"{field} contains a line break or control character: it must be a single path "
                      f"on the deploying machine, like {example}")
    return value


# --- Unit listeners ----------------------------------------------------------------------


def parse_listener(value: str) -> tuple[str, int]:
    """Split a Unit listener "ADDR:PORT" into (address, port); raises ValueError."""
    address, sep, port_text = value.rpartition(":")
    if not sep or not port_text.isdigit():
        raise ValueError("expected ADDRESS:PORT")
    port = int(port_text)
    if not 1 <= port <= 65535:
        raise ValueError("the port must be between 1 and 65535")
    if address == "*":
        return "*", port
    if address.startswith("[") and address.endswith("]"):
        ip = ipaddress.ip_address(address[1:-1])
        if ip.version != 6:
            raise ValueError("brackets are only for IPv6 addresses")
        return f"[{ip}]", port
    ip = ipaddress.ip_address(address)
    if ip.version == 6:
        raise ValueError("write an IPv6 address in brackets, like [::1]:8080")
    return str(ip), port


def listener_port(listener: str) -> int:
    """The port of a validated listener like "*:80"."""
    return parse_listener(listener)[1]


def check_listener(field: str, value: str, *, example: str) -> str:
    refuse_control(field, value)
    refuse_non_ascii(field, value)
    if "%" in value:
        raise invalid(f"{field} {show(value)} has an IPv6 zone (%...): Unit takes an address without "
                      f"one, like {example}")
    try:
        address, port = parse_listener(value.strip())
    except ValueError as exc:
        raise invalid(f"{field} {show(value)} is not a Unit listener ({exc}): "
                      f"use '*:PORT' or 'ADDRESS:PORT', like {example}") from None
    return f"{address}:{port}"
