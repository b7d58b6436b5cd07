"""The only place that touches paramiko's private members. Read this before upgrading paramiko.

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
from paramiko.common import cMSG_CHANNEL_OPEN

__all__ = ["MIRRORED", "PRIVATE_MEMBERS", "STREAMLOCAL", "open_streamlocal"]

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
)
# The public method whose body open_streamlocal repeats, and the sha256 of
# its source in the pinned paramiko: a change there means reviewing this file.
MIRRORED = (paramiko.Transport.open_channel,
            "e89cdf34ea0f20b143bea7818a3a01e2be56a93738d5e41a3f69d103f890a509")


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
