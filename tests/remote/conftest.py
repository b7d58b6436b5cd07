"""Fixtures for the I/O boundary tests: an SSHTarget/SSHSession/UnitClient on the lab host.

The lab host itself comes from ``lab_host`` in tests/conftest.py (address,
client_key_path, host_key_line, run(argv)); its sshd listens on port 22
unless the fixture says otherwise (``port``).
"""
from __future__ import annotations

import subprocess
from collections.abc import Iterator, Sequence
from typing import Any

import pytest

from daunit.remote.ssh import SSHSession, SSHTarget
from daunit.remote.unit import DEFAULT_SOCKET, UnitClient


def lab_port(lab_host: Any) -> int:
    return int(getattr(lab_host, "port", 22))


def lab_socket(lab_host: Any) -> str:
    return str(getattr(lab_host, "unit_socket", DEFAULT_SOCKET))


def host_output(lab_host: Any, argv: Sequence[str]) -> str:
    """Run argv inside the lab host (not over our SSH code) and return its stdout."""
    result = lab_host.run(list(argv))
    out = getattr(result, "stdout", result)
    if isinstance(out, bytes):
        return out.decode("utf-8", "replace")
    return "" if out is None else str(out)


def host_path_exists(lab_host: Any, path: str) -> bool:
    script = 'if [ -e "$1" ]; then echo yes; else echo no; fi'
    return host_output(lab_host, ["sh", "-c", script, "sh", path]).strip() == "yes"


@pytest.fixture
def target(lab_host: Any) -> SSHTarget:
    return SSHTarget(
        host=lab_host.address,
        port=lab_port(lab_host),
        known_hosts=lab_host.host_key_line,
        key_file=str(lab_host.client_key_path),
        connect_timeout=10,
    )


@pytest.fixture
def session(target: SSHTarget) -> Iterator[SSHSession]:
    with SSHSession(target) as s:
        yield s


@pytest.fixture
def unit(session: SSHSession, lab_host: Any) -> Iterator[UnitClient]:
    with UnitClient(session, lab_socket(lab_host)) as client:
        yield client


@pytest.fixture
def scratch(session: SSHSession) -> Iterator[str]:
    """A fresh directory on the lab host, removed afterwards."""
    path = session.run(["mktemp", "-d", "/tmp/daunit-test.XXXXXX"]).text.strip()
    session.run(["chmod", "755", path])
    yield path
    session.run(["rm", "-rf", "--", path], check=False)


def new_ed25519_public_line() -> str:
    """A fresh, random ed25519 public key as a bare known_hosts line."""
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
    from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

    key = Ed25519PrivateKey.generate().public_key()
    return key.public_bytes(Encoding.OpenSSH, PublicFormat.OpenSSH).decode()


def keyscan(host: str, port: int, key_type: str) -> str | None:
    """The host's key of one type, as ssh-keyscan prints it (None if it has none)."""
    try:
        out = subprocess.run(
            ["ssh-keyscan", "-T", "5", "-p", str(port), "-t", key_type, host],
            capture_output=True, text=True, timeout=15,
        ).stdout
    except (OSError, subprocess.TimeoutExpired):
        return None
    lines = [line for line in out.splitlines() if line and not line.startswith("#")]
    return lines[0] if lines else None


# A keep-alive HTTP/1.1 server on a Unix socket, run on the lab host with its
# own python3, standing in for a control API that keeps connections open.
KEEPALIVE_SERVER = r'''
import json, os, socketserver, sys
from http.server import BaseHTTPRequestHandler

class H(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def do_GET(self):
        body = json.dumps({"path": self.path, "conn": id(self.connection)}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
    def log_message(self, *args):
        pass
    def address_string(self):
        return "unix"

class S(socketserver.ThreadingMixIn, socketserver.UnixStreamServer):
    daemon_threads = True

path = sys.argv[1]
if os.path.exists(path):
    os.unlink(path)
S(path, H).serve_forever()
'''


@pytest.fixture
def keepalive_socket(session: SSHSession, scratch: str) -> Iterator[str]:
    path = f"{scratch}/keepalive.sock"
    session.put_bytes(f"{scratch}/server.py", KEEPALIVE_SERVER.encode())
    script = ('nohup python3 "$1/server.py" "$2" >"$1/server.log" 2>&1 </dev/null & echo $!; '
              'for i in $(seq 1 100); do [ -S "$2" ] && exit 0; sleep 0.05; done; cat "$1/server.log" >&2; exit 1')
    pid = session.run(["sh", "-c", script, "sh", scratch, path]).text.split()[0]
    yield path
    session.run(["kill", pid], check=False)
