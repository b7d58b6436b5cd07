"""SSH to a host: pinned host keys, argv commands, uploads, a Unix-socket channel.

One ``SSHSession`` is one TCP connection and one paramiko ``Transport``, opened
lazily and reused for every command, upload and socket channel of a batch
(DESIGN.md, "Reaching the host"). ``SSHTarget`` is the plain, picklable
description of where to connect; a session is live state and must never be
stored on an object Pulumi pickles.

Rules kept here so callers cannot get them wrong:
- the host key is checked against the pinned key(s) before we authenticate or
  send anything; unknown and mismatched keys are refused (no trust on first use);
- commands are argv, joined with ``shlex.join``; exit status is always read;
- secrets travel on stdin, never in argv, and are masked as ``***`` in errors
  and logs.
"""
from __future__ import annotations

import base64
import functools
import io
import logging
import os
import posixpath
import select
import shlex
import socket
import tarfile
import threading
import time
import zlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any, Protocol, Self

import paramiko
from paramiko.common import OPEN_FAILED_ADMINISTRATIVELY_PROHIBITED, cMSG_CHANNEL_OPEN
from paramiko.pkey import UnknownKeyType

from daunit import known_hosts
from daunit.errors import (
    CommandError,
    ConfigError,
    ConnectError,
    HostKeyError,
    RemoteError,
    UnitUnavailableError,
    mask_secrets,
)
from daunit.hostops import CONSTANT_SCRIPTS
from daunit.known_hosts import KnownHostKey, known_hosts_name

__all__ = ["CommandResult", "PinnedKey", "SSHSession", "SSHTarget", "parse_known_hosts"]

log = logging.getLogger(__name__)

# paramiko logs at ERROR what it also raises to us: a refused channel open
# ("Secsh channel 3 open FAILED: Connection refused: Connect failed"), and the
# traceback of its transport thread when a connection drops. The Pulumi
# provider process sets up no logging, so Python's last-resort handler writes
# those lines to stderr, and the engine shows the provider's stderr to the
# user: a health check retrying against a closed port printed about 60 of
# them. Our errors (daunit.errors) already say what happened, once; paramiko's
# own log stays out of the user's terminal. To see it while debugging, give the
# "paramiko" logger a handler and set its `propagate` back to True.
_paramiko_log = logging.getLogger("paramiko")
_paramiko_log.addHandler(logging.NullHandler())
_paramiko_log.propagate = False

_READ_SIZE = 65536
# Above this, stdin is written from a helper thread so a command that answers
# while still reading cannot deadlock against us (both sides' windows full).
_INLINE_STDIN = 256 * 1024
# sshd allows MaxSessions (default 10) session channels per connection; exec
# channels take at most this many, leaving room for the SFTP subsystem and the
# host-lock channel (daunit.remote.hostlock), so a shared connection never
# sees "open failed" however many resources use it at once.
MAX_EXEC_CHANNELS = 8


# --------------------------------------------------------------------------- target


@dataclass(frozen=True)
class PinnedKey:
    """One known_hosts entry (daunit.known_hosts) and its key, ready to compare."""

    entry: KnownHostKey
    key: paramiko.PKey

    def matches(self, host: str, port: int) -> bool:
        return self.entry.applies_to(known_hosts_name(host, port))


def parse_known_hosts(text: str) -> list[PinnedKey]:
    """Parse known_hosts lines into keys paramiko can compare with the one a host offers.

    A bare ``TYPE BASE64`` line pins the key for the host it is given for.
    Raises ConfigError naming the line for anything we cannot use (markers
    such as ``@revoked`` included: refusing is safer than half-supporting them).
    """
    try:
        entries = known_hosts.parse_known_hosts(text)
    except ValueError as exc:
        raise ConfigError(f"known_hosts {exc}") from None
    pinned: list[PinnedKey] = []
    for entry in entries:
        try:
            blob = base64.b64decode(entry.key_base64)
            key = paramiko.PKey.from_type_string(entry.key_type, blob)
        except (ValueError, paramiko.SSHException, UnknownKeyType) as exc:
            raise ConfigError(
                f"known_hosts line {entry.line}: cannot read the {entry.key_type} key: {exc}") from exc
        pinned.append(PinnedKey(entry, key))
    return pinned


