"""Where the time goes at the I/O boundary, measured on the lab host.

Prints a small table (shown even without -s) and asserts only what does not
depend on the machine's speed. Figures are per operation, median of N.
"""
from __future__ import annotations

import os
import posixpath
import statistics
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest

import daunit.remote.handshake as handshake_module
from daunit.remote.ssh import SSHSession, SSHTarget
from daunit.remote.unit import UnitClient
from tests.remote.conftest import lab_socket

pytestmark = pytest.mark.root

N = 30


def _median_ms(fn: Callable[[], Any], n: int = N) -> float:
    fn()  # warm-up: first channel, sftp subsystem, imports
    times = []
    for _ in range(n):
        started = time.perf_counter()
        fn()
        times.append(time.perf_counter() - started)
    return statistics.median(times) * 1000


@pytest.fixture
def report(capsys: pytest.CaptureFixture[str]) -> Iterator[Callable[[str, float, str], None]]:
    rows: list[str] = []
    yield lambda what, ms, note="": rows.append(f"  {what:<58} {ms:8.2f} ms  {note}")
    with capsys.disabled():
        print("\n" + "\n".join(rows))


def test_latency(target: SSHTarget, lab_host: Any, keepalive_socket: str,
                 report: Callable[[str, float, str], None], monkeypatch: pytest.MonkeyPatch) -> None:
    def connect() -> None:
        with SSHSession(target) as s:
            s.connect()

    def connect_and_run() -> None:
        with SSHSession(target) as s:
            s.run(["true"])

    report("connect (TCP + kex + host key check + auth)", _median_ms(connect, 5), "")
    report("connect + first command", _median_ms(connect_and_run, 5), "")
    with monkeypatch.context() as m:
        m.setattr(handshake_module, "_TCP_QUICKACK", None)
        report("connect + first command, TCP_QUICKACK off", _median_ms(connect_and_run, 5),
               "sshd's Nagle vs our delayed ACK")

    with SSHSession(target) as s, UnitClient(s, lab_socket(lab_host)) as unit:
        report("run(['true']): one exec channel on a kept connection", _median_ms(lambda: s.run(["true"])), "")
        before = unit.channels_opened
        report("Unit GET /config (Unit closes: new channel each)",
               _median_ms(lambda: unit.get("/config")), f"channels={unit.channels_opened - before}")
        with UnitClient(s, keepalive_socket) as kept:
            report("keep-alive server GET, ONE kept channel",
                   _median_ms(lambda: kept.get("/x")), f"channels={kept.channels_opened}")
            assert kept.channels_opened == 1

        def fresh() -> None:
            with UnitClient(s, keepalive_socket) as once:
                once.get("/x")

        report("keep-alive server GET, new channel per request", _median_ms(fresh), "")


def _upload_sftp(session: SSHSession, dest: str, files: dict[str, bytes], mode: int = 0o644) -> None:
    """The alternative to the tar stream: SFTP, one file at a time (pipelined writes)."""
    sftp = session.files.sftp()
    made: set[str] = set()
    for rel in sorted(files):
        parts = rel.split("/")[:-1]
        for i in range(len(parts)):
            d = posixpath.join(dest, *parts[: i + 1])
            if d not in made:
                try:
                    sftp.mkdir(d, 0o755)
                except OSError:
                    pass
                made.add(d)
        with sftp.open(posixpath.join(dest, rel), "wb") as f:
            f.set_pipelined(True)
            f.chmod(mode)
            f.write(files[rel])


@pytest.fixture
def fast_scratch(session: SSHSession) -> Iterator[str]:
    """A directory on tmpfs when the host has one: file creation on the VM's
    ext4 (about 1 ms a file here) would otherwise drown the protocol costs."""
    script = 'mktemp -d "$(test -d /dev/shm && echo /dev/shm || echo /tmp)/daunit-bench.XXXXXX"'
    path = session.run(["sh", "-c", script]).text.strip()
    yield path
    session.run(["rm", "-rf", "--", path], check=False)


@pytest.mark.parametrize("count,size", [(1, 2000), (20, 2000), (200, 2000), (5, 2_000_000)])
def test_upload_tar_vs_sftp(session: SSHSession, fast_scratch: str, count: int, size: int,
                            report: Callable[[str, float, str], None]) -> None:
    scratch = fast_scratch
    files = {f"pkg{i % 7}/mod{i}.py": os.urandom(size) for i in range(count)}
    round_ = iter(range(1000))

    def tar() -> None:
        session.upload_files(f"{scratch}/tar{next(round_)}", files)

    def sftp() -> None:
        dest = f"{scratch}/sftp{next(round_)}"
        session.files.sftp().mkdir(dest, 0o755)
        _upload_sftp(session, dest, files)

    n = 5 if count * size > 10_000_000 or count >= 200 else 10
    tar_ms = _median_ms(tar, n)
    sftp_ms = _median_ms(sftp, n)
    what = f"upload {count} x {size} B"
    report(f"{what}: tar stream, one exec", tar_ms, "")
    report(f"{what}: SFTP file by file", sftp_ms, f"sftp/tar = {sftp_ms / tar_ms:.1f}")
    session.upload_files(f"{scratch}/verify", files)
    rel = next(iter(files))
    assert session.read_bytes(f"{scratch}/verify/{rel}") == files[rel]
    # The times are printed, not asserted: a busy machine must not fail a test.
