"""Health checks through Unit, from the host itself.

The request goes over an SSH `direct-tcpip` channel to the listener's
address on the host, with the app's domain as Host header, so it takes the
same path a visitor's request takes inside Unit (listener -> dispatch route
-> app route -> app) without depending on DNS or on the host's firewall.
"""
from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from typing import Any

import httpcore
import httpx
import paramiko

from daunit.errors import HealthCheckError
from daunit.remote.ssh import SSHSession
from daunit.remote.unit import ChannelStream, ChannelTransport


class TcpChannelBackend(httpcore.NetworkBackend):
    """httpcore connections as direct-tcpip channels opened from the host."""

    def __init__(self, session: SSHSession, address: str, port: int) -> None:
        self.session = session
        self.address = address
        self.port = port

    def connect_tcp(self, host: str, port: int, timeout: float | None = None,
                    local_address: str | None = None,
                    socket_options: Any = None) -> httpcore.NetworkStream:
        try:
            chan = self.session.transport.open_channel(
                "direct-tcpip", (self.address, self.port), ("127.0.0.1", 0),
                timeout=timeout)
        except paramiko.ChannelException as exc:
            # sshd opened no connection: nothing listens there (yet).
            raise httpcore.ConnectError(
                f"nothing accepts connections on {self.address}:{self.port} on the host "
                f"(channel open: {exc.text}): is Unit's listener there?") from exc
        except (paramiko.SSHException, OSError, EOFError) as exc:
            raise httpcore.ConnectError(
                f"cannot reach {self.address}:{self.port} on the host: {exc}") from exc
        self.session.channels_opened += 1
        return ChannelStream(chan)


def listener_address(listener: str) -> tuple[str, int]:
    """Where to reach a Unit listener from the host itself ("*:80" -> 127.0.0.1:80)."""
    addr, _, port = listener.rpartition(":")
    addr = addr.strip("[]")
    if addr in ("*", "", "0.0.0.0"):
        addr = "127.0.0.1"
    elif addr == "::":
        addr = "::1"
    return addr, int(port)


def probe(session: SSHSession, listener: str, host_header: str, path: str,
          timeout: float = 10.0) -> httpx.Response:
    address, port = listener_address(listener)
    transport = ChannelTransport(TcpChannelBackend(session, address, port))  # type: ignore[arg-type]
    with httpx.Client(transport=transport, base_url=f"http://{host_header}",
                      timeout=timeout) as client:
        response = client.get(path, headers={"Host": host_header})
        response.read()
        return response


def check_health(session: SSHSession, health: Mapping[str, Any],
                 log_tail: Callable[[], str] | None = None) -> int:
    """Poll until the app answers the expected status, or raise HealthCheckError.

    Unit replaces workers gracefully, so the first answers may still come
    from a prototype that is starting: retry until the deadline.
    """
    expected = int(health.get("status", 200))
    deadline = time.monotonic() + float(health.get("timeout", 20))
    url = f"http://{health['host']}{health.get('path', '/')} (via {health['listener']})"
    status: int | None = None
    body = b""
    while True:
        try:
            response = probe(session, health["listener"], health["host"],
                             health.get("path", "/"))
            status, body = response.status_code, response.content
            if status == expected:
                return status
        except httpx.HTTPError as exc:
            status, body = None, str(exc).encode()
        if time.monotonic() > deadline:
            raise HealthCheckError(url, status, body, expected=str(expected),
                                   log_tail=log_tail() if log_tail else None,
                                   host=session.target.host)
        time.sleep(0.3)
