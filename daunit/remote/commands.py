"""Commands on the host: argv in, exit status and output back, one session channel each.

Rules kept here so callers cannot get them wrong: commands are argv, joined
with ``shlex.join``; the exit status is always read; secrets travel on stdin,
never in argv (see MIN_GUARDED_SECRET), and are masked as ``***`` in errors
and logs.
"""
from __future__ import annotations

import logging
import os
import select
import shlex
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import BinaryIO

from daunit.errors import ChannelError, CommandError, mask_secrets
from daunit.hostops import CONSTANT_SCRIPTS
from daunit.remote.connection import SESSION, Channel, Connection

__all__ = ["MIN_GUARDED_SECRET", "CommandResult", "Feed", "execute", "interactive", "run"]

log = logging.getLogger(__name__)

_READ_SIZE = 65536
# Above this, stdin is written from a helper thread so a command that answers
# while still reading cannot deadlock against us (both sides' windows full).
_INLINE_STDIN = 256 * 1024

# Writes a command's stdin (EOF is sent after it returns).
Feed = Callable[[Channel], None]


@dataclass(frozen=True)
class CommandResult:
    argv: tuple[str, ...]
    exit_status: int
    stdout: bytes
    stderr: bytes = field(repr=False)

    @property
    def text(self) -> str:
        """stdout decoded as UTF-8 (undecodable bytes replaced)."""
        return self.stdout.decode("utf-8", "replace")


def run(connection: Connection, argv: Sequence[str], *, stdin: bytes | None = None, check: bool = True,
        timeout: float | None = None, secrets: Sequence[str] | Mapping[str, str] = ()) -> CommandResult:
    """Run ``argv`` on the host (one exec channel), return its exit status and output.

    The command line is ``shlex.join(argv)``, run by the user's shell with
    ``-c`` (no login profile). A pipeline is ``["sh", "-c", script, "sh",
    arg1, ...]`` with its data as positional parameters. ``stdin`` is sent
    then closed (EOF is always sent, so nothing waits for input). Secrets
    belong on stdin: a value of ``secrets`` (a list, or a mapping of name to
    value so errors can name it) found in a data argument is refused (see
    MIN_GUARDED_SECRET), and every one is masked as ``***`` in errors and
    logs. ``check`` raises CommandError on a non-zero status; ``timeout``
    bounds the whole command (the channel is then closed and CommandError
    raised).
    """
    data = bytes(stdin) if stdin else b""
    feed: Feed | None = (lambda chan: chan.send_all(data)) if data else None
    return execute(connection, argv, feed, large=len(data) > _INLINE_STDIN,
                   check=check, timeout=timeout, secrets=secrets)


def execute(connection: Connection, argv: Sequence[str], feed: Feed | None, *, large: bool, check: bool,
            timeout: float | None, secrets: Sequence[str] | Mapping[str, str]) -> CommandResult:
    """``run`` with stdin written by ``feed`` (from a helper thread when ``large``)."""
    args = _checked_argv(argv, secrets)
    masked = list(secrets.values()) if isinstance(secrets, Mapping) else list(secrets)
    command = shlex.join(args)
    host = connection.target.host
    started = time.monotonic()
    with connection.open_channel(SESSION) as chan:
        chan.exec(command)
        writer = _Writer(chan, feed) if feed is not None and large else None
        if writer is None:
            if feed is not None:
                _feed_quietly(chan, feed)
            chan.shutdown_write()
        try:
            stdout, stderr, status = _collect(chan, None if timeout is None else started + timeout)
        finally:
            chan.close()
            if writer is not None:
                writer.join()
    if status == -1 and not connection.alive():
        raise connection.lost(EOFError("the connection closed while the command ran"))
    if status is not None and chan.refused():
        raise chan.refusal(mask_secrets(command, masked))
    log.debug("%s: %s -> %s in %.3f s", host, mask_secrets(command, masked), status,
              time.monotonic() - started)
    if status is None:
        raise CommandError(args, None, stderr, secrets=masked, timeout=timeout, host=host)
    if check and status != 0:
        raise CommandError(args, status, stderr, secrets=masked, host=host)
    return CommandResult(tuple(args), status, stdout, stderr)


def interactive(connection: Connection, argv: Sequence[str], *, terminal: tuple[str, int, int] | None,
                stdin_fd: int, stdout: BinaryIO, stderr: BinaryIO) -> int:
    """Run ``argv`` with its output copied as it comes and ``stdin_fd`` forwarded; its exit status.

    ``terminal`` (TERM, columns, lines) gives the command a pty of that size.
    A command that ends without a status (a signal) gives 255, as ssh does.
    """
    args = _checked_argv(argv, ())
    with connection.open_channel(SESSION) as chan:
        if terminal is not None:
            chan.pty(*terminal)
        chan.exec(shlex.join(args))
        threading.Thread(target=_forward, args=(stdin_fd, chan), daemon=True).start()
        raw = chan.raw
        while not (raw.exit_status_ready() and not raw.recv_ready() and not raw.recv_stderr_ready()):
            if raw.recv_ready():
                stdout.write(raw.recv(_READ_SIZE))
                stdout.flush()
            elif raw.recv_stderr_ready():
                stderr.write(raw.recv_stderr(_READ_SIZE))
                stderr.flush()
            else:
                raw.status_event.wait(0.05)
        status = raw.exit_status
    if status < 0 and not connection.alive():
        raise connection.lost(EOFError("the connection closed while the command ran"))
    if chan.refused():
        raise chan.refusal(shlex.join(args))
    return 255 if status < 0 else status


