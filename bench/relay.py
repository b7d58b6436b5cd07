"""A TCP relay that adds a fixed delay each way: round-trip time without netem.

This kernel has no netem qdisc (`tc qdisc add ... netem` answers "Specified
qdisc kind is unknown"), so the delay is added in user space. The relay
accepts on 127.0.0.1:PORT and forwards to the lab's sshd; everything a
deploy does reaches the host over that SSH connection (commands, uploads,
the Unit control socket as a direct-streamlocal channel, health checks as
direct-tcpip channels), so everything crosses the delayed link.

How the delay is held:
- every chunk read from one side is written to the other `one_way` seconds
  after it was read, in order; reading goes on meanwhile, so the delay does
  not throttle bandwidth (queues are bounded, then TCP flow control applies);
- the kernel finishes the client's TCP handshake on loopback at once, so the
  relay connects upstream only 1.5 RTT after the accept: the client's first
  byte then reaches sshd, and sshd's banner reaches the client, when they
  would over a link with that RTT.

It also counts, per connection, bytes each way and "turns": client->server
flights that follow data from the server, i.e. how many times the client
sent after hearing back (an upper bound on the round trips it waited for).

Bounded: at most `max_connections` at once, queues of `_QUEUE_CHUNKS`
chunks, and the whole relay stops after `max_seconds` whatever happens.
"""
from __future__ import annotations

import asyncio
import contextlib
import socket
import threading
import time
from dataclasses import dataclass, field
from typing import Self

_CHUNK = 65536
_QUEUE_CHUNKS = 256  # per direction per connection: at most 16 MiB held


@dataclass
class ConnStats:
    opened: float
    closed: float | None = None
    up_bytes: int = 0  # client -> server
    down_bytes: int = 0  # server -> client
    turns: int = 0
    last_data: float | None = None  # monotonic time of the last chunk either way
    turn_times: list[float] = field(default_factory=list)  # monotonic time of each turn after the handshake
    _last: str = ""  # "up" or "down": who sent last


@dataclass
class RelayStats:
    accepted: int = 0
    refused: int = 0
    conns: list[ConnStats] = field(default_factory=list)


class DelayRelay:
    """Run with `start()` (returns the port) and `stop()`; read `snapshot()` between."""

    def __init__(self, target: tuple[str, int], one_way_s: float, *,
                 listen_host: str = "127.0.0.1", max_connections: int = 512,
                 max_seconds: float = 7200.0) -> None:
        self.target = target
        self.one_way = one_way_s
        self.listen_host = listen_host
        self.max_connections = max_connections
        self.max_seconds = max_seconds
        self.port = 0
        self._stats = RelayStats()
        self._lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._ready = threading.Event()
        self._stop: asyncio.Event | None = None
        self._error: BaseException | None = None
        self._active = 0

    # -- control (from the bench's thread) ------------------------------------------
    def start(self) -> int:
        self._thread = threading.Thread(target=self._run, name="delay-relay", daemon=True)
        self._thread.start()
        if not self._ready.wait(10):
            raise RuntimeError("the delay relay did not start in 10 s")
        if self._error is not None:
            raise RuntimeError(f"the delay relay failed to start: {self._error}")
        return self.port

    def stop(self) -> None:
        if self._loop is not None and self._stop is not None:
            with contextlib.suppress(RuntimeError):
                self._loop.call_soon_threadsafe(self._stop.set)
        if self._thread is not None:
            self._thread.join(15)

    def snapshot(self) -> RelayStats:
        with self._lock:
            return RelayStats(self._stats.accepted, self._stats.refused,
                              [ConnStats(c.opened, c.closed, c.up_bytes, c.down_bytes, c.turns,
                                         c.last_data, list(c.turn_times))
                               for c in self._stats.conns])

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self.stop()

    # -- the loop (its own thread) ----------------------------------------------------
    def _run(self) -> None:
        try:
            asyncio.run(self._main())
        except BaseException as exc:  # noqa: BLE001 - reported by start(), or ends the thread quietly
            self._error = exc
            self._ready.set()

    async def _main(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._stop = asyncio.Event()
        server = await asyncio.start_server(self._serve, self.listen_host, 0,
                                            limit=_CHUNK, backlog=128)
        self.port = server.sockets[0].getsockname()[1]
        self._ready.set()
        try:
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self._stop.wait(), self.max_seconds)
        finally:
            server.close()
            await server.wait_closed()
            tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

    async def _serve(self, c_reader: asyncio.StreamReader, c_writer: asyncio.StreamWriter) -> None:
        if self._active >= self.max_connections:
            with self._lock:
                self._stats.refused += 1
            c_writer.close()
            return
        self._active += 1
        stats = ConnStats(opened=time.monotonic())
        with self._lock:
            self._stats.accepted += 1
            self._stats.conns.append(stats)
        stats.turns = 1  # the TCP handshake
        _nodelay(c_writer)
        up: asyncio.Queue[tuple[float, bytes]] = asyncio.Queue(_QUEUE_CHUNKS)
        down: asyncio.Queue[tuple[float, bytes]] = asyncio.Queue(_QUEUE_CHUNKS)
        s_writer: asyncio.StreamWriter | None = None
        reading_client = asyncio.create_task(self._read(c_reader, up, stats, "up"))
        try:
            # The handshake's round trip, then sshd's own accept (see the module doc).
            await asyncio.sleep(3 * self.one_way)
            s_reader, s_writer = await asyncio.open_connection(*self.target, limit=_CHUNK)
            _nodelay(s_writer)
            tasks = [reading_client,
                     asyncio.create_task(self._read(s_reader, down, stats, "down")),
                     asyncio.create_task(self._write(up, s_writer)),
                     asyncio.create_task(self._write(down, c_writer))]
            _done, pending = await asyncio.wait(tasks, return_when=asyncio.FIRST_EXCEPTION)
            for task in pending:  # one side failed: end the other pumps too
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
        except OSError:
            reading_client.cancel()
        finally:
            for w in (c_writer, s_writer):
                if w is not None:
                    w.close()
            stats.closed = time.monotonic()
            self._active -= 1

    async def _read(self, reader: asyncio.StreamReader, queue: asyncio.Queue[tuple[float, bytes]],
                    stats: ConnStats, direction: str) -> None:
        loop = asyncio.get_running_loop()
        while True:
            try:
                data = await reader.read(_CHUNK)
            except OSError:
                data = b""
            with self._lock:
                if data:
                    stats.last_data = time.monotonic()
                    if direction == "up":
                        stats.up_bytes += len(data)
                        if stats._last == "down":
                            stats.turns += 1
                            stats.turn_times.append(stats.last_data)
                    else:
                        stats.down_bytes += len(data)
                    stats._last = direction
            await queue.put((loop.time() + self.one_way, data))
            if not data:
                return

    @staticmethod
    async def _write(queue: asyncio.Queue[tuple[float, bytes]], writer: asyncio.StreamWriter) -> None:
        loop = asyncio.get_running_loop()
        while True:
            due, data = await queue.get()
            wait = due - loop.time()
            if wait > 0:
                await asyncio.sleep(wait)
            if not data:  # EOF from the other side: pass the half-close on
                with contextlib.suppress(OSError):
                    if writer.can_write_eof():
                        writer.write_eof()
                return
            writer.write(data)
            await writer.drain()


def _nodelay(writer: asyncio.StreamWriter) -> None:
    sock = writer.get_extra_info("socket")
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
