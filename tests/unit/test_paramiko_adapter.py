"""The paramiko private members daunit.remote.paramiko_adapter relies on are still there, as they were.

Fails when a paramiko upgrade renames one, changes its signature, or changes
Transport.open_channel or Channel.exec_command (whose steps open_streamlocal
and send_exec repeat): then read paramiko's new method, update the adapter,
and update its hash in MIRRORED.
The adapter working end to end is tests/remote (the Unit control socket).
"""
from __future__ import annotations

import hashlib
import inspect
import socket
from collections.abc import Iterator

import paramiko
import pytest

from daunit.remote import paramiko_adapter

# name -> the parameters (after self) the adapter calls it with
METHODS = {
    (paramiko.Transport, "_sanitize_window_size"): ["window_size"],
    (paramiko.Transport, "_sanitize_packet_size"): ["max_packet_size"],
    (paramiko.Transport, "_next_channel"): [],
    (paramiko.Transport, "_send_user_message"): ["data"],
    (paramiko.Channel, "_set_transport"): ["transport"],
    (paramiko.Channel, "_set_window"): ["window_size", "max_packet_size"],
    (paramiko.Channel, "_event_pending"): [],
}
# Set by Transport.__init__: name -> what the adapter does with it
ATTRIBUTES = {
    "lock": ("__enter__", "__exit__"),
    "_channels": ("put", "get", "delete"),
    "channel_events": ("__setitem__",),
    "channels_seen": ("__setitem__",),
}
# Set by Channel.__init__: name -> its type there
CHANNEL_ATTRIBUTES = {"remote_chanid": int, "event_ready": bool}


@pytest.fixture
def transport() -> Iterator[paramiko.Transport]:
    ours, theirs = socket.socketpair()
    t = paramiko.Transport(ours)  # not started: no thread, no traffic
    yield t
    t.close()
    theirs.close()


def test_every_private_member_is_listed() -> None:
    listed = {name for _cls, name in paramiko_adapter.PRIVATE_MEMBERS}
    assert listed == {name for _cls, name in METHODS} | set(ATTRIBUTES) | set(CHANNEL_ATTRIBUTES)


@pytest.mark.parametrize(("owner", "name"), sorted(METHODS, key=lambda m: (m[0].__name__, m[1])))
def test_private_method_keeps_its_signature(owner: type, name: str) -> None:
    method = getattr(owner, name, None)
    assert callable(method), f"paramiko.{owner.__name__}.{name} is gone: update daunit/remote/paramiko_adapter.py"
    params = list(inspect.signature(method).parameters)[1:]
    assert params == METHODS[(owner, name)], f"paramiko.{owner.__name__}.{name}{inspect.signature(method)} changed"


@pytest.mark.parametrize("name", sorted(ATTRIBUTES))
def test_private_attribute_is_set_by_transport_init(transport: paramiko.Transport, name: str) -> None:
    value = getattr(transport, name, None)
    assert value is not None, f"paramiko.Transport no longer sets {name}: update daunit/remote/paramiko_adapter.py"
    for used in ATTRIBUTES[name]:
        assert hasattr(value, used), f"Transport.{name} has no {used} any more"


@pytest.mark.parametrize("name", sorted(CHANNEL_ATTRIBUTES))
def test_private_attribute_is_set_by_channel_init(name: str) -> None:
    value = getattr(paramiko.Channel(0), name, None)
    assert isinstance(value, CHANNEL_ATTRIBUTES[name]), (
        f"paramiko.Channel no longer sets {name} as {CHANNEL_ATTRIBUTES[name].__name__}: "
        "update daunit/remote/paramiko_adapter.py")


@pytest.mark.parametrize(("method", "sha256"), paramiko_adapter.MIRRORED,
                         ids=lambda m: getattr(m, "__qualname__", "sha256"))
def test_the_mirrored_methods_are_unchanged(method: object, sha256: str) -> None:
    source = inspect.getsource(method)  # type: ignore[arg-type]
    assert hashlib.sha256(source.encode()).hexdigest() == sha256, (
        f"paramiko's {getattr(method, '__qualname__', method)} changed: compare it with its copy in "
        "daunit/remote/paramiko_adapter.py, update that, then the hash in MIRRORED")

