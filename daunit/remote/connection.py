"""One SSH connection to a host, and the only way to a channel on it.

A ``Connection`` is one TCP connection and one paramiko ``Transport``, opened
lazily (daunit.remote.handshake: the host key is checked against the pins
before anything is sent) and reopened by itself if the host dropped it
(DESIGN.md, "Reaching the host").
Commands (daunit.remote.commands), file transfer (daunit.remote.transfer),
the host lock, health checks and the Unit control API all get their channels
from ``Connection.open_channel``, which

- counts them (``channels_opened``: tests and benchmarks read it);
- keeps session channels within the server's MaxSessions (see
  ``SESSION_SLOTS``), and waits and asks again when sshd refuses one because
  it has not yet freed a session we closed;
- turns paramiko's and the socket's exceptions into daunit.errors, here and
  on the returned ``Channel``'s reads and writes.

A connection is live state: it must never be stored on an object Pulumi
pickles (keep the SSHTarget instead).
"""
from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from types import TracebackType
from typing import Any, Self

import paramiko
from paramiko.common import OPEN_FAILED_ADMINISTRATIVELY_PROHIBITED

from daunit.errors import ChannelError, ChannelRefused, ChannelTimeout, ConnectError
from daunit.remote import paramiko_adapter
from daunit.remote.handshake import open_transport
from daunit.remote.target import SSHTarget

__all__ = ["SESSION", "SESSION_SLOTS", "Channel", "ChannelKind", "Connection", "Session", "TcpPort",
           "UnixSocket"]

# paramiko logs at ERROR what it also raises to us: a refused channel open
# ("Secsh channel 3 open FAILED: Connection refused: Connect failed"), and the
# traceback of its transport thread when a connection drops. The Pulumi
# provider process sets up no logging, so Python's last-resort handler writes
# those lines to stderr, and the engine shows the provider's stderr to the
# user: a health check retrying against a closed port printed about 60 of
# them. Our errors (daunit.errors) already say what happened, once; paramiko's
# own log stays out of the user's terminal. To see it while debugging, give the
# "paramiko" logger a handler and set its `propagate` back to True.
_paramiko_log = logging.getLogger("paramiko")
_paramiko_log.addHandler(logging.NullHandler())
_paramiko_log.propagate = False

# sshd allows MaxSessions (OpenSSH's default: 10) session channels per
# connection: commands, the SFTP subsystem and the host-lock holder all count;
# forwarded channels (Unix socket, TCP) do not. A connection never has more
# session channels open than this. sshd frees a session only once it has
# processed our close, so right after closing one we may still be refused:
# open_channel then waits for a release (or a moment) and asks again.
SESSION_SLOTS = 10
# How long open_channel keeps asking while sshd refuses session channels.
_REFUSED_PAUSE_S = (0.005, 0.2)  # first pause, longest pause


# --------------------------------------------------------------------------- channel kinds


@dataclass(frozen=True)
class Session:
    """A session channel (a command, or a subsystem such as SFTP)."""

    def __str__(self) -> str:
        return "a session channel"


@dataclass(frozen=True)
class TcpPort:
    """A ``direct-tcpip`` channel to ``address:port`` as seen from the host."""

    address: str
    port: int

    def __str__(self) -> str:
        return f"{self.address}:{self.port} on the host"


@dataclass(frozen=True)
class UnixSocket:
    """A ``direct-streamlocal`` channel to the Unix socket ``path`` on the host."""

    path: str

    def __str__(self) -> str:
        return f"the Unix socket {self.path} on the host"


SESSION = Session()
ChannelKind = Session | TcpPort | UnixSocket


# --------------------------------------------------------------------------- channel


