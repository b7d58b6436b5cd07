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
import time
from collections.abc import Iterator

from daunit import hostops
from daunit.errors import RemoteError
from daunit.remote.ssh import SSHSession

DEFAULT_TIMEOUT_S = 120


def default_timeout() -> int:
    """Seconds to wait for another deployment's lock (DAFLASK_LOCK_TIMEOUT overrides)."""
    try:
        return max(1, int(os.environ.get("DAFLASK_LOCK_TIMEOUT", DEFAULT_TIMEOUT_S)))
    except ValueError:
        return DEFAULT_TIMEOUT_S


class LockTimeout(RemoteError):
    """Another deployment held the host lock for longer than we would wait."""


@contextlib.contextmanager
def host_lock(session: SSHSession, holder: str,
              timeout_s: int | None = None) -> Iterator[None]:
    timeout_s = default_timeout() if timeout_s is None else timeout_s
    if not session.host_lock_guard.acquire(timeout=timeout_s):
        raise LockTimeout(
            f"another resource of this deployment held the host-wide Unit lock "
            f"({hostops.LOCK_FILE}) for over {timeout_s} s, so {holder} gave up waiting. "
            "Raise DAFLASK_LOCK_TIMEOUT if a step legitimately takes that long.",
            host=session.target.host)
    try:
        with _remote_lock(session, holder, timeout_s):
            yield
    finally:
        session.host_lock_guard.release()


@contextlib.contextmanager
def _remote_lock(session: SSHSession, holder: str, timeout_s: int) -> Iterator[None]:
    chan = session.transport.open_session()
    chan.settimeout(timeout_s + 10)
    session.channels_opened += 1
    try:
        chan.exec_command(shlex.join(hostops.hold_lock(timeout_s, holder)))
        line = _read_line(chan, deadline=time.monotonic() + timeout_s + 10)
        if line != "LOCKED":
            who = line.removeprefix("HELD-BY ").strip() if line.startswith("HELD-BY") else "?"
            raise LockTimeout(
                f"the host-wide Unit lock ({hostops.LOCK_FILE}) was held for over {timeout_s} s "
                f"by: {who}. Wait for that deployment to finish, or check it is not hung.",
                host=session.target.host)
        yield
    finally:
        # Closing stdin ends the holder's `cat`; closing the channel frees the lock.
        with contextlib.suppress(Exception):
            chan.shutdown_write()
        chan.close()


def _read_line(chan: object, deadline: float) -> str:
    buf = b""
    while b"\n" not in buf:
        if time.monotonic() > deadline:
            break
        chunk = chan.recv(256)  # type: ignore[attr-defined]
        if not chunk:
            break
        buf += chunk
    return buf.decode("utf-8", "replace").strip()
