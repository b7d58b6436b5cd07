"""The daemon around the API: unit.log, the 0600 control socket, HTTP/1.1
with one request per connection, the pid file, and SIGTERM."""
from __future__ import annotations

import http.server
import json
import os
import re
import signal
import socketserver
import threading
import time
import urllib.parse
from pathlib import Path
from typing import IO, Any

from .api import VERSION, Unit


class Log:
    """unit.log lines: "2026/01/05 03:04:05 [info] 123#123 message"."""

    def __init__(self, stream: IO[str]) -> None:
        self.stream = stream
        self.lock = threading.Lock()

    @staticmethod
    def line(level: str, message: str) -> str:
        pid = os.getpid()
        return f"{time.strftime('%Y/%m/%d %H:%M:%S')} [{level}] {pid}#{pid} {message}\n"

    def __call__(self, level: str, message: str) -> None:
        with self.lock:
            self.stream.write(self.line(level, message))
            self.stream.flush()


_BAD_ESCAPE = re.compile(r"%(?![0-9A-Fa-f]{2})")


def path_segments(target: str) -> list[str] | None:
    """The request target as decoded segments: query dropped, empty segments
    ignored, each segment percent-decoded once.  None for a broken escape."""
    path = target.split("?", 1)[0]
    if _BAD_ESCAPE.search(path):
        return None
    return [urllib.parse.unquote(s) for s in path.split("/") if s]


class _Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server

    def version_string(self) -> str:
        return f"Unit/{VERSION}"

    def log_message(self, format: str, *args: Any) -> None:
        pass  # Unit logs no access lines to unit.log

    def answer(self) -> None:
        self.close_connection = True  # Unit's controller closes after every answer
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        segments = path_segments(self.path)
        reply = None if segments is None else self.server.unit.handle(self.command, segments, body)
        if reply is None:
            return
        status, payload = reply
        data = (json.dumps(payload, indent="\t", ensure_ascii=False) + "\n").encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.write(data)

    do_GET = do_PUT = do_POST = do_DELETE = do_PATCH = answer


class _Server(socketserver.ThreadingMixIn, socketserver.UnixStreamServer):
    daemon_threads = True

    def __init__(self, path: Path, unit: Unit) -> None:
        self.unit = unit
        super().__init__(str(path), _Handler)

    def server_bind(self) -> None:
        # Created 0600 from the start: never a moment where others may connect.
        old = os.umask(0o177)
        try:
            super().server_bind()
        finally:
            os.umask(old)


def serve(control: Path, unit: Unit, pid_file: Path | None) -> None:
    """Serve until SIGTERM or SIGINT, then remove the socket and the pid file."""
    if control.is_socket():
        control.unlink()  # stale, from a double that was killed
    server = _Server(control, unit)
    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())
    if pid_file is not None:
        pid_file.write_text(f"{os.getpid()}\n")
    worker = threading.Thread(target=server.serve_forever, name="control-api", daemon=True)
    worker.start()
    try:
        stop.wait()
    finally:
        server.shutdown()
        server.server_close()
        control.unlink(missing_ok=True)
        if pid_file is not None:
            pid_file.unlink(missing_ok=True)