class Channel:
    """One open channel; ``close()`` (or leaving ``with``) gives its slot back.

    Reads and writes raise ChannelTimeout, ChannelError, or ConnectError when
    the connection itself is gone. ``raw`` is the paramiko channel, for the
    modules of daunit.remote that read both output streams at once
    (daunit.remote.commands); it does not leave this package.
    """

    def __init__(self, raw: paramiko.Channel, owner: Connection, kind: ChannelKind) -> None:
        self.raw = raw
        self.kind = kind
        self._owner = owner
        self._released = False

    def __enter__(self) -> Self:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()

    def exec(self, command: str) -> None:
        """Start ``command`` (a shell command line) on this session channel.

        Does not wait for the host's answer (one round trip fewer): its output
        follows that answer. A host that refuses closes the channel at once;
        once the channel is closed (or the exit status came) ``refused()``
        says which it was, and every caller must ask.
        """
        with self._mapped("start a command"):
            paramiko_adapter.send_exec(self.raw, command)

    def refused(self) -> bool:
        """After the command's output ended: True when the host refused to run it."""
        return not paramiko_adapter.exec_accepted(self.raw)

    def refusal(self, command: str) -> ChannelError:
        """The error for a command the host would not run."""
        return ChannelError(f"the host refused to run {command!r} (sshd answered the exec request "
                            "with a failure): check the account's shell and sshd's ForceCommand "
                            "and Match rules for this user", host=self._owner.target.host)

    def pty(self, term: str, width: int, height: int) -> None:
        """A terminal for the command started next."""
        with self._mapped("get a terminal"):
            self.raw.get_pty(term=term, width=width, height=height)

    def subsystem(self, name: str) -> None:
        with self._mapped(f"start the {name} subsystem"):
            self.raw.invoke_subsystem(name)

    def send_all(self, data: bytes, timeout: float | None = None) -> None:
        with self._mapped("send", timeout):
            self.raw.settimeout(timeout)
            self.raw.sendall(data)

    def recv(self, max_bytes: int, timeout: float | None = None) -> bytes:
        """Up to ``max_bytes``; b"" once the other side has sent EOF."""
        with self._mapped("read", timeout):
            self.raw.settimeout(timeout)
            return bytes(self.raw.recv(max_bytes))

    def shutdown_write(self) -> None:
        """Send EOF (a no-op on a channel that is already closed)."""
        with contextlib.suppress(OSError, EOFError, paramiko.SSHException):
            self.raw.shutdown_write()

    def idle_readable(self) -> bool:
        """True when data or EOF is waiting: on an idle channel, the server closed it."""
        raw = self.raw
        return bool(raw.closed or raw.eof_received or raw.recv_ready())

    def close(self) -> None:
        if self._released:
            return
        self._released = True
        try:
            with contextlib.suppress(OSError, EOFError, paramiko.SSHException):
                self.raw.close()
        finally:
            self._owner._release(self.kind)

    @contextlib.contextmanager
    def _mapped(self, doing: str, timeout: float | None = None) -> Iterator[None]:
        where = self.kind if isinstance(self.kind, Session) else f"the channel to {self.kind}"
        try:
            yield
        except TimeoutError as exc:
            within = "in time" if timeout is None else f"within {timeout:g} s"
            raise ChannelTimeout(f"could not {doing} on {where} {within}", host=self._owner.target.host) from exc
        except (OSError, EOFError, paramiko.SSHException) as exc:
            if not self._owner.alive():
                raise self._owner.lost(exc) from exc
            raise ChannelError(f"could not {doing} on {where}: {exc or type(exc).__name__}",
                               host=self._owner.target.host) from exc


# --------------------------------------------------------------------------- connection


