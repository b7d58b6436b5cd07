"""Where to connect and which host keys to trust: plain data, safe to pickle.

``SSHTarget`` is what Pulumi may store; the live connection built from it
(daunit.remote.connection) never is.
"""
from __future__ import annotations

import base64
from dataclasses import dataclass

import paramiko
from paramiko.pkey import UnknownKeyType

from daunit import known_hosts
from daunit.errors import ConfigError
from daunit.known_hosts import KnownHostKey, known_hosts_name

__all__ = ["PinnedKey", "SSHTarget", "key_family", "key_line", "parse_known_hosts"]


@dataclass(frozen=True)
class PinnedKey:
    """One known_hosts entry (daunit.known_hosts) and its key, ready to compare."""

    entry: KnownHostKey
    key: paramiko.PKey

    def matches(self, host: str, port: int) -> bool:
        return self.entry.applies_to(known_hosts_name(host, port))


def parse_known_hosts(text: str) -> list[PinnedKey]:
    """Parse known_hosts lines into keys paramiko can compare with the one a host offers.

    A bare ``TYPE BASE64`` line pins the key for the host it is given for.
    Raises ConfigError naming the line for anything we cannot use (markers
    such as ``@revoked`` included: refusing is safer than half-supporting them).
    """
    try:
        entries = known_hosts.parse_known_hosts(text)
    except ValueError as exc:
        raise ConfigError(f"known_hosts {exc}") from None
    pinned: list[PinnedKey] = []
    for entry in entries:
        try:
            blob = base64.b64decode(entry.key_base64)
            key = paramiko.PKey.from_type_string(entry.key_type, blob)
        except (ValueError, paramiko.SSHException, UnknownKeyType) as exc:
            raise ConfigError(
                f"known_hosts line {entry.line}: cannot read the {entry.key_type} key: {exc}") from exc
        pinned.append(PinnedKey(entry, key))
    return pinned


def key_family(name: str) -> str:
    """Host key *algorithms* (rsa-sha2-512) folded onto key *types* (ssh-rsa)."""
    if name in ("ssh-rsa", "rsa-sha2-256", "rsa-sha2-512") or name.startswith("ssh-rsa-cert"):
        return "rsa"
    return name


def key_line(host: str, port: int, key: paramiko.PKey) -> str:
    """A known_hosts line for ``key``, as ssh-keyscan would print it."""
    return f"{known_hosts_name(host, port)} {key.get_name()} {key.get_base64()}"


@dataclass(frozen=True)
class SSHTarget:
    """Where and how to connect. Plain data: safe to pickle into Pulumi state.

    ``known_hosts`` holds one or more known_hosts lines pinning the host key
    (``"10.77.1.2 ssh-ed25519 AAAA..."``, or a bare ``"ssh-ed25519 AAAA..."``
    meaning "this key for this host"). ``key_file`` is a private key on the
    deploying machine; without it the ssh-agent is used. No secret lives here.
    """

    host: str
    port: int = 22
    user: str = "root"
    known_hosts: str = ""
    key_file: str | None = None
    use_agent: bool | None = None  # None: the agent only when there is no key_file
    connect_timeout: float = 10.0

    def __post_init__(self) -> None:
        if not self.host:
            raise ConfigError("SSH host is empty")
        if not 0 < self.port < 65536:
            raise ConfigError(f"SSH port {self.port} is out of range", host=self.host)
        if not self.user:
            raise ConfigError("SSH user is empty", host=self.host)
        parse_known_hosts(self.known_hosts)  # fail early on a malformed pin

    @property
    def agent_enabled(self) -> bool:
        return self.key_file is None if self.use_agent is None else self.use_agent

    def pinned_keys(self) -> list[paramiko.PKey]:
        return [p.key for p in parse_known_hosts(self.known_hosts) if p.matches(self.host, self.port)]