def _key_family(name: str) -> str:
    # Host key *algorithms* (rsa-sha2-512) vs key *types* (ssh-rsa).
    if name in ("ssh-rsa", "rsa-sha2-256", "rsa-sha2-512") or name.startswith("ssh-rsa-cert"):
        return "rsa"
    return name


def key_line(host: str, port: int, key: paramiko.PKey) -> str:
    """A known_hosts line for ``key``, as ssh-keyscan would print it."""
    return f"{known_hosts_name(host, port)} {key.get_name()} {key.get_base64()}"


@dataclass(frozen=True)
class SSHTarget:
    """Where and how to connect. Plain data: safe to pickle into Pulumi state.

    ``known_hosts`` holds one or more known_hosts lines pinning the host key
    (``"10.77.1.2 ssh-ed25519 AAAA..."``, or a bare ``"ssh-ed25519 AAAA..."``
    meaning "this key for this host"). ``key_file`` is a private key on the
    deploying machine; without it the ssh-agent is used. No secret lives here.
    """

    host: str
    port: int = 22
    user: str = "root"
    known_hosts: str = ""
    key_file: str | None = None
    use_agent: bool | None = None  # None: the agent only when there is no key_file
    connect_timeout: float = 10.0

    def __post_init__(self) -> None:
        if not self.host:
            raise ConfigError("SSH host is empty")
        if not 0 < self.port < 65536:
            raise ConfigError(f"SSH port {self.port} is out of range", host=self.host)
        if not self.user:
            raise ConfigError("SSH user is empty", host=self.host)
        parse_known_hosts(self.known_hosts)  # fail early on a malformed pin

    @property
    def agent_enabled(self) -> bool:
        return self.key_file is None if self.use_agent is None else self.use_agent

    def pinned_keys(self) -> list[paramiko.PKey]:
        return [p.key for p in parse_known_hosts(self.known_hosts) if p.matches(self.host, self.port)]


# --------------------------------------------------------------------------- results


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


# --------------------------------------------------------------------------- session


