"""The control socket: the standard library's HTTP server on a Unix socket.

Unit's controller speaks HTTP/1.1 with Content-Length, pretty-prints its JSON
with tabs and CRLF, and closes the connection after every response
("Connection: close", even when the client asks for keep-alive).  The double
does the same, so a client that only works over one kept-alive connection
fails here as it would against the real daemon.
"""
from __future__ import annotations

import os
import signal
import socket
import socketserver
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from types import FrameType
from typing import Any

from . import confjson
from .controller import VERSION, Controller, Drop

MAX_BODY = 64 * 1024 * 1024


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = f"Unit/{VERSION}"
    sys_version = ""
    server: _Server

    def version_string(self) -> str:
        return self.server_version

    def address_string(self) -> str:
        return "unix"

    def log_message(self, format: str, *args: Any) -> None:
        """Unit logs no access lines for the control socket."""

    def send_error(self, code: int, message: str | None = None,
                   explain: str | None = None) -> None:
        # A request Unit cannot parse is dropped, not answered with a page.
        self.server.controller.log.line(
            "error", self.server.controller.controller_pid, "parsing error")
        self.close_connection = True

    def __getattr__(self, name: str) -> Callable[[], None]:
        # Any method reaches the controller: Unit answers PATCH, HEAD or
        # FOO itself (405), where http.server would answer 501.
        if name.startswith("do_"):
            return self._dispatch
        raise AttributeError(name)

    def _dispatch(self) -> None:
        length = self.headers.get("Content-Length")
        try:
            size = int(length) if length is not None else 0
        except ValueError:
            size = -1
        if size < 0 or size > MAX_BODY:
            self.send_error(400)
            return
        body = self.rfile.read(size) if size else b""
        try:
            reply = self.server.controller.handle(self.command, self.path, body)
        except Drop:
            self.close_connection = True
            return
        payload = confjson.dumps(reply.body, pretty=True) + b"\r\n"
        self.send_response(reply.status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.send_header("Connection", "close")
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(payload)
        self.close_connection = True


class _Server(socketserver.ThreadingMixIn, socketserver.UnixStreamServer):
    daemon_threads = True

    def __init__(self, path: Path, controller: Controller) -> None:
        self.controller = controller
        self.path = path
        super().__init__(str(path), _Handler, bind_and_activate=False)

    def server_bind(self) -> None:
        # Created 0600 from the start: the socket is root's control plane.
        old = os.umask(0o177)
        try:
            super().server_bind()
        finally:
            os.umask(old)
        os.chmod(self.path, 0o600)


def _claim_socket(path: Path) -> None:
    """Remove a stale socket; refuse to steal one somebody still serves."""
    if not path.exists() and not path.is_symlink():
        return
    probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        probe.connect(str(path))
    except OSError:
        path.unlink()
        return
    finally:
        probe.close()
    raise SystemExit(f"unit_double: {path} is in use by a running daemon")


def serve(control: Path, controller: Controller, pid_file: Path | None) -> None:
    """Serve until SIGTERM or SIGINT, then remove the socket and pid file."""
    _claim_socket(control)
    server = _Server(control, controller)
    try:
        server.server_bind()
        server.server_activate()
    except BaseException:
        server.server_close()
        raise
    if pid_file is not None:
        pid_file.write_text(f"{os.getpid()}\n")

    def stop(signum: int, _frame: FrameType | None) -> None:
        # shutdown() waits for serve_forever, which runs in this thread.
        threading.Thread(target=server.shutdown, daemon=True).start()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    try:
        server.serve_forever(poll_interval=0.2)
    finally:
        server.server_close()
        control.unlink(missing_ok=True)
        if pid_file is not None:
            pid_file.unlink(missing_ok=True)
        controller.log.line("notice", controller.main_pid,
                            f"process {controller.router_pid} exited with code 0")
