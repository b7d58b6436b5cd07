"""HTTP/1.1 (httpcore) over SSH channels: no socket on this machine, no helper on the host.

``ChannelBackend`` is an httpcore network backend whose every "connection"
is a channel from ``Connection.open_channel`` to one place on the host (Unit's
control socket, or a listener's address); ``ChannelStream`` is the httpcore
stream over such a channel. Errors pass through as the connection raises them
(daunit.errors: ChannelRefused, ChannelError, ChannelTimeout, ConnectError);
``http_errors`` adds httpcore's own (a malformed answer) as ChannelError, so a
caller has one family to map.
"""
from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

import httpcore

from daunit.errors import ChannelError, ChannelTimeout
from daunit.remote.connection import Channel, Connection, TcpPort, UnixSocket

__all__ = ["ChannelBackend", "ChannelStream", "http_errors"]


class ChannelStream(httpcore.NetworkStream):
    """An httpcore stream over one channel."""

    def __init__(self, chan: Channel) -> None:
        self.channel = chan

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        return self.channel.recv(max_bytes, timeout)  # b"" at EOF, as h11 expects

    def write(self, buffer: bytes, timeout: float | None = None) -> None:
        if buffer:
            self.channel.send_all(buffer, timeout)

    def close(self) -> None:
        self.channel.close()

    def start_tls(self, *args: Any, **kwargs: Any) -> httpcore.NetworkStream:
        raise ChannelError("TLS inside an SSH channel is not supported here")

    def get_extra_info(self, info: str) -> Any:
        if info == "is_readable":
            # httpcore asks this of an idle kept-alive connection: readable
            # while idle means the server closed it (or sent garbage).
            return self.channel.idle_readable()
        return None


class ChannelBackend(httpcore.NetworkBackend):
    """Every connection httpcore asks for is a new channel to ``place`` on the host;
    the URL's host and port are only what goes in the request."""

    def __init__(self, connection: Connection, place: TcpPort | UnixSocket) -> None:
        self.connection = connection
        self.place = place
        self.channels_opened = 0

    def open(self, timeout: float | None = None) -> ChannelStream:
        stream = ChannelStream(self.connection.open_channel(self.place, timeout=timeout))
        self.channels_opened += 1
        return stream

    def connect_tcp(self, host: str, port: int, timeout: float | None = None, local_address: str | None = None,
                    socket_options: Any = None) -> httpcore.NetworkStream:
        return self.open(timeout)

    def connect_unix_socket(self, path: str, timeout: float | None = None,
                            socket_options: Any = None) -> httpcore.NetworkStream:
        return self.open(timeout)


@contextlib.contextmanager
def http_errors(what: str) -> Iterator[None]:
    """httpcore's exceptions during ``what`` as ChannelTimeout / ChannelError."""
    try:
        yield
    except httpcore.TimeoutException as exc:
        raise ChannelTimeout(f"{what}: {exc or type(exc).__name__}") from exc
    except (httpcore.ProtocolError, httpcore.NetworkError, httpcore.UnsupportedProtocol) as exc:
        raise ChannelError(f"{what}: {exc or type(exc).__name__}") from exc
