"""Health checks through Unit, from the host itself.

The request goes over an SSH `direct-tcpip` channel to the listener's
address on the host, with the app's domain as Host header, so it takes the
same path a visitor's request takes inside Unit (listener -> dispatch route
-> app route -> app) without depending on DNS or on the host's firewall.
"""
from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import httpcore

from daunit.errors import ChannelError, ChannelRefused, HealthCheckError
from daunit.remote.connection import Connection, TcpPort
from daunit.remote.httpchannel import ChannelBackend, http_errors

__all__ = ["ProbeAnswer", "check_health", "listener_address", "probe"]


@dataclass(frozen=True)
class ProbeAnswer:
    status: int
    reason: str
    body: bytes


def listener_address(listener: str) -> tuple[str, int]:
    """Where to reach a Unit listener from the host itself ("*:80" -> 127.0.0.1:80)."""
    addr, _, port = listener.rpartition(":")
    addr = addr.strip("[]")
    if addr in ("*", "", "0.0.0.0"):
        addr = "127.0.0.1"
    elif addr == "::":
        addr = "::1"
    return addr, int(port)


def probe(connection: Connection, listener: str, host_header: str, path: str,
          timeout: float = 10.0) -> ProbeAnswer:
    """GET ``path`` from the listener with ``host_header`` as Host.

    Raises ChannelRefused when nothing accepts connections there, ChannelError
    (ChannelTimeout) when the answer does not come or is not HTTP.
    """
    address, port = listener_address(listener)
    stream = ChannelBackend(connection, TcpPort(address, port)).open(timeout)
    origin = httpcore.Origin(b"http", host_header.encode("idna"), port)
    url = httpcore.URL(scheme=b"http", host=host_header.encode("idna"), port=port, target=path.encode())
    limits = dict.fromkeys(("connect", "read", "write", "pool"), timeout)
    with httpcore.HTTP11Connection(origin, stream) as http, http_errors(f"GET {path} from {listener}"):
        response = http.request("GET", url, headers=[("Host", host_header)], extensions={"timeout": limits})
    reason = response.extensions.get("reason_phrase", b"")
    return ProbeAnswer(response.status, reason.decode("latin-1") if isinstance(reason, bytes) else "",
                       response.content)


def check_health(connection: Connection, health: Mapping[str, Any],
                 log_tail: Callable[[], str] | None = None,
                 routed: Callable[[], bool] | None = None) -> int | None:
    """Poll until the app answers the expected status, or raise HealthCheckError.

    Unit replaces workers gracefully, so the first answers may still come
    from a prototype that is starting: retry until the deadline.

    ``routed`` is asked once, after the first answer that is not the expected
    one: when it says False (the app is not routed yet, so nothing can answer
    for it), nothing is checked and None is returned. Asking only then spares
    the question when the app answers at once.
    """
    expected = int(health.get("status", 200))
    deadline = time.monotonic() + float(health.get("timeout", 20))
    url = f"http://{health['host']}{health.get('path', '/')} (via {health['listener']})"
    status: int | None = None
    body = b""
    while True:
        try:
            answer = probe(connection, health["listener"], health["host"], health.get("path", "/"))
            status, body = answer.status, answer.body
            if status == expected:
                return status
        except (ChannelRefused, ChannelError) as exc:
            status, body = None, exc.message.encode()
        if routed is not None:
            if not routed():
                return None
            routed = None
        if time.monotonic() > deadline:
            raise HealthCheckError(url, None if status is None else status, body, expected=str(expected),
                                   log_tail=log_tail() if log_tail else None,
                                   host=connection.target.host)
        time.sleep(0.3)
