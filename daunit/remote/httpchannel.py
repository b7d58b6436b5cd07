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
import threading
import time
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
    the URL's host and port are only what goes in the request.

    With ``spare``, the next channel is opened in the background as soon as
    one is taken (and the first at once), so a request finds its channel
    open: a server that closes the connection after each answer (Unit's
    control API) costs one round trip per request instead of two. A spare
    that failed to open, was closed by the server or waited longer than
    SPARE_MAX_AGE_S is dropped and a channel opened then; ``close()`` closes
    unused ones. ``open_ahead(n)`` opens more, for requests sent at once.
    Safe to use from several threads.
    """

    SPARE_MAX_AGE_S = 10.0

    def __init__(self, connection: Connection, place: TcpPort | UnixSocket, *, spare: bool = False) -> None:
        self.connection = connection
        self.place = place
        self.channels_opened = 0
        self._lock = threading.Lock()
        self._spare_wanted = spare
        self._spares: list[_Opening] = []
        if spare:
            self.open_ahead(1)

    def open_ahead(self, count: int) -> None:
        """Have ``count`` channels open or opening for the next requests."""
        with self._lock:
            while len(self._spares) < count:
                self._spares.append(_Opening(self.connection, self.place))

    def open(self, timeout: float | None = None) -> ChannelStream:
        chan = self._take_spare(timeout)
        if chan is None:
            chan = self.connection.open_channel(self.place, timeout=timeout)
        with self._lock:
            self.channels_opened += 1
        if self._spare_wanted:
            self.open_ahead(1)
        return ChannelStream(chan)

    def close(self) -> None:
        """Close the spare channels, open or opening."""
        with self._lock:
            self._spare_wanted = False
            spares, self._spares = self._spares, []
        for spare in spares:
            spare.discard()

    def _take_spare(self, timeout: float | None) -> Channel | None:
        with self._lock:
            spare = self._spares.pop(0) if self._spares else None
        if spare is None:
            return None
        chan = spare.result(timeout)
        if chan is None or chan.idle_readable() or spare.age() > self.SPARE_MAX_AGE_S:
            if chan is not None:
                chan.close()
            return None
        return chan

    def connect_tcp(self, host: str, port: int, timeout: float | None = None, local_address: str | None = None,
                    socket_options: Any = None) -> httpcore.NetworkStream:
        return self.open(timeout)

    def connect_unix_socket(self, path: str, timeout: float | None = None,
                            socket_options: Any = None) -> httpcore.NetworkStream:
        return self.open(timeout)


class _Opening:
    """A channel being opened on a thread of its own (the open is one round trip)."""

    def __init__(self, connection: Connection, place: TcpPort | UnixSocket) -> None:
        self._connection, self._place = connection, place
        self._started = time.monotonic()
        self._chan: Channel | None = None
        self._lock = threading.Lock()
        self._discarded = False
        self._thread = threading.Thread(target=self._open, name="spare-channel", daemon=True)
        self._thread.start()

    def _open(self) -> None:
        try:
            chan = self._connection.open_channel(self._place, reconnect=False)
        except Exception:
            return  # the taker opens a channel itself, and gets the error then
        with self._lock:
            if not self._discarded:
                self._chan = chan
                return
        chan.close()

    def age(self) -> float:
        return time.monotonic() - self._started

    def result(self, timeout: float | None) -> Channel | None:
        """The open channel, or None when the open failed or took longer than ``timeout``."""
        self._thread.join(timeout)
        with self._lock:
            if self._chan is None:
                self._discarded = True
            chan, self._chan = self._chan, None
            return chan

    def discard(self) -> None:
        with self._lock:
            self._discarded = True
            chan, self._chan = self._chan, None
        if chan is not None:
            chan.close()


@contextlib.contextmanager
def http_errors(what: str) -> Iterator[None]:
    """httpcore's exceptions during ``what`` as ChannelTimeout / ChannelError."""
    try:
        yield
    except httpcore.TimeoutException as exc:
        raise ChannelTimeout(f"{what}: {exc or type(exc).__name__}") from exc
    except (httpcore.ProtocolError, httpcore.NetworkError, httpcore.UnsupportedProtocol) as exc:
        raise ChannelError(f"{what}: {exc or type(exc).__name__}") from exc
