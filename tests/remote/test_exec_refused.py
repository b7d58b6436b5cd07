"""A command the host refuses to run fails with an error, never as a hang or a success.

Commands are started without waiting for the host's answer to the exec
request (daunit.remote.paramiko_adapter.send_exec): the answer is read with
the output. sshd refuses an exec request on a session channel that already
runs a command, which is how these tests get a real refusal from the lab's
sshd: the channel handed to the code under test already runs ``cat``.
"""
from __future__ import annotations

import io
import os
from typing import Any

import pytest

from daunit.errors import ChannelError
from daunit.remote import commands
from daunit.remote.connection import SESSION, Channel, ChannelKind
from daunit.remote.hostlock import host_lock
from daunit.remote.ssh import SSHSession
from tests.remote.conftest import host_path_exists

pytestmark = pytest.mark.root


@pytest.fixture
def busy_channels(session: SSHSession, monkeypatch: pytest.MonkeyPatch) -> SSHSession:
    """Every new session channel of `session` already runs `cat` (waited for: accepted)."""
    real_open = session.open_channel

    def open_busy(kind: ChannelKind = SESSION, **kwargs: Any) -> Channel:
        chan = real_open(kind, **kwargs)
        chan.raw.exec_command("cat")
        return chan
    monkeypatch.setattr(session, "open_channel", open_busy)
    return session


def test_a_command_runs_and_its_status_is_read(session: SSHSession) -> None:
    result = session.run(["sh", "-c", "echo out; echo err >&2; exit 3"], check=False)
    assert (result.exit_status, result.stdout, result.stderr) == (3, b"out\n", b"err\n")


@pytest.mark.parametrize("check", [True, False])
def test_a_refused_command_raises_naming_it(busy_channels: SSHSession, lab_host: Any, check: bool) -> None:
    marker = f"/tmp/daunit-refused-{os.getpid()}"
    with pytest.raises(ChannelError, match=r"refused to run 'touch /tmp/daunit-refused-\d+'"):
        busy_channels.run(["touch", marker], check=check)
    assert not host_path_exists(lab_host, marker)


def test_a_refused_command_with_stdin_raises(busy_channels: SSHSession) -> None:
    with pytest.raises(ChannelError, match="refused to run 'cat'"):
        busy_channels.run(["cat"], stdin=b"x" * 300_000)  # large: written from a helper thread


def test_a_refused_lock_holder_raises(busy_channels: SSHSession) -> None:
    with pytest.raises(ChannelError, match="the host refused to run 'sh -c .*flock"), \
            host_lock(busy_channels, "test", timeout_s=5):
        pytest.fail("the lock was taken on a refused command")


def test_a_refused_interactive_command_raises(busy_channels: SSHSession) -> None:
    read_end, write_end = os.pipe()
    os.close(write_end)
    try:
        with pytest.raises(ChannelError, match="refused to run 'true'"):
            commands.interactive(busy_channels, ["true"], terminal=None, stdin_fd=read_end,
                                 stdout=io.BytesIO(), stderr=io.BytesIO())
    finally:
        os.close(read_end)