class SSHSession:
    """A lazily opened SSH connection, reused for everything in a batch.

        with SSHSession(target) as ssh:
            ssh.run(["mkdir", "-p", path])
            ssh.upload_files(path, {"app.py": b"..."})
    """

    def __init__(self, target: SSHTarget) -> None:
        self.target = target
        self._lock = threading.Lock()
        self._transport: paramiko.Transport | None = None
        self._sftp: paramiko.SFTPClient | None = None
        # paramiko's SFTP client is not made for concurrent requests from threads.
        self._sftp_lock = threading.Lock()
        self._exec_slots = threading.BoundedSemaphore(MAX_EXEC_CHANNELS)
        # Held while this connection holds the host-wide lock, so that threads
        # sharing it queue here rather than each parking a channel on flock.
        self.host_lock_guard = threading.Lock()
        self.channels_opened = 0  # every channel of any kind: for tests and benchmarks

    # -- lifecycle -------------------------------------------------------------

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def __getstate__(self) -> Any:
        raise TypeError(
            "SSHSession holds a live connection and cannot be pickled; "
            "keep the SSHTarget and open a session inside the provider method"
        )

    def __repr__(self) -> str:
        state = "open" if self._transport is not None else "not connected"
        t = self.target
        return f"<SSHSession {t.user}@{t.host}:{t.port} {state}>"

    def close(self) -> None:
        with self._lock:
            sftp, transport = self._sftp, self._transport
            self._sftp = self._transport = None
        if sftp is not None:
            sftp.close()
        if transport is not None:
            transport.close()

    @property
    def transport(self) -> paramiko.Transport:
        """The authenticated transport, connecting on first use."""
        with self._lock:
            if self._transport is None or not self._transport.is_active():
                # (Re)connect; an SFTP client of a dropped connection is dead too.
                self._sftp = None
                self._transport = self._connect()
            return self._transport

    def transport_alive(self) -> bool:
        """True while the connection is up (without connecting)."""
        transport = self._transport
        return transport is not None and transport.is_active()

    def connect(self) -> None:
        """Connect now rather than on first use (to fail early)."""
        self.transport  # noqa: B018

    def _connect(self) -> paramiko.Transport:
        t = self.target
        pinned = t.pinned_keys()  # parse before any traffic: a bad pin is a ConfigError
        try:
            sock = socket.create_connection((t.host, t.port), timeout=t.connect_timeout)
        except OSError as exc:
            raise ConnectError(
                t.host, t.port, _os_reason(exc),
                "Check the address and port, that sshd runs there and that no firewall drops it.",
            ) from exc
        transport = paramiko.Transport(_tuned(sock))
        try:
            self._handshake(transport, pinned)
            self._authenticate(transport)
        except BaseException:
            transport.close()
            raise
        # Keep NAT and sshd's ClientAlive happy through a long pip install.
        transport.set_keepalive(15)
        return transport

    def _handshake(self, transport: paramiko.Transport, pinned: list[paramiko.PKey]) -> None:
        t = self.target
        # Ask for the pinned key's type first, so a host that has several host
        # keys answers with the one we can check (as OpenSSH's known_hosts does).
        options = transport.get_security_options()
        wanted = {_key_family(k.get_name()) for k in pinned}
        options.key_types = sorted(options.key_types, key=lambda a: _key_family(a) not in wanted)
        try:
            transport.start_client(timeout=t.connect_timeout)
        except (paramiko.SSHException, OSError, EOFError) as exc:
            raise ConnectError(
                t.host, t.port, f"SSH handshake failed: {exc}",
                "Check that this is an SSH server and that it accepts modern algorithms.",
            ) from exc
        offered = transport.get_remote_server_key()
        if not any(offered == key for key in pinned):
            raise HostKeyError(
                t.host, t.port,
                offered.get_name(), offered.fingerprint, key_line(t.host, t.port, offered),
                [f"{k.get_name()} {k.fingerprint}" for k in pinned],
            )

    def _authenticate(self, transport: paramiko.Transport) -> None:
        t = self.target
        tried: list[str] = []
        if t.key_file is not None:
            key = _load_key(t.key_file, t.host)
            tried.append(f"key file {t.key_file} ({key.get_name()} {key.fingerprint})")
            if self._try_key(transport, key):
                return
        if t.agent_enabled:
            agent = paramiko.Agent()
            try:
                keys = agent.get_keys()
                if not keys:
                    tried.append("ssh-agent (no keys: is SSH_AUTH_SOCK set and the key added?)")
                for key in keys:
                    tried.append(f"agent key {key.get_name()} {key.fingerprint}")
                    if self._try_key(transport, key):
                        return
            finally:
                agent.close()
        raise ConnectError(
            t.host, t.port,
            f"public-key authentication as {t.user!r} failed (tried: {'; '.join(tried) or 'nothing'})",
            f"Check that the public key is in ~{t.user}/.ssh/authorized_keys on the host and that "
            "sshd permits this user (PermitRootLogin prohibit-password for root).",
        )

    def _try_key(self, transport: paramiko.Transport, key: paramiko.PKey) -> bool:
        try:
            transport.auth_publickey(self.target.user, key)
        except paramiko.AuthenticationException:
            return False
        except (paramiko.SSHException, OSError, EOFError) as exc:
            t = self.target
            raise ConnectError(t.host, t.port, f"connection lost while authenticating: {exc}", "") from exc
        return bool(transport.is_authenticated())

    # -- channels --------------------------------------------------------------

    def _lost(self, exc: BaseException) -> ConnectError:
        t = self.target
        return ConnectError(
            t.host, t.port, f"SSH connection failed: {exc}",
            "The host may have dropped the connection (sshd restarted, MaxSessions reached).",
        )

    def _open_session_channel(self, timeout: float | None) -> paramiko.Channel:
        transport = self.transport
        try:
            chan = transport.open_session(timeout=timeout or self.target.connect_timeout)
        except (paramiko.SSHException, OSError, EOFError) as exc:
            raise self._lost(exc) from exc
        self.channels_opened += 1
        return chan

    def open_unix_socket(self, path: str, *, timeout: float | None = None) -> paramiko.Channel:
        """A ``direct-streamlocal@openssh.com`` channel to the Unix socket ``path`` on the host.

        paramiko has no public call for this channel type, so this mirrors
        ``Transport.open_channel`` with the payload OpenSSH's PROTOCOL file
        gives (section 2.4): socket path, reserved string, reserved uint32.
        """
        # Any: the private members below are not in paramiko's type stubs.
        transport: Any = self.transport
        timeout = self.target.connect_timeout if timeout is None else timeout
        kind = "direct-streamlocal@openssh.com"
        # Private paramiko API (pinned paramiko==5.1.0): the same steps as
        # Transport.open_channel, which only knows the payloads of other kinds.
        with transport.lock:
            window_size = transport._sanitize_window_size(None)
            max_packet_size = transport._sanitize_packet_size(None)
            chanid = transport._next_channel()
            m = paramiko.Message()
            m.add_byte(cMSG_CHANNEL_OPEN)
            m.add_string(kind)
            m.add_int(chanid)
            m.add_int(window_size)
            m.add_int(max_packet_size)
            m.add_string(path)
            m.add_string("")  # reserved
            m.add_int(0)  # reserved
            chan: Any = paramiko.Channel(chanid)  # private members below, as transport
            transport._channels.put(chanid, chan)
            transport.channel_events[chanid] = event = threading.Event()
            transport.channels_seen[chanid] = True
            chan._set_transport(transport)
            chan._set_window(window_size, max_packet_size)
        transport._send_user_message(m)
        self.channels_opened += 1
        deadline = time.monotonic() + timeout
        while not event.wait(0.1):
            if not transport.is_active():
                raise self._lost(transport.get_exception() or EOFError("transport closed"))
            if time.monotonic() > deadline:
                transport._channels.delete(chanid)
                raise UnitUnavailableError(path, f"no answer to the channel open within {timeout:g} s",
                                           host=self.target.host)
        opened: paramiko.Channel | None = transport._channels.get(chanid)
        if opened is not None:
            return opened
        exc = transport.get_exception()
        raise UnitUnavailableError(path, _open_failure_reason(exc), host=self.target.host) from exc

    # -- commands --------------------------------------------------------------

    def run(
        self,
        argv: Sequence[str],
        *,
        stdin: bytes | None = None,
        check: bool = True,
        timeout: float | None = None,
        secrets: Sequence[str] | Mapping[str, str] = (),
    ) -> CommandResult:
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
        feed: Callable[[paramiko.Channel], None] | None = None
        data = bytes(stdin) if stdin else b""
        if data:
            feed = lambda chan: chan.sendall(data)  # noqa: E731
        return self._exec(argv, feed, large=len(data) > _INLINE_STDIN,
                          check=check, timeout=timeout, secrets=secrets)

    def _exec(
        self,
        argv: Sequence[str],
        feed: Callable[[paramiko.Channel], None] | None,
        *,
        large: bool,
        check: bool,
        timeout: float | None,
        secrets: Sequence[str] | Mapping[str, str],
    ) -> CommandResult:
        args = _checked_argv(argv, secrets)
        if isinstance(secrets, Mapping):
            secrets = list(secrets.values())
        command = shlex.join(args)
        host = self.target.host
        started = time.monotonic()
        self._exec_slots.acquire()
        try:
            chan = self._open_session_channel(timeout)
        except BaseException:
            self._exec_slots.release()
            raise
        writer: _Writer | None = None
        try:
            try:
                chan.exec_command(command)
            except (paramiko.SSHException, OSError, EOFError) as exc:
                raise self._lost(exc) from exc
            if feed is not None and large:
                writer = _Writer(chan, feed)
            else:
                if feed is not None:
                    _feed_quietly(chan, feed)
                chan.shutdown_write()
            stdout, stderr, status = _collect(chan, None if timeout is None else started + timeout)
        finally:
            chan.close()
            if writer is not None:
                writer.join()
            self._exec_slots.release()
        if status == -1 and not self.transport_alive():
            raise self._lost(EOFError("the connection closed while the command ran"))
        elapsed = time.monotonic() - started
        log.debug("%s: %s -> %s in %.3f s", host, mask_secrets(command, secrets), status, elapsed)
        if status is None:
            raise CommandError(args, None, stderr, secrets=secrets, timeout=timeout, host=host)
        if check and status != 0:
            raise CommandError(args, status, stderr, secrets=secrets, host=host)
        return CommandResult(tuple(args), status, stdout, stderr)

    # -- files -----------------------------------------------------------------

    def sftp(self) -> paramiko.SFTPClient:
        """The session's SFTP client, opened once on first use."""
        transport = self.transport
        with self._lock:
            if self._sftp is None:
                try:
                    self._sftp = paramiko.SFTPClient.from_transport(transport)
                except (paramiko.SSHException, OSError, EOFError) as exc:
                    raise self._lost(exc) from exc
                self.channels_opened += 1
            assert self._sftp is not None
            return self._sftp

    def put_bytes(self, path: str, data: bytes, mode: int = 0o644) -> None:
        """Write ``data`` to ``path`` atomically, with ``mode`` set before any byte lands.

        Written to a temporary name in the same directory, then renamed over
        ``path`` (posix-rename), so readers see the old file or the new one and
        a secret file is never readable by others, not even while written.
        """
        sftp = self.sftp()
        tmp = posixpath.join(posixpath.dirname(path), f".{posixpath.basename(path)}.{os.urandom(6).hex()}.tmp")
        try:
            with self._sftp_lock, sftp.open(tmp, "wb") as f:
                f.chmod(mode)
                f.set_pipelined(True)
                f.write(data)
            with self._sftp_lock:
                sftp.posix_rename(tmp, path)
        except OSError as exc:
            with self._sftp_lock:
                _remove_quietly(sftp, tmp)
            raise RemoteError(f"cannot write {path}: {_os_reason(exc)}", host=self.target.host) from exc
        except paramiko.SSHException as exc:
            raise self._lost(exc) from exc

    def read_bytes(self, path: str) -> bytes:
        """The content of ``path``. A missing file raises FileNotFoundError (callers test for it)."""
        sftp = self.sftp()
        try:
            with self._sftp_lock, sftp.open(path, "rb") as f:
                f.prefetch()
                return bytes(f.read())
        except FileNotFoundError:
            raise
        except OSError as exc:
            raise RemoteError(f"cannot read {path}: {_os_reason(exc)}", host=self.target.host) from exc
        except paramiko.SSHException as exc:
            raise self._lost(exc) from exc

    def upload_files(
        self,
        dest_dir: str,
        files: Mapping[str, bytes | Path | CheckedSource],
        modes: Mapping[str, int] | None = None,
        *,
        default_mode: int = 0o644,
        dir_mode: int = 0o755,
        owner: str | None = None,
        group: str | None = None,
        timeout: float | None = None,
        command: Callable[[str, Sequence[str]], list[str]] | None = None,
    ) -> int:
        """Write ``files`` (relative path -> bytes, local Path or CheckedSource)
        under ``dest_dir`` in one go; returns the number of content bytes sent.

        One exec channel, one round trip for N files: a gzipped tar stream
        written to ``tar -x -z`` on the host's stdin (measured against SFTP in
        tests/remote/test_bench.py). ``dest_dir`` and any missing parent
        directories of the files are created (``dir_mode`` for the ones in the
        archive). Files get ``modes[relpath]`` or ``default_mode``, exactly
        (tar -p, no umask). They are owned by ``owner``/``group`` when given
        (which must exist on the host), else by the user tar runs as. Existing
        files are replaced; others in ``dest_dir`` are left alone.

        ``command(script, args)`` builds the argv that runs the extracting
        script (default: ``sh -c script sh args...`` as the SSH user); the
        deploy passes one that runs it as the site user (hostops.as_site_user).
        A CheckedSource is opened without following links and verified against
        its manifest hash as it is sent: if it changed, the stream is cut (the
        host's tar fails, nothing lands complete) and ConfigError says which file.
        """
        modes = modes or {}
        unknown = set(modes) - set(files)
        if unknown:
            raise ValueError(f"modes given for files not uploaded: {sorted(unknown)}")
        script, args = _extract_script(dest_dir, owner, group)
        argv = command(script, args) if command else ["sh", "-c", script, "sh", *args]
        # Files get "now" as mtime: a fixed stamp would let Python reuse a stale
        # .pyc for a changed source of the same size.
        stream = _TarStream(files, modes, default_mode, dir_mode, int(time.time()), owner, group)
        try:
            self._exec(argv, stream.feed, large=True, check=True, timeout=timeout, secrets=())
        except CommandError:
            if stream.problems:
                raise ConfigError(str(stream.problems[0]), host=self.target.host) from None
            raise
        if stream.problems:
            raise ConfigError(str(stream.problems[0]), host=self.target.host) from None
        return stream.sent


