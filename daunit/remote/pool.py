"""One SSH connection per host for the whole of a `pulumi` run.

The engine serves every dynamic resource of a run from one provider process,
calling it from several threads at once. Each call used to open (and close)
its own connection: a no-op `pulumi up --refresh` of 50 resources on one host
was 50 handshakes. Here a call borrows the process's session for its target,
so a host costs one handshake per run; the connection closes when the process
ends (or reconnects by itself if the host dropped it).

Sessions are shared, never pickled: the providers Pulumi stores in state hold
none of this (DESIGN.md, "The provider contract").
"""
from __future__ import annotations

import atexit
import threading

from daunit.remote.ssh import SSHSession, SSHTarget

__all__ = ["close_all", "shared_session"]

_sessions: dict[SSHTarget, SSHSession] = {}
_guard = threading.Lock()


def shared_session(target: SSHTarget) -> SSHSession:
    """The process's session for ``target`` (created, not yet connected, on first use)."""
    with _guard:
        session = _sessions.get(target)
        if session is None:
            # A deploy runs command after command: each finds its channel open.
            session = _sessions[target] = SSHSession(target, spare_session=True)
        return session


def close_all() -> None:
    """Close every shared connection (at exit, and for tests)."""
    with _guard:
        sessions = list(_sessions.values())
        _sessions.clear()
    for session in sessions:
        session.close()


atexit.register(close_all)