class Connection:
    """A lazily opened SSH connection to ``target``, shared by everything in a batch."""

    def __init__(self, target: SSHTarget, *, session_slots: int = SESSION_SLOTS,
                 spare_session: bool = False) -> None:
        self.target = target
        self._lock = threading.Lock()
        self._transport: paramiko.Transport | None = None
        self._slots = threading.Condition()
        self._session_slots = session_slots
        self._sessions_open = 0
        self.channels_opened = 0  # every channel of any kind: for tests and benchmarks
        # spare_session: once a session channel is taken, the next one is opened
        # in the background (see _SpareSession): a command then starts without
        # waiting a round trip for its channel. It holds one of the session slots.
        self._spare_wanted = spare_session
        self._spare: _SpareSession | None = None

    # -- lifecycle -------------------------------------------------------------

    def __enter__(self) -> Self:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()

    def __getstate__(self) -> Any:
        raise TypeError(
            f"{type(self).__name__} holds a live connection and cannot be pickled; "
            "keep the SSHTarget and open a session inside the provider method"
        )

    def __repr__(self) -> str:
        state = "open" if self._transport is not None else "not connected"
        t = self.target
        return f"<{type(self).__name__} {t.user}@{t.host}:{t.port} {state}>"

    def close(self) -> None:
        with self._slots:
            spare, self._spare = self._spare, None
        if spare is not None:
            spare.discard()
        with self._lock:
            transport, self._transport = self._transport, None
        if transport is not None:
            transport.close()

    def alive(self) -> bool:
        """True while the connection is up (without connecting)."""
        transport = self._transport
        return transport is not None and transport.is_active()

    def connect(self) -> None:
        """Connect now rather than on first use (to fail early)."""
        self._live_transport()

    def lost(self, exc: BaseException) -> ConnectError:
        """The error for a connection that ended under us."""
        t = self.target
        return ConnectError(t.host, t.port, f"SSH connection failed: {exc or type(exc).__name__}",
                            "The host may have dropped the connection (sshd restarted, or a network cut).")

    def _live_transport(self) -> paramiko.Transport:
        with self._lock:
            if self._transport is None or not self._transport.is_active():
                self._transport = None
                self._transport = open_transport(self.target)
            return self._transport

    # -- channels --------------------------------------------------------------

    def open_channel(self, kind: ChannelKind = SESSION, *, timeout: float | None = None,
                     reconnect: bool = True) -> Channel:
        """A new channel of ``kind``; close it (or use ``with``) when done.

        A session channel waits for one of the connection's SESSION_SLOTS.
        ``reconnect`` False: a closed or lost connection is not opened again
        (for channels opened ahead, in the background: ConnectError instead).
        Raises ConnectError when the host cannot be reached (or the connection
        ends), ChannelRefused when the host will not open the channel.
        """
        timeout = self.target.connect_timeout if timeout is None else timeout
        if isinstance(kind, Session):
            raw = self._taken_spare(timeout)
            if raw is None:
                self._take_slot()
                try:
                    raw = self._open_session(timeout, reconnect=reconnect)
                except BaseException:
                    self._release(kind)
                    raise
                self._count_open()
            self._start_spare()
        else:
            raw = self._open_forwarded(kind, timeout, reconnect)
            self._count_open()
        return Channel(raw, self, kind)

    def _count_open(self) -> None:
        with self._slots:
            self.channels_opened += 1

    def _taken_spare(self, timeout: float) -> paramiko.Channel | None:
        """The spare session channel (its slot passes to the caller), or None."""
        with self._slots:
            spare, self._spare = self._spare, None
        return None if spare is None else spare.take(timeout)

    def _start_spare(self) -> None:
        with self._slots:
            if not self._spare_wanted or self._spare is not None:
                return
            self._spare = _SpareSession(self)

    def _take_slot(self) -> None:
        with self._slots:
            while self._sessions_open >= self._session_slots:
                self._slots.wait()
            self._sessions_open += 1

    def _release(self, kind: ChannelKind) -> None:
        if isinstance(kind, Session):
            with self._slots:
                self._sessions_open -= 1
                self._slots.notify_all()

    def _open_session(self, timeout: float, *, reconnect: bool = True) -> paramiko.Channel:
        started = time.monotonic()
        deadline = started + timeout
        pause, longest = _REFUSED_PAUSE_S
        while True:
            transport = self._live_transport() if reconnect else self._transport
            if transport is None:
                raise self.lost(EOFError("the connection is closed"))
            try:
                return transport.open_session(timeout=max(0.1, deadline - time.monotonic()))
            except (paramiko.SSHException, OSError, EOFError) as exc:
                if not transport.is_active():
                    raise self.lost(exc) from exc
                refused = exc
            # Refused while the connection is fine: sshd has not yet freed a
            # session we closed (it frees it after reading our close, and may
            # read our next open in the same batch). Ask again after a release
            # of ours or a short pause, as long as the open timeout allows.
            if time.monotonic() + pause > deadline:
                raise ChannelRefused(
                    f"sshd refused new session channels for {time.monotonic() - started:.1f} s "
                    f"({refused or type(refused).__name__}) while this connection had "
                    f"{self._sessions_open - 1} other(s) open: is MaxSessions in the host's "
                    f"sshd_config below {self._session_slots}?", host=self.target.host) from refused
            with self._slots:
                self._slots.wait(pause)
            pause = min(pause * 2, longest)

    def _open_forwarded(self, kind: TcpPort | UnixSocket, timeout: float, reconnect: bool) -> paramiko.Channel:
        transport = self._live_transport() if reconnect else self._transport
        if transport is None:
            raise self.lost(EOFError("the connection is closed"))
        try:
            if isinstance(kind, UnixSocket):
                return paramiko_adapter.open_streamlocal(transport, kind.path, timeout)
            return transport.open_channel("direct-tcpip", (kind.address, kind.port), ("127.0.0.1", 0),
                                          timeout=timeout)
        except TimeoutError as exc:
            raise ChannelRefused(f"no answer from the host to a channel open to {kind} within {timeout:g} s",
                                 host=self.target.host) from exc
        except (paramiko.SSHException, OSError, EOFError) as exc:
            if not transport.is_active():
                raise self.lost(exc) from exc
            raise ChannelRefused(_refusal(kind, exc), host=self.target.host) from exc