# --------------------------------------------------------------------------- helpers


def _extract_script(dest_dir: str, owner: str | None, group: str | None) -> tuple[str, list[str]]:
    """The host's side of upload_files: (script, args) that unpack stdin into dest_dir."""
    tar_opts = ["--same-owner"] if owner or group else ["--no-same-owner"]
    if not (owner or group):
        return 'd=$1; shift; mkdir -p -- "$d" && exec tar -x -z -p -f - -C "$d" "$@"', [dest_dir, *tar_opts]
    # GNU tar falls back to the numeric id (ours: 0) for unknown names:
    # check first, so a typo never leaves root-owned files behind.
    script = (
        'd=$1; o=$2; g=$3; shift 3; '
        '{ [ -z "$o" ] || id -u -- "$o" >/dev/null; } && '
        '{ [ -z "$g" ] || getent group -- "$g" >/dev/null || { echo "no such group: $g" >&2; false; }; } && '
        'mkdir -p -- "$d" && exec tar -x -z -p -f - -C "$d" "$@"'
    )
    return script, [dest_dir, owner or "", group or "", *tar_opts]


class _TarStream:
    """The deploying machine's side of upload_files: a gzipped tar of `files`
    written to the channel; a source that changed cuts it short (`problems`)."""

    def __init__(self, files: Mapping[str, bytes | Path | CheckedSource], modes: Mapping[str, int],
                 default_mode: int, dir_mode: int, mtime: int, owner: str | None, group: str | None) -> None:
        self.files, self.modes, self.default_mode, self.dir_mode = files, modes, default_mode, dir_mode
        self.mtime, self.owner, self.group = mtime, owner, group
        self.names = {rel: _checked_relpath(rel) for rel in files}
        self.problems: list[Exception] = []
        self.sent = 0

    def _add(self, tar: tarfile.TarFile, rel: str, content: bytes | Path | CheckedSource) -> None:
        info = functools.partial(_tarinfo, self.names[rel], tarfile.REGTYPE,
                                 mode=self.modes.get(rel, self.default_mode),
                                 mtime=self.mtime, owner=self.owner, group=self.group)
        if isinstance(content, (bytes, bytearray, memoryview)):
            data = bytes(content)
            tar.addfile(info(size=len(data)), io.BytesIO(data))
            self.sent += len(data)
        elif isinstance(content, Path):
            size = content.stat().st_size
            with content.open("rb") as f:
                tar.addfile(info(size=size), f)
            self.sent += size
        else:
            reader, size = content.open_checked()
            with reader:
                tar.addfile(info(size=size), reader)
                reader.verify_complete()
            self.sent += size

    def feed(self, chan: paramiko.Channel) -> None:
        # Buffered: tarfile writes each header and block separately, and
        # every sendall is an SSH packet of its own.
        raw = _GzipChannelSink(chan)
        sink = io.BufferedWriter(raw, buffer_size=256 * 1024)
        try:
            with sink, tarfile.open(fileobj=sink, mode="w|", format=tarfile.PAX_FORMAT) as tar:
                for d in _parent_dirs(self.names.values()):
                    tar.addfile(_tarinfo(d, tarfile.DIRTYPE, 0, self.dir_mode, self.mtime, self.owner, self.group))
                for rel, content in self.files.items():
                    try:
                        self._add(tar, rel, content)
                    except (OSError, EOFError, paramiko.SSHException):
                        raise
                    except Exception as exc:  # the source changed: cut the stream short
                        self.problems.append(exc)
                        raw.abort()
                        return
        except (OSError, EOFError, paramiko.SSHException):
            if not self.problems:  # else: the abort itself, on closing
                raise


