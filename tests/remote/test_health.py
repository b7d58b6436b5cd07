"""Health probes and TLS probes over direct-tcpip channels, against servers on the lab host."""
from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from daunit.errors import ChannelRefused, HealthCheckError
from daunit.remote.health import check_health, probe
from daunit.remote.ssh import SSHSession
from daunit.remote.tlsprobe import wait_for_leaf

pytestmark = pytest.mark.root

# Answers every GET with its Host header and path; HEALTH_STATUS for /status/NNN.
SERVER = r'''
import sys
from http.server import BaseHTTPRequestHandler, HTTPServer

class H(BaseHTTPRequestHandler):
    def do_GET(self):
        status = int(self.path.rsplit("/", 1)[1]) if self.path.startswith("/status/") else 200
        body = f"{self.headers['Host']} {self.path}".encode()
        self.send_response(status)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
    def log_message(self, *args):
        pass

HTTPServer(("127.0.0.1", int(sys.argv[1])), H).serve_forever()
'''


def _free_port() -> int:
    return 30000 + int.from_bytes(os.urandom(2), "big") % 20000


@pytest.fixture
def http_port(session: SSHSession, scratch: str) -> Iterator[int]:
    port = _free_port()
    session.put_bytes(f"{scratch}/server.py", SERVER.encode())
    script = ('nohup python3 "$1/server.py" "$2" >"$1/server.log" 2>&1 </dev/null & echo $!; '
              'for i in $(seq 1 100); do (exec 3<>/dev/tcp/127.0.0.1/"$2") 2>/dev/null && exit 0; sleep 0.05; done; '
              'cat "$1/server.log" >&2; exit 1')
    pid = session.run(["bash", "-c", script, "bash", scratch, str(port)]).text.split()[0]
    yield port
    session.run(["kill", pid], check=False)


def test_probe_sends_the_host_header_and_reads_the_answer(session: SSHSession, http_port: int) -> None:
    answer = probe(session, f"*:{http_port}", "shop.example.org", "/healthz")
    assert (answer.status, answer.reason) == (200, "OK")
    assert answer.body == b"shop.example.org /healthz"


def test_check_health_returns_the_expected_status(session: SSHSession, http_port: int) -> None:
    health = {"listener": f"127.0.0.1:{http_port}", "host": "a.example", "path": "/status/204",
              "status": 204, "timeout": 5}
    assert check_health(session, health) == 204


def test_a_closed_port_is_refused_and_the_health_check_says_so(session: SSHSession) -> None:
    port = _free_port()
    with pytest.raises(ChannelRefused, match=f"nothing accepts connections on 127.0.0.1:{port} on the host"):
        probe(session, f"*:{port}", "a.example", "/")
    health = {"listener": f"*:{port}", "host": "a.example", "path": "/", "status": 200, "timeout": 0}
    with pytest.raises(HealthCheckError) as caught:
        check_health(session, health, log_tail=lambda: "the log's last lines")
    message = str(caught.value)
    assert "expected 200, got no answer" in message and f"127.0.0.1:{port} on the host" in message
    assert "the log's last lines" in message
    assert session.run(["true"]).exit_status == 0  # the connection survives


def test_a_wrong_status_is_reported_with_the_body(session: SSHSession, http_port: int) -> None:
    health = {"listener": f"*:{http_port}", "host": "a.example", "path": "/status/503", "status": 200,
              "timeout": 0}
    with pytest.raises(HealthCheckError, match="expected 200, got HTTP 503") as caught:
        check_health(session, health)
    assert "a.example /status/503" in str(caught.value)


def test_tls_probe_of_a_plain_http_port_is_no_handshake(session: SSHSession, http_port: int) -> None:
    with pytest.raises(HealthCheckError, match="no TLS handshake"):
        wait_for_leaf(session, f"*:{http_port}", "a.example", "0" * 64, timeout=0)


def test_routed_is_asked_only_after_a_wrong_answer(session: SSHSession, http_port: int) -> None:
    asked: list[str] = []

    def routed(answer: bool) -> bool:
        asked.append("routed?")
        return answer

    good = {"listener": f"*:{http_port}", "host": "a.example", "path": "/", "status": 200, "timeout": 5}
    assert check_health(session, good, routed=lambda: routed(True)) == 200
    assert asked == []  # answered at once: no question
    bad = {**good, "path": "/status/404", "timeout": 0}
    assert check_health(session, bad, routed=lambda: routed(False)) is None  # not routed: not checked
    assert asked == ["routed?"]
    with pytest.raises(HealthCheckError, match="expected 200, got HTTP 404"):
        check_health(session, bad, routed=lambda: routed(True))  # routed: checked, and it fails
    assert asked == ["routed?", "routed?"]
