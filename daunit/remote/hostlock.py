"""A host-wide lock around read-modify-write of shared Unit config.

An `flock` held by a remote shell for as long as its SSH channel stays open:
if the deploying process dies or the connection drops, sshd closes the
channel, the shell exits and the lock is free again. No stale lock files.

Resources of one deployment share one connection per host (daunit.remote.pool):
they queue on the connection's own guard first, so only one of them at a
time has a channel waiting on the remote flock.
"""
from __future__ import annotations

import contextlib
import os
import shlex
import threading
import time
import weakref
from collections.abc import Iterator

from daunit import hostops
from daunit.errors import ChannelTimeout, RemoteError
from daunit.remote.connection import SESSION, Channel, Connection

DEFAULT_TIMEOUT_S = 120

# One guard per connection: threads sharing a connection queue here rather
# than each parking a channel (and a session slot) on the remote flock.
_guards: weakref.WeakKeyDictionary[Connection, threading.Lock] = weakref.WeakKeyDictionary()
_guards_lock = threading.Lock()


def default_timeout() -> int:
    """Seconds to wait for another deployment's lock (DAFLASK_LOCK_TIMEOUT overrides)."""
    try:
        return max(1, int(os.environ.get("DAFLASK_LOCK_TIMEOUT", DEFAULT_TIMEOUT_S)))
    except ValueError:
        return DEFAULT_TIMEOUT_S


class LockTimeout(RemoteError):
    """Another deployment held the host lock for longer than we would wait."""


def _guard(connection: Connection) -> threading.Lock:
    with _guards_lock:
        return _guards.setdefault(connection, threading.Lock())


@contextlib.contextmanager
def host_lock(connection: Connection, holder: str, timeout_s: int | None = None, *,
              user_mode: bool = False) -> Iterator[None]:
    """user_mode: the lock in the SSH user's home (access: user), not root's /run/daunit."""
    timeout_s = default_timeout() if timeout_s is None else timeout_s
    guard = _guard(connection)
    where = hostops.USER_LOCK_FILE if user_mode else hostops.LOCK_FILE
    if not guard.acquire(timeout=timeout_s):
        raise LockTimeout(
            f"another resource of this deployment held the host-wide Unit lock "
            f"({where}) for over {timeout_s} s, so {holder} gave up waiting. "
            "Raise DAFLASK_LOCK_TIMEOUT if a step legitimately takes that long.",
            host=connection.target.host)
    try:
        with _remote_lock(connection, holder, timeout_s, user_mode):
            yield
    finally:
        guard.release()


@contextlib.contextmanager
def _remote_lock(connection: Connection, holder: str, timeout_s: int, user_mode: bool) -> Iterator[None]:
    # Closing the channel (on the way out) ends the holder's `cat` and frees the lock.
    with connection.open_channel(SESSION) as chan:
        command = shlex.join(hostops.hold_lock(timeout_s, holder, user_mode=user_mode))
        chan.exec(command)
        line = _read_line(chan, deadline=time.monotonic() + timeout_s + 10)
        if line != "LOCKED" and chan.raw.closed and chan.refused():
            raise chan.refusal(command)
        if line != "LOCKED":
            who = line.removeprefix("HELD-BY ").strip() if line.startswith("HELD-BY") else "?"
            raise LockTimeout(
                f"the host-wide Unit lock ({hostops.USER_LOCK_FILE if user_mode else hostops.LOCK_FILE}) "
                f"was held for over {timeout_s} s "
                f"by: {who}. Wait for that deployment to finish, or check it is not hung.",
                host=connection.target.host)
        try:
            yield
        finally:
            chan.shutdown_write()


def _read_line(chan: Channel, deadline: float) -> str:
    """The holder's first line (b"" read as EOF ends it; so does the deadline)."""
    buf = b""
    while b"\n" not in buf:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            break
        try:
            chunk = chan.recv(256, timeout=remaining)
        except ChannelTimeout:
            break
        if not chunk:
            break
        buf += chunk
    return buf.decode("utf-8", "replace").strip()
