"""Getting in: TCP connect, the host key checked against the pins, public-key authentication.

``open_transport`` gives daunit.remote.connection a ready paramiko
``Transport``; nothing is sent to a host whose key is not pinned (no trust on
first use), and every failure is a ConfigError, HostKeyError or ConnectError
that says what to check.
"""
from __future__ import annotations

import os
import socket

import paramiko

from daunit.errors import ConfigError, ConnectError, HostKeyError
from daunit.remote.target import SSHTarget, key_family, key_line

__all__ = ["open_transport"]


def open_transport(t: SSHTarget) -> paramiko.Transport:
    """A connected, host-key-checked, authenticated transport to ``t``."""
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
        _handshake(t, transport, pinned)
        _authenticate(t, transport)
    except BaseException:
        transport.close()
        raise
    # Keep NAT and sshd's ClientAlive happy through a long pip install.
    transport.set_keepalive(15)
    return transport

def _handshake(t: SSHTarget, transport: paramiko.Transport, pinned: list[paramiko.PKey]) -> None:
    # Ask for the pinned key's type first, so a host that has several host
    # keys answers with the one we can check (as OpenSSH's known_hosts does).
    options = transport.get_security_options()
    wanted = {key_family(k.get_name()) for k in pinned}
    options.key_types = sorted(options.key_types, key=lambda a: key_family(a) not in wanted)
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

def _authenticate(t: SSHTarget, transport: paramiko.Transport) -> None:
    tried: list[str] = []
    if t.key_file is not None:
        key = _load_key(t.key_file, t.host)
        tried.append(f"key file {t.key_file} ({key.get_name()} {key.fingerprint})")
        if _try_key(t, transport, key):
            return
    if t.agent_enabled and _try_agent(t, transport, tried):
        return
    raise ConnectError(
        t.host, t.port,
        f"public-key authentication as {t.user!r} failed (tried: {'; '.join(tried) or 'nothing'})",
        f"Check that the public key is in ~{t.user}/.ssh/authorized_keys on the host and that "
        "sshd permits this user (PermitRootLogin prohibit-password for root).",
    )

def _try_agent(t: SSHTarget, transport: paramiko.Transport, tried: list[str]) -> bool:
    agent = paramiko.Agent()
    try:
        keys = agent.get_keys()
        if not keys:
            tried.append("ssh-agent (no keys: is SSH_AUTH_SOCK set and the key added?)")
        for key in keys:
            tried.append(f"agent key {key.get_name()} {key.fingerprint}")
            if _try_key(t, transport, key):
                return True
        return False
    finally:
        agent.close()

def _try_key(t: SSHTarget, transport: paramiko.Transport, key: paramiko.PKey) -> bool:
    try:
        transport.auth_publickey(t.user, key)
    except paramiko.AuthenticationException:
        return False
    except (paramiko.SSHException, OSError, EOFError) as exc:
        raise ConnectError(t.host, t.port, f"connection lost while authenticating: {exc}", "") from exc
    return bool(transport.is_authenticated())


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


def _os_reason(exc: OSError) -> str:
    if isinstance(exc, socket.timeout):
        return "timed out"
    return exc.strerror or str(exc) or type(exc).__name__