class CheckedReader(Protocol):
    def read(self, n: int = -1) -> bytes: ...
    def verify_complete(self) -> None: ...
    def __enter__(self) -> Any: ...
    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> Any: ...


class CheckedSource(Protocol):
    """A local file sent only as it was hashed (daunit.manifest.SourceFile)."""

    def open_checked(self) -> tuple[CheckedReader, int]: ...


_TCP_QUICKACK: int | None = getattr(socket, "TCP_QUICKACK", None)  # Linux only


class _QuickAckSocket(socket.socket):
    """A socket that re-arms TCP_QUICKACK after every read.

    sshd leaves Nagle on for sessions without a pty, so when it sends two
    small messages in a row the second waits for our ACK of the first, which
    Linux may delay by 40 ms. Measured on loopback: the first command after
    authenticating took 48-50 ms, 5 ms with this; a loop of raw socket-channel
    requests read to EOF took 43 ms each, under 1 ms with this. Linux leaves
    quick-ack mode on its own, hence re-arming it on each read (one cheap
    setsockopt per read).
    """

    def recv(self, bufsize: int, flags: int = 0) -> bytes:
        data = super().recv(bufsize, flags)
        if _TCP_QUICKACK is not None:
            try:
                self.setsockopt(socket.IPPROTO_TCP, _TCP_QUICKACK, 1)
            except OSError:
                pass
        return data


