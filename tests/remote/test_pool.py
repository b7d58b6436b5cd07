"""One shared SSH connection per host for a whole run (daunit.remote.pool).

Against the lab's real sshd, whose MaxSessions is OpenSSH's default of 10.
"""
from __future__ import annotations

import dataclasses
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from daunit.errors import ChannelRefused
from daunit.remote import pool
from daunit.remote.connection import SESSION_SLOTS
from daunit.remote.hostlock import LockTimeout, host_lock
from daunit.remote.ssh import SSHSession, SSHTarget


@pytest.fixture
def shared(target: SSHTarget) -> Iterator[SSHSession]:
    yield pool.shared_session(target)
    pool.close_all()


def _spares_open(session: SSHSession) -> int:
    """1 once the session's spare channel is open (waited for), else 0."""
    spare = session._spare
    return 0 if spare is None or not spare.opened(5) else 1


def test_one_session_per_target(target: SSHTarget, shared: SSHSession) -> None:
    assert pool.shared_session(target) is shared
    assert pool.shared_session(dataclasses.replace(target)) is shared  # equal, not identical
    other = pool.shared_session(dataclasses.replace(target, connect_timeout=5))
    assert other is not shared


def test_many_threads_one_connection_within_max_sessions(shared: SSHSession,
                                                         lab_host: Any) -> None:
    before = lab_host.ssh_connections_accepted()
    n = 3 * SESSION_SLOTS
    script = 'sleep 0.3; echo "$1"'
    with ThreadPoolExecutor(n) as workers:
        answers = list(workers.map(
            lambda i: shared.run(["sh", "-c", script, "sh", str(i)]).text.strip(), range(n)))
    assert answers == [str(i) for i in range(n)]
    assert lab_host.ssh_connections_accepted() - before == 1


def test_sftp_from_many_threads(shared: SSHSession, scratch: str) -> None:
    def write_and_read(i: int) -> bytes:
        path = f"{scratch}/f{i}"
        shared.put_bytes(path, b"x" * i * 1000, mode=0o600)
        return shared.read_bytes(path)

    with ThreadPoolExecutor(12) as workers:
        contents = list(workers.map(write_and_read, range(12)))
    assert contents == [b"x" * i * 1000 for i in range(12)]


def test_reconnects_after_the_host_drops_it(shared: SSHSession, lab_host: Any) -> None:
    assert shared.run(["true"]).exit_status == 0
    shared._transport.close()  # as if the host had dropped the connection
    before = lab_host.ssh_connections_accepted()
    assert shared.run(["echo", "again"]).text == "again\n"
    assert lab_host.ssh_connections_accepted() - before == 1


def test_threads_sharing_a_connection_take_the_host_lock_in_turn(shared: SSHSession) -> None:
    inside = 0
    most = 0
    guard = threading.Lock()

    def locked(i: int) -> None:
        nonlocal inside, most
        with host_lock(shared, holder=f"test {i}", timeout_s=30):
            with guard:
                inside += 1
                most = max(most, inside)
            time.sleep(0.1)
            shared.run(["true"])  # commands still run while the lock is held
            with guard:
                inside -= 1

    channels_before = shared.channels_opened
    with ThreadPoolExecutor(6) as workers:
        list(workers.map(locked, range(6)))
    assert most == 1
    # One lock channel and one command channel per holder: no thread parked a
    # channel on the remote flock while another held it (and the spare session
    # the shared connection opens for its next command, once it is open).
    spares = _spares_open(shared)  # first: it waits for the spare's open, which counts it
    assert shared.channels_opened - channels_before - spares == 12


def test_waiting_for_this_deployments_own_lock_times_out_with_a_message(
        shared: SSHSession) -> None:
    held = threading.Event()
    release = threading.Event()

    def holder() -> None:
        with host_lock(shared, holder="UnitRoute first", timeout_s=30):
            held.set()
            release.wait(10)

    thread = threading.Thread(target=holder)
    thread.start()
    try:
        assert held.wait(10)
        with (pytest.raises(LockTimeout, match="another resource of this deployment") as caught,
              host_lock(shared, holder="UnitRoute second", timeout_s=1)):
            pass
        assert "UnitRoute second gave up waiting" in str(caught.value)
        assert "DAFLASK_LOCK_TIMEOUT" in str(caught.value)
    finally:
        release.set()
        thread.join()


def test_sessions_beyond_the_servers_max_sessions_wait_for_one_to_end(target: SSHTarget) -> None:
    # Counting more slots than the lab sshd's MaxSessions (10): sshd refuses
    # the extra opens ("Connect failed"), and they wait and ask again.
    n = SESSION_SLOTS + 6
    script = 'sleep 0.5; echo "$1"'
    with SSHSession(target, session_slots=n) as s, ThreadPoolExecutor(n) as workers:
        answers = list(workers.map(
            lambda i: s.run(["sh", "-c", script, "sh", str(i)]).text.strip(), range(n)))
    assert answers == [str(i) for i in range(n)]


def test_a_refusal_that_lasts_names_max_sessions(target: SSHTarget) -> None:
    quick = dataclasses.replace(target, connect_timeout=1)
    with SSHSession(quick, session_slots=SESSION_SLOTS + 1) as s, ThreadPoolExecutor(SESSION_SLOTS) as workers:
        busy = [workers.submit(s.run, ["sleep", "6"]) for _ in range(SESSION_SLOTS)]
        while s.channels_opened < SESSION_SLOTS:
            time.sleep(0.05)
        with pytest.raises(ChannelRefused, match="MaxSessions") as caught:
            s.run(["true"])
        assert "sshd refused new session channels for " in str(caught.value)
        assert [f.result().exit_status for f in busy] == [0] * SESSION_SLOTS


def test_the_next_command_runs_on_a_channel_opened_in_advance(shared: SSHSession, lab_host: Any) -> None:
    before = lab_host.ssh_connections_accepted()
    assert shared.run(["echo", "1"]).text == "1\n"
    assert _spares_open(shared) + 1 == shared.channels_opened == 2  # its own, and the next one's
    for i in range(2, 6):
        assert shared.run(["echo", str(i)]).text == f"{i}\n"
    # Each command took the spare and started the next: one channel each, one spare.
    assert _spares_open(shared) + 5 == shared.channels_opened == 6
    shared._transport.close()  # as if the host dropped the connection: the spare is dead
    assert shared.run(["echo", "again"]).text == "again\n"
    assert lab_host.ssh_connections_accepted() - before == 2
    shared.close()
    time.sleep(0.5)  # a spare being opened now must not reconnect
    assert lab_host.ssh_connections_accepted() - before == 2