def _forward(stdin_fd: int, chan: Channel) -> None:
    try:
        while data := os.read(stdin_fd, _READ_SIZE):
            chan.send_all(data)
    except (OSError, ValueError, ChannelError):
        pass  # stdin closed or not readable, or the command is gone: it sees EOF
    chan.shutdown_write()


def _feed_quietly(chan: Channel, feed: Feed) -> None:
    try:
        feed(chan)
    except ChannelError:
        # The command exited (or closed stdin) before reading everything; its
        # exit status and stderr say why, which is what we report.
        pass


class _Writer(threading.Thread):
    """Feeds stdin while the caller's thread reads stdout/stderr (no window deadlock)."""

    def __init__(self, chan: Channel, feed: Feed) -> None:
        super().__init__(name="ssh-stdin", daemon=True)
        self.chan = chan
        self.feed = feed
        self.start()

    def run(self) -> None:
        _feed_quietly(self.chan, self.feed)
        self.chan.shutdown_write()


def _collect(chan: Channel, deadline: float | None) -> tuple[bytes, bytes, int | None]:
    """Read stdout and stderr until EOF, then the exit status; None on timeout.

    Reads the paramiko channel itself: these calls only take what is already
    buffered, so they raise nothing.
    """
    raw = chan.raw
    out: list[bytes] = []
    err: list[bytes] = []
    fd = raw.fileno()  # a pipe paramiko sets on data on either stream and on EOF
    while True:
        while raw.recv_ready():
            out.append(raw.recv(_READ_SIZE))
        while raw.recv_stderr_ready():
            err.append(raw.recv_stderr(_READ_SIZE))
        if raw.eof_received or raw.closed:
            break
        remaining = None if deadline is None else deadline - time.monotonic()
        if remaining is not None and remaining <= 0:
            return b"".join(out), b"".join(err), None
        select.select([fd], [], [], remaining)
    # exit-status comes after EOF; close (which also sets the event) after it.
    remaining = None if deadline is None else max(0.0, deadline - time.monotonic())
    if not raw.status_event.wait(remaining):
        return b"".join(out), b"".join(err), None
    # Data can trail EOF only in theory; drain what is buffered.
    while raw.recv_ready():
        out.append(raw.recv(_READ_SIZE))
    while raw.recv_stderr_ready():
        err.append(raw.recv_stderr(_READ_SIZE))
    return b"".join(out), b"".join(err), raw.exit_status


# Why secrets cannot reach argv, and what the guard below checks.
#
# By construction: every argv is built by daunit.hostops (or a provider) from a
# constant script and validated config fields (paths, user names, release ids),
# and a secret value exists only in InstanceConfig's `environment` input, which
# is rendered to .env bytes and sent on stdin. No argv builder is given a secret.
#
# The runtime guard catches a future mistake in that chain. It looks only at the
# data arguments: the script of `sh -c SCRIPT` is a constant of the code, and a
# secret that happens to be a word of it ("1", "set", "user") is no leak. It looks
# only for secrets of at least MIN_GUARDED_SECRET characters: a shorter value is
# found by chance in ordinary paths and names ("1" in "shop1.example.org"), so
# checking it would refuse correct deploys while telling nothing; such values
# are kept out of argv by the construction above alone. Masking in errors and
# logs (errors.mask_secrets) still covers every secret, whatever its length.
MIN_GUARDED_SECRET = 8


def _data_arguments(args: Sequence[str]) -> list[tuple[int, str]]:
    """(index, arg) for the arguments that carry data: all but the script of
    `sh -c SCRIPT` and the scripts of daunit.hostops passed along as arguments."""
    constant_script = len(args) > 2 and args[0] in ("sh", "/bin/sh") and args[1] == "-c"
    return [(i, arg) for i, arg in enumerate(args)
            if not (constant_script and i == 2) and arg not in CONSTANT_SCRIPTS]


def _secret_items(secrets: Sequence[str] | Mapping[str, str]) -> list[tuple[str, str]]:
    """(name for messages, value) of each secret long enough to be looked for."""
    items = (list(secrets.items()) if isinstance(secrets, Mapping)
             else [(f"#{i}", value) for i, value in enumerate(secrets)])
    return [(name, value) for name, value in items if len(value) >= MIN_GUARDED_SECRET]


def _checked_argv(argv: Sequence[str], secrets: Sequence[str] | Mapping[str, str]) -> list[str]:
    if isinstance(argv, (str, bytes)):
        raise TypeError("argv must be a sequence of arguments, not a string: no shell strings")
    args = list(argv)
    if not args:
        raise ValueError("argv is empty")
    for i, arg in enumerate(args):
        if not isinstance(arg, str):
            raise TypeError(f"argv[{i}] is {type(arg).__name__}, not str")
        if "\0" in arg:
            raise ValueError(f"argv[{i}] contains a NUL byte")
    guarded = _secret_items(secrets)
    for i, arg in _data_arguments(args):
        for name, value in guarded:
            if value in arg:
                # Process arguments are world-readable on the host (ps, /proc).
                raise ValueError(f"argv[{i}] contains the value of secret {name}: send secrets on stdin; "
                                 "if that value is also a path or name in the stack config, it is not "
                                 "secret there: make it a plain environment value")
    return args
