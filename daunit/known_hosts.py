"""known_hosts lines: parsing and host matching, with no SSH library.

Read in two places: stack validation (daunit.models), so a bad pin is a clear
config error before anything runs, and the SSH layer (daunit.remote.ssh),
which turns the entries into keys and checks the one the host presents.
Matching follows OpenSSH: a host field names the host as "addr" for port 22
and "[addr]:port" otherwise, with * and ? wildcards, !negation and hashed
(|1|salt|hash) names; a line without a host field pins the key for the host
it is given for.
"""
from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import re
import struct
from typing import NamedTuple

__all__ = ["HOST_KEY_TYPES", "KnownHostKey", "known_hosts_name", "parse_known_hosts"]

# Host key types da-flask accepts (OpenSSH's current ones; no DSA, no certificates).
HOST_KEY_TYPES = frozenset({
    "ssh-ed25519",
    "ecdsa-sha2-nistp256",
    "ecdsa-sha2-nistp384",
    "ecdsa-sha2-nistp521",
    "ssh-rsa",
})


class KnownHostKey(NamedTuple):
    """One pinned host key: `patterns` is the known_hosts host field ('' when absent)."""

    patterns: str
    key_type: str
    key_base64: str
    line: int = 0

    def applies_to(self, name: str) -> bool:
        """Whether this line pins a key for `name` (as known_hosts_name gives it)."""
        return not self.patterns or _line_applies(self.patterns, name)


def known_hosts_name(address: str, port: int) -> str:
    """How OpenSSH names a host in known_hosts: bare for port 22, [host]:port otherwise."""
    return address if port == 22 else f"[{address}]:{port}"


def _pattern_matches(pattern: str, name: str) -> bool:
    if pattern.startswith("|1|"):
        try:
            salt_b64, digest_b64 = pattern[3:].split("|", 1)
            salt = base64.b64decode(salt_b64, validate=True)
            digest = base64.b64decode(digest_b64, validate=True)
        except (ValueError, binascii.Error):
            return False
        return hmac.compare_digest(hmac.new(salt, name.encode(), hashlib.sha1).digest(), digest)
    # OpenSSH patterns know only * and ?; brackets are literal ("[addr]:port").
    regex = "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern.lower())
    return re.fullmatch(regex, name.lower()) is not None


def _line_applies(patterns: str, name: str) -> bool:
    matched = False
    for pattern in patterns.split(","):
        negated = pattern.startswith("!")
        if _pattern_matches(pattern[1:] if negated else pattern, name):
            if negated:
                return False
            matched = True
    return matched


def _key_blob_problem(key_type: str, key_base64: str) -> str | None:
    try:
        blob = base64.b64decode(key_base64, validate=True)
    except (ValueError, binascii.Error):
        return "its key is not valid base64: copy the whole key from ssh-keyscan"
    # The key blob starts with its own type as an SSH string (uint32 length + bytes).
    if len(blob) < 4:
        return "its key is too short: copy the whole key from ssh-keyscan"
    (length,) = struct.unpack(">I", blob[:4])
    if blob[4 : 4 + length] != key_type.encode():
        return f"its key data is not a {key_type} key: copy the line from ssh-keyscan unchanged"
    if len(blob) <= 4 + length:
        return "its key is truncated: copy the whole key from ssh-keyscan"
    return None


def parse_known_hosts(text: str) -> tuple[KnownHostKey, ...]:
    """Parse known_hosts lines ("TYPE BASE64 [comment]" or "HOSTS TYPE BASE64 [comment]").

    Raises ValueError starting "line N" and saying how to fix it. Blank lines
    and comments are skipped; a text with no key gives an empty tuple.
    """
    keys: list[KnownHostKey] = []
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        fields = line.split()
        if fields[0].startswith("@"):
            raise ValueError(f"line {number} starts with {fields[0]}: markers are not supported, "
                             "pin the host's own key (ssh-keyscan prints it)")
        if fields[0] in HOST_KEY_TYPES or fields[0] == "ssh-dss":
            patterns, rest = "", fields
        else:
            patterns, rest = fields[0], fields[1:]
        if len(rest) < 2:
            raise ValueError(f"line {number} is not a known_hosts line: expected "
                             "'ssh-ed25519 AAAA...' or 'ADDRESS ssh-ed25519 AAAA...'")
        key_type, key_base64 = rest[0], rest[1]
        if key_type not in HOST_KEY_TYPES:
            shown = repr(key_type) if len(key_type) <= 40 else repr(key_type[:36]) + "..."
            raise ValueError(f"line {number} has key type {shown}, which is not a host key "
                             f"type da-flask accepts ({', '.join(sorted(HOST_KEY_TYPES))}): "
                             "pin the host's ed25519 key")
        problem = _key_blob_problem(key_type, key_base64)
        if problem:
            raise ValueError(f"line {number}: {problem}")
        keys.append(KnownHostKey(patterns, key_type, key_base64, number))
    return tuple(keys)