def _tuned(sock: socket.socket) -> socket.socket:
    # paramiko leaves Nagle on; our side's small packets (channel requests,
    # window adjusts) then wait for ACKs: 108 ms vs 23 ms to connect.
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    if _TCP_QUICKACK is None:
        return sock
    timeout = sock.gettimeout()
    tuned = _QuickAckSocket(sock.family, sock.type, sock.proto, fileno=sock.detach())
    tuned.settimeout(timeout)
    tuned.setsockopt(socket.IPPROTO_TCP, _TCP_QUICKACK, 1)
    return tuned



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


def _feed_quietly(chan: paramiko.Channel, feed: Callable[[paramiko.Channel], None]) -> None:
    try:
        feed(chan)
    except (OSError, EOFError, paramiko.SSHException):
        # The command exited (or closed stdin) before reading everything; its
        # exit status and stderr say why, which is what we report.
        pass


class _Writer(threading.Thread):
    """Feeds stdin while the main thread reads stdout/stderr (no window deadlock)."""

    def __init__(self, chan: paramiko.Channel, feed: Callable[[paramiko.Channel], None]) -> None:
        super().__init__(name="ssh-stdin", daemon=True)
        self.chan = chan
        self.feed = feed
        self.start()

    def run(self) -> None:
        _feed_quietly(self.chan, self.feed)
        try:
            self.chan.shutdown_write()
        except (OSError, EOFError, paramiko.SSHException):
            pass


