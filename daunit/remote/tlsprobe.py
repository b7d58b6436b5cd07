"""Which certificate a TLS listener serves for a name, asked from the host itself.

A TLS handshake (SNI = the app's domain) over an SSH `direct-tcpip` channel
to the listener, driven through `ssl.MemoryBIO`s so no local socket is
involved. Only the served leaf certificate is wanted: it is compared with the
bundle just installed, so nothing is verified against a CA here.
"""
from __future__ import annotations

import hashlib
import ssl
import time

from daunit.errors import ChannelError, ChannelRefused, HealthCheckError
from daunit.remote.connection import Channel, Connection, TcpPort
from daunit.remote.health import listener_address

__all__ = ["served_leaf_sha256", "wait_for_leaf"]


def served_leaf_sha256(connection: Connection, listener: str, server_name: str,
                       timeout: float = 10.0) -> str:
    """sha256 (hex) of the DER certificate the listener presents for `server_name`."""
    address, port = listener_address(listener)
    with connection.open_channel(TcpPort(address, port), timeout=timeout) as chan:
        der = _handshake(chan, server_name, timeout)
    if not der:
        raise ChannelError("the listener presented no certificate", host=connection.target.host)
    return hashlib.sha256(der).hexdigest()


def _handshake(chan: Channel, server_name: str, timeout: float) -> bytes | None:
    """The server's DER certificate after a TLS handshake driven over ``chan``."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE  # we compare the certificate itself, below
    incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
    tls = context.wrap_bio(incoming, outgoing, server_hostname=server_name)
    while True:
        try:
            tls.do_handshake()
            return tls.getpeercert(binary_form=True)
        except ssl.SSLWantReadError:
            pending = outgoing.read()
            if pending:
                chan.send_all(pending, timeout)
            data = chan.recv(65536, timeout)
            if not data:
                raise ChannelError("the listener closed the connection during the handshake") from None
            incoming.write(data)


def wait_for_leaf(connection: Connection, listener: str, server_name: str, want: str,
                  timeout: float = 15.0) -> None:
    """Poll until the listener serves the certificate whose DER hashes to `want`.

    Raises HealthCheckError with what it served instead (or why it could not
    be asked).
    """
    deadline = time.monotonic() + timeout
    url = f"https://{server_name}/ (via {listener})"
    while True:
        try:
            got = served_leaf_sha256(connection, listener, server_name)
            if got == want:
                return
            seen = f"a certificate with sha256 {got[:16]}..., not the one just installed ({want[:16]}...)"
        except (ChannelRefused, ChannelError) as exc:
            seen = f"no TLS handshake: {exc.message}"
        except ssl.SSLError as exc:
            seen = f"no TLS handshake: {exc}"
        if time.monotonic() > deadline:
            raise HealthCheckError(url, None, seen, expected="the new certificate",
                                   host=connection.target.host)
        time.sleep(0.3)
