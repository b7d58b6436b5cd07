"""The only place that touches paramiko's private members. Read this before upgrading paramiko.

Two things paramiko's public API does not do:

- ``open_streamlocal``: a channel to a Unix socket on the host (below);
- ``send_exec``: an exec request sent without waiting for its reply.
  ``Channel.exec_command`` waits one round trip for the host's yes or no
  before the caller may read; the command's output and exit status follow
  that reply on the same channel, so waiting for them is enough. A refusal
  (MSG_CHANNEL_FAILURE) makes paramiko close the channel; ``exec_accepted``
  then tells a refused command from one that ran (paramiko sets
  ``Channel.event_ready`` on MSG_CHANNEL_SUCCESS only). ``send_exec``
  repeats ``exec_command``'s steps but the wait, with ``Channel.remote_chanid``,
  ``._event_pending`` and ``.event_ready`` (also in ``PRIVATE_MEMBERS``, and
  ``exec_command`` in ``MIRRORED``).

paramiko (pinned: paramiko==5.1.0 in requirements.txt) has no public call
for a ``direct-streamlocal@openssh.com`` channel, the one that reaches a Unix
socket on the host (Unit's control socket). ``Transport.open_channel`` knows
only the payloads of "session", "direct-tcpip", "forwarded-tcpip" and "x11",
so ``open_streamlocal`` below repeats its steps with the payload OpenSSH's
PROTOCOL file gives (section 2.4): socket path, reserved string, reserved
uint32. Those steps use these private members (all listed in
``PRIVATE_MEMBERS``; tests/unit/test_paramiko_adapter.py fails when paramiko
renames one, changes its signature, or changes ``Transport.open_channel``,
whose body this mirrors):

    Transport.lock, ._sanitize_window_size, ._sanitize_packet_size,
    ._next_channel, ._channels (put/get/delete), .channel_events,
    .channels_seen, ._send_user_message; Channel._set_transport, ._set_window

Everything else in daunit.remote uses paramiko's public API.
"""
from __future__ import annotations

import threading
import time
from typing import Any

import paramiko
from paramiko.common import cMSG_CHANNEL_OPEN, cMSG_CHANNEL_REQUEST

__all__ = ["MIRRORED", "PRIVATE_MEMBERS", "STREAMLOCAL", "exec_accepted", "open_streamlocal", "send_exec"]

STREAMLOCAL = "direct-streamlocal@openssh.com"

# (class, member): what open_streamlocal relies on. Instance attributes that
# Transport.__init__ sets are checked on a Transport built over a socketpair.
PRIVATE_MEMBERS: tuple[tuple[type, str], ...] = (
    (paramiko.Transport, "lock"),
    (paramiko.Transport, "_sanitize_window_size"),
    (paramiko.Transport, "_sanitize_packet_size"),
    (paramiko.Transport, "_next_channel"),
    (paramiko.Transport, "_channels"),
    (paramiko.Transport, "channel_events"),
    (paramiko.Transport, "channels_seen"),
    (paramiko.Transport, "_send_user_message"),
    (paramiko.Channel, "_set_transport"),
    (paramiko.Channel, "_set_window"),
    (paramiko.Channel, "_event_pending"),
    (paramiko.Channel, "remote_chanid"),
    (paramiko.Channel, "event_ready"),
)
# The public methods whose bodies open_streamlocal and send_exec repeat, and
# the sha256 of their source in the pinned paramiko: a change there means
# reviewing this file.
MIRRORED = (
    (paramiko.Transport.open_channel, "e89cdf34ea0f20b143bea7818a3a01e2be56a93738d5e41a3f69d103f890a509"),
    (paramiko.Channel.exec_command, "4b0db98addb99b1e0560f7e6c4a6c3d84039d90fe1ba4c639ee815b036dc8dfa"),
)


def open_streamlocal(transport: paramiko.Transport, path: str, timeout: float) -> paramiko.Channel:
    """A channel to the Unix socket ``path`` on the host.

    Raises as ``Transport.open_channel`` does: ``paramiko.ChannelException``
    when the host refuses (from ``transport.get_exception()``), another
    ``SSHException`` or ``EOFError`` when the connection ends meanwhile, and
    ``TimeoutError`` when the host does not answer within ``timeout``.
    """
    t: Any = transport  # the members below are not in paramiko's type stubs
    with t.lock:
        window_size = t._sanitize_window_size(None)
        max_packet_size = t._sanitize_packet_size(None)
        chanid = t._next_channel()
        m = paramiko.Message()
        m.add_byte(cMSG_CHANNEL_OPEN)
        m.add_string(STREAMLOCAL)
        m.add_int(chanid)
        m.add_int(window_size)
        m.add_int(max_packet_size)
        m.add_string(path)
        m.add_string("")  # reserved
        m.add_int(0)  # reserved
        chan: Any = paramiko.Channel(chanid)
        t._channels.put(chanid, chan)
        t.channel_events[chanid] = event = threading.Event()
        t.channels_seen[chanid] = True
        chan._set_transport(t)
        chan._set_window(window_size, max_packet_size)
    t._send_user_message(m)
    deadline = time.monotonic() + timeout
    while not event.wait(0.1):
        if not transport.is_active():
            raise transport.get_exception() or EOFError("the SSH connection closed")
        if time.monotonic() > deadline:
            t._channels.delete(chanid)
            raise TimeoutError(f"no answer to the channel open within {timeout:g} s")
    opened: paramiko.Channel | None = t._channels.get(chanid)
    if opened is not None:
        return opened
    raise transport.get_exception() or paramiko.SSHException("the host refused the channel")


def send_exec(channel: paramiko.Channel, command: str) -> None:
    """Ask the host to run ``command`` on ``channel`` without waiting for the answer.

    Raises ``paramiko.SSHException`` as ``exec_command`` does when the channel
    is not open. Whether the host ran it is known once its output ended:
    ``exec_accepted``.
    """
    c: Any = channel
    if c.closed or c.eof_received or c.eof_sent or not c.active:
        raise paramiko.SSHException("Channel is not open")
    m = paramiko.Message()
    m.add_byte(cMSG_CHANNEL_REQUEST)
    m.add_int(c.remote_chanid)
    m.add_string("exec")
    m.add_boolean(True)  # want a reply: a refusal must close the channel, not pass unseen
    m.add_string(command)
    c._event_pending()
    c.transport._send_user_message(m)


def exec_accepted(channel: paramiko.Channel) -> bool:
    """True once the host said yes to ``send_exec``'s request (it answers
    before any output, so this is settled when the channel has closed or the
    exit status came)."""
    c: Any = channel
    return bool(c.event_ready)
