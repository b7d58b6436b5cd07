"""known_hosts lines: parsing and host matching, with no SSH library.

Read in two places: stack validation (daunit.spec), so a bad pin is a clear
config error before anything runs, and the SSH layer (daunit.remote.target),
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
import os
import re
import struct
from typing import NamedTuple

__all__ = [
    "HOST_KEY_TYPES",
    "MIN_RSA_BITS",
    "KnownHostKey",
    "known_hosts_name",
    "lines_for_host",
    "parse_known_hosts",
    "read_known_hosts_file",
]

# Host key types da-flask accepts (OpenSSH's current ones; no DSA, no certificates).
HOST_KEY_TYPES = frozenset({
    "ssh-ed25519",
    "ecdsa-sha2-nistp256",
    "ecdsa-sha2-nistp384",
    "ecdsa-sha2-nistp521",
    "ssh-rsa",
})
# OpenSSH refuses RSA keys under 2048 bits (RequiredRSASize, 8.9+): too weak to pin.
MIN_RSA_BITS = 2048
# A known_hosts file bigger than this is not one; never read a large file into state.
MAX_KNOWN_HOSTS_BYTES = 1 << 20
# Algorithm names as SSH writes them; only text of this shape is ever echoed in an
# error, so a line of a private key pasted by mistake is never shown.
_KEY_TYPE_SHAPE = re.compile(r"[a-z0-9][a-z0-9@.-]{0,63}")


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
    if key_type == "ssh-rsa":
        bits = _rsa_bits(blob[4 + length:])
        if bits is None:
            return "its RSA key is truncated: copy the whole key from ssh-keyscan"
        if bits < MIN_RSA_BITS:
            return (f"its RSA key has only {bits} bits, under the {MIN_RSA_BITS} OpenSSH accepts: "
                    "pin the host's ed25519 key (ssh-keyscan -t ed25519), or give the host a new key")
    return None


def _rsa_bits(rest: bytes) -> int | None:
    """Size of the modulus of an ssh-rsa blob's "e, n" (two SSH mpints), or None."""
    values: list[int] = []
    for _ in range(2):
        if len(rest) < 4:
            return None
        (size,) = struct.unpack(">I", rest[:4])
        if len(rest) < 4 + size:
            return None
        values.append(int.from_bytes(rest[4 : 4 + size], "big"))
        rest = rest[4 + size :]
    return values[1].bit_length()


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
            shown = f"key type {key_type!r}" if _KEY_TYPE_SHAPE.fullmatch(key_type) else "an unknown key type"
            raise ValueError(f"line {number} has {shown}, which is not a host key "
                             f"type da-flask accepts ({', '.join(sorted(HOST_KEY_TYPES))}): "
                             "pin the host's ed25519 key")
        problem = _key_blob_problem(key_type, key_base64)
        if problem:
            raise ValueError(f"line {number}: {problem}")
        keys.append(KnownHostKey(patterns, key_type, key_base64, number))
    return tuple(keys)


def _line_patterns(line: str) -> str:
    """The host field of a known_hosts line ('' for a bare "TYPE BASE64" line)."""
    first = line.split()[0]
    return "" if first in HOST_KEY_TYPES or first == "ssh-dss" else first


def _numbered_lines_for_host(text: str, name: str) -> list[tuple[int, str]]:
    kept = []
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        fields = line.split()
        # A marker line (@revoked HOSTS ...) is kept when it names the host, so
        # that parse_known_hosts refuses it rather than it being silently dropped.
        patterns = fields[1] if line.startswith("@") and len(fields) > 1 else _line_patterns(line)
        if not patterns or _line_applies(patterns, name):
            kept.append((number, line))
    return kept


def lines_for_host(text: str, name: str) -> str:
    """The lines of a known_hosts text that pin keys for `name` (known_hosts_name form).

    Comments and other hosts' lines are dropped, so a whole known_hosts file
    can be named without its other entries landing in the stack's state.
    """
    return "".join(f"{line}\n" for _, line in _numbered_lines_for_host(text, name))


def _looks_like_private_key(text: str) -> bool:
    return ("PRIVATE KEY" in text or "-----BEGIN" in text or "PuTTY-User-Key-File" in text
            or "openssh-key-v1" in text)


def read_known_hosts_file(path: str, name: str) -> str:
    """This host's lines of the known_hosts file at `path` (~ expanded), checked.

    Raises ValueError saying what to fix. No message ever includes the file's
    content: a private key named here by mistake is never shown.
    """
    full = os.path.expanduser(path)
    try:
        with open(full, "rb") as handle:
            data = handle.read(MAX_KNOWN_HOSTS_BYTES + 1)
    except OSError as exc:
        raise ValueError(f"cannot be read on this machine ({exc.strerror or type(exc).__name__}): "
                         "give the path of a known_hosts file holding the host's key") from None
    if len(data) > MAX_KNOWN_HOSTS_BYTES:
        raise ValueError("is larger than 1 MiB, so it is not a known_hosts file: give one holding the "
                         "host's key (ssh-keyscan ADDRESS > host.known_hosts)")
    text = data.decode("utf-8", "replace")
    if _looks_like_private_key(text):
        raise ValueError("is a private key, not a known_hosts file: its content would be stored in plain "
                         "text in the stack's state; point it at a file holding the server's public host "
                         "key (ssh-keyscan ADDRESS > host.known_hosts). Nothing of it is shown here")
    kept = _numbered_lines_for_host(text, name)
    for number, line in kept:
        try:
            parse_known_hosts(line)
        except ValueError as exc:  # "line 1 ...": give the file's own line number
            raise ValueError(f"line {number}{str(exc).removeprefix('line 1')}") from None
    if not kept:
        raise ValueError(f"has no line for {name}: add the one `ssh-keyscan -t ed25519 -p PORT ADDRESS` "
                         "prints for it")
    return "".join(f"{line}\n" for _, line in kept)