class _SpareSession:
    """A session channel opened on a thread of its own, for the next command.

    It takes its session slot first (waiting like any caller) and never
    reconnects: a connection closed or lost meanwhile leaves no spare. A
    spare whose channel closed (the connection dropped) is not handed out.
    """

    def __init__(self, owner: Connection) -> None:
        self._owner = owner
        self._raw: paramiko.Channel | None = None
        self._state = threading.Condition()
        self._done = False
        self._discarded = False
        threading.Thread(target=self._open, name="spare-session", daemon=True).start()

    def _open(self) -> None:
        owner, raw = self._owner, None
        owner._take_slot()
        try:
            raw = owner._open_session(owner.target.connect_timeout, reconnect=False)
            owner._count_open()
        except Exception:
            pass  # no spare: the next command opens its own channel, and meets the error then
        with self._state:
            self._done = True
            keep = raw is not None and not self._discarded
            if keep:
                self._raw = raw
            self._state.notify_all()
        if not keep:
            self._give_back(raw)

    def _give_back(self, raw: paramiko.Channel | None) -> None:
        if raw is not None:
            with contextlib.suppress(OSError, EOFError, paramiko.SSHException):
                raw.close()
        self._owner._release(SESSION)

    def opened(self, timeout: float) -> bool:
        """Whether the spare is open and waiting (after its open ends, or ``timeout``)."""
        with self._state:
            self._state.wait_for(lambda: self._done, timeout)
            return self._raw is not None

    def take(self, timeout: float) -> paramiko.Channel | None:
        """The open channel, its slot now the caller's; None (slot given back) otherwise."""
        with self._state:
            self._state.wait_for(lambda: self._done, timeout)
            raw, self._raw = self._raw, None
            self._discarded = True
        if raw is not None and (raw.closed or not raw.active):
            self._give_back(raw)
            return None
        return raw

    def discard(self) -> None:
        with self._state:
            raw, self._raw = self._raw, None
            self._discarded = True
        if raw is not None:
            self._give_back(raw)


# --------------------------------------------------------------------------- helpers


def _refusal(kind: TcpPort | UnixSocket, exc: BaseException) -> str:
    code = exc.code if isinstance(exc, paramiko.ChannelException) else None
    text = exc.text if isinstance(exc, paramiko.ChannelException) else str(exc) or type(exc).__name__
    if isinstance(kind, UnixSocket):
        if code == OPEN_FAILED_ADMINISTRATIVELY_PROHIBITED:
            return (f"sshd refused a channel to {kind} "
                    "(AllowStreamLocalForwarding, or the socket is not there)")
        return f"the host could not connect to {kind} ({text}: no such socket, or nothing listens on it)"
    if code == OPEN_FAILED_ADMINISTRATIVELY_PROHIBITED:
        return f"sshd refused a channel to {kind} ({text}: is AllowTcpForwarding off?)"
    return f"nothing accepts connections on {kind} (channel open: {text})"
