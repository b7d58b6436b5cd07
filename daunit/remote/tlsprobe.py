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

import httpcore

from daunit.errors import HealthCheckError
from daunit.remote.health import TcpChannelBackend, listener_address
from daunit.remote.ssh import SSHSession

__all__ = ["served_leaf_sha256", "wait_for_leaf"]


def served_leaf_sha256(session: SSHSession, listener: str, server_name: str,
                       timeout: float = 10.0) -> str:
    """sha256 (hex) of the DER certificate the listener presents for `server_name`."""
    address, port = listener_address(listener)
    stream = TcpChannelBackend(session, address, port).connect_tcp(address, port, timeout=timeout)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE  # we compare the certificate itself, below
    incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
    tls = context.wrap_bio(incoming, outgoing, server_hostname=server_name)
    try:
        while True:
            try:
                tls.do_handshake()
                break
            except ssl.SSLWantReadError:
                pending = outgoing.read()
                if pending:
                    stream.write(pending, timeout=timeout)
                data = stream.read(65536, timeout=timeout)
                if not data:
                    raise httpcore.ReadError("the listener closed the connection during the handshake") from None
                incoming.write(data)
        der = tls.getpeercert(binary_form=True)
    finally:
        stream.close()
    if not der:
        raise httpcore.ReadError("the listener presented no certificate")
    return hashlib.sha256(der).hexdigest()


def wait_for_leaf(session: SSHSession, listener: str, server_name: str, want: str,
                  timeout: float = 15.0) -> None:
    """Poll until the listener serves the certificate whose DER hashes to `want`.

    Raises HealthCheckError with what it served instead (or why it could not
    be asked).
    """
    deadline = time.monotonic() + timeout
    url = f"https://{server_name}/ (via {listener})"
    while True:
        try:
            got = served_leaf_sha256(session, listener, server_name)
            if got == want:
                return
            seen = f"a certificate with sha256 {got[:16]}..., not the one just installed ({want[:16]}...)"
        except (httpcore.NetworkError, httpcore.TimeoutException, ssl.SSLError) as exc:
            seen = f"no TLS handshake: {exc}"
        if time.monotonic() > deadline:
            raise HealthCheckError(url, None, seen, expected="the new certificate",
                                   host=session.target.host)
        time.sleep(0.3)