class _GzipChannelSink(io.RawIOBase):
    """A write-only file object gzipping onto a channel's stdin, for tarfile's stream mode.

    Compressed because source text shrinks several times, and because a tar
    stream ends padded to a 10 KiB record that would otherwise cross the wire
    as is (most of a one-file upload). Level 1, not tarfile's own "w|gz" (level
    9). Measured here: Python source shrinks 2.9x (level 6: 3.6x, at 3x the
    CPU); incompressible data (images, fonts) costs about 18 ms of CPU per MB,
    which on loopback makes a 10 MB upload 0.3 s instead of 0.05 s
    (tests/remote/test_bench.py), while sending 10 MB at 100 Mbit/s takes 0.8 s.
    """

    def __init__(self, chan: paramiko.Channel) -> None:
        self.chan = chan
        self._gzip = zlib.compressobj(1, zlib.DEFLATED, 16 + zlib.MAX_WBITS)

    def writable(self) -> bool:
        return True

    def write(self, data: Any) -> int:
        if getattr(self, "_aborted", False):
            raise OSError("upload aborted")
        view = memoryview(data).cast("B")
        out = self._gzip.compress(view)
        if out:
            self.chan.sendall(out)
        return len(view)

    def abort(self) -> None:
        """Close without the gzip trailer: the host's gunzip sees a cut stream and fails."""
        self._aborted = True

    def close(self) -> None:
        if not self.closed:
            try:
                if not getattr(self, "_aborted", False):
                    self.chan.sendall(self._gzip.flush())
            finally:
                super().close()


def _collect(chan: paramiko.Channel, deadline: float | None) -> tuple[bytes, bytes, int | None]:
    """Read stdout and stderr until EOF, then the exit status; None on timeout."""
    out: list[bytes] = []
    err: list[bytes] = []
    fd = chan.fileno()  # a pipe paramiko sets on data on either stream and on EOF
    while True:
        while chan.recv_ready():
            out.append(chan.recv(_READ_SIZE))
        while chan.recv_stderr_ready():
            err.append(chan.recv_stderr(_READ_SIZE))
        if chan.eof_received or chan.closed:
            break
        remaining = None if deadline is None else deadline - time.monotonic()
        if remaining is not None and remaining <= 0:
            return b"".join(out), b"".join(err), None
        select.select([fd], [], [], remaining)
    # exit-status comes after EOF; close (which also sets the event) after it.
    remaining = None if deadline is None else max(0.0, deadline - time.monotonic())
    if not chan.status_event.wait(remaining):
        return b"".join(out), b"".join(err), None
    # Data can trail EOF only in theory; drain what is buffered.
    while chan.recv_ready():
        out.append(chan.recv(_READ_SIZE))
    while chan.recv_stderr_ready():
        err.append(chan.recv_stderr(_READ_SIZE))
    return b"".join(out), b"".join(err), chan.exit_status


def _checked_relpath(rel: str) -> str:
    norm = posixpath.normpath(rel)
    if not rel or rel.startswith("/") or norm == "." or norm.startswith("../") or norm == "..":
        raise ValueError(f"upload path must be relative and stay inside the destination: {rel!r}")
    if "\0" in rel or "\n" in rel:
        raise ValueError(f"upload path contains a NUL or newline: {rel!r}")
    return norm


def _parent_dirs(paths: Any) -> list[str]:
    dirs: set[str] = set()
    for p in paths:
        parent = posixpath.dirname(p)
        while parent:
            dirs.add(parent)
            parent = posixpath.dirname(parent)
    return sorted(dirs)  # parents before children


def _tarinfo(
    name: str, kind: bytes, size: int, mode: int, mtime: int, owner: str | None, group: str | None
) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type = kind
    info.size = size
    info.mode = mode
    info.mtime = mtime
    info.uid = info.gid = 0
    info.uname = owner or ""
    info.gname = group or ""
    return info


def _load_key(path: str, host: str) -> paramiko.PKey:
    try:
        return paramiko.PKey.from_path(os.path.expanduser(path))
    except FileNotFoundError as exc:
        raise ConfigError(
            f"SSH key file {path} does not exist on this machine; point DAFLASK_SSH_KEY_FILE at "
            "this machine's key, or set it to 'agent' to use ssh-agent", host=host) from exc
    except paramiko.PasswordRequiredException as exc:
        raise ConfigError(
            f"SSH key file {path} is encrypted; add it to ssh-agent and leave key_file unset", host=host
        ) from exc
    except (paramiko.SSHException, OSError, ValueError) as exc:
        raise ConfigError(f"cannot load SSH key file {path}: {exc}", host=host) from exc


def _remove_quietly(sftp: paramiko.SFTPClient, path: str) -> None:
    try:
        sftp.remove(path)
    except (OSError, paramiko.SSHException):
        pass


def _os_reason(exc: OSError) -> str:
    if isinstance(exc, socket.timeout):
        return "timed out"
    return exc.strerror or str(exc) or type(exc).__name__


def _open_failure_reason(exc: BaseException | None) -> str:
    if isinstance(exc, paramiko.ChannelException):
        if exc.code == OPEN_FAILED_ADMINISTRATIVELY_PROHIBITED:
            return "sshd refused the channel (AllowStreamLocalForwarding, or the socket is not there)"
        return f"the host could not connect to it ({exc.text}: no such socket, or Unit is not running)"
    return f"channel open failed: {exc}" if exc else "channel open failed"

