"""The NGINX Unit control API over an SSH ``direct-streamlocal`` channel.

httpcore (h11) for the HTTP framing, over channels to the control socket on
the host (daunit.remote.httpchannel): no curl and no helper on the host.
Every failure to reach Unit becomes UnitUnavailableError in one place
(``UnitClient._send``); a lost SSH connection stays a ConnectError.

httpcore's pool keeps the channel open for the next request when the server allows
it. Unit 1.35's controller does not: it answers every request with
``Connection: close`` (nxt_controller.c), so each request costs one channel
open on the existing SSH connection (about 1 ms on loopback; see
tests/remote/test_bench.py), one round trip on a distant host: with
``spare``, the providers' client opens the next channel while a request runs.
What is kept is the SSH connection, which is the expensive part.
"""
from __future__ import annotations

import json
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from types import TracebackType
from typing import Any, Self
from urllib.parse import quote

import httpcore

from daunit.canonical import canonical_json
from daunit.errors import ChannelError, ChannelRefused, ChannelTimeout, UnitAPIError, UnitUnavailableError
from daunit.remote import commands
from daunit.remote.connection import Connection, UnixSocket
from daunit.remote.httpchannel import ChannelBackend, http_errors

__all__ = ["DEFAULT_LOG", "DEFAULT_SOCKET", "Answer", "UnitClient", "unit_path"]

DEFAULT_SOCKET = "/var/run/unit/control.sock"
DEFAULT_LOG = "/var/log/unit/unit.log"
_MISSING = object()
# The origin of a request on a channel of its own: the socket is the address.
_ORIGIN = httpcore.Origin(b"http", b"unit", 80)

# Unit answers this when the new configuration could not be applied; the
# reason (e.g. 'Python failed to import module "x"') is only in unit.log.
_APPLY_FAILED = "Failed to apply new configuration."


def unit_path(path: str | Sequence[str]) -> str:
    """The request target for a Unit API path, each segment percent-encoded.

    ``"/config/listeners/*:80"`` and ``["config", "listeners", "*:80"]`` both
    give ``/config/listeners/%2A%3A80`` (Unit decodes segments before lookup).
    A sequence lets a segment hold a ``/``.
    """
    if isinstance(path, str):
        if not path.startswith("/"):
            raise ValueError(f"Unit API path must start with '/': {path!r}")
        segments = [s for s in path.split("/") if s]
    else:
        segments = list(path)
        if any(not isinstance(s, str) or not s for s in segments):
            raise ValueError(f"Unit API path segments must be non-empty strings: {segments!r}")
    return "/" + "/".join(quote(s, safe="") for s in segments)


@dataclass(frozen=True)
class Answer:
    """One HTTP answer of the control API, as it came (header names lower-cased)."""

    status: int
    headers: dict[str, str]
    body: bytes

    @property
    def text(self) -> str:
        return self.body.decode("utf-8", "replace")


# --------------------------------------------------------------------------- client


class UnitClient:
    """Unit's control API on one host, through ``session``.

        with SSHSession(target) as ssh, UnitClient(ssh) as unit:
            unit.put("/config/applications/flask", {...})

    Non-2xx answers raise UnitAPIError (Unit's ``error`` and ``detail``; for a
    failed apply, also the tail of unit.log); an unreachable socket raises
    UnitUnavailableError. Holds a live session: never pickle or store it.
    """

    def __init__(
        self,
        session: Connection,
        socket_path: str = DEFAULT_SOCKET,
        log_path: str = DEFAULT_LOG,
        *,
        timeout: float = 30.0,
        spare: bool = False,
    ) -> None:
        self.session = session
        self.socket_path = socket_path
        self.log_path = log_path
        self.timeout = timeout
        # Unit names itself ("Unit/1.35.0") in the Server header of every answer.
        self.server = ""
        # spare: the next request's channel is opened while this one runs (see
        # ChannelBackend): one round trip per request instead of two, at the
        # cost of one unused channel when the client closes.
        self._backend = ChannelBackend(session, UnixSocket(socket_path), spare=spare)
        # One connection: the control API is used by one caller at a time,
        # and a single kept channel is the point when the server keeps it.
        self._pool = httpcore.ConnectionPool(network_backend=self._backend, max_connections=1, retries=0)

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
        raise TypeError("UnitClient holds a live SSH session and cannot be pickled")

    def close(self) -> None:
        self._pool.close()
        self._backend.close()

    @property
    def channels_opened(self) -> int:
        """Channels opened to the control socket so far (one per HTTP connection)."""
        return self._backend.channels_opened

    # -- API -------------------------------------------------------------------

    def get(self, path: str | Sequence[str]) -> Any:
        """The JSON value at ``path``."""
        return self._request("GET", path)

    def put(self, path: str | Sequence[str], value: Any) -> dict[str, Any]:
        """Set ``path`` to ``value``, sent as canonical JSON (see daunit.canonical)."""
        return self._answer("PUT", path, canonical_json(value), "application/json")

    def put_raw(self, path: str | Sequence[str], data: bytes) -> dict[str, Any]:
        """PUT ``data`` as is (a PEM bundle for ``/certificates/NAME``)."""
        return self._answer("PUT", path, bytes(data), "application/octet-stream")

    def delete(self, path: str | Sequence[str]) -> dict[str, Any]:
        return self._answer("DELETE", path)

    def restart(self, app_name: str) -> dict[str, Any]:
        """Restart an application's processes. Unit answers 200 even if the new
        code cannot start: health-check afterwards."""
        return self._answer("GET", ["control", "applications", app_name, "restart"])

    def status(self) -> dict[str, Any]:
        return self._answer("GET", "/status")

    def get_or(self, path: str | Sequence[str], default: Any = None) -> Any:
        """The JSON value at ``path``, or ``default`` where Unit has nothing (404)."""
        try:
            return self.get(path)
        except UnitAPIError as exc:
            if exc.status == 404:
                return default
            raise

    def get_or_many(self, paths: Sequence[str | Sequence[str]], default: Any = None) -> list[Any]:
        """``get_or`` of every path, the requests sent at once, each on a channel
        of its own: one round trip for all when ``open_ahead`` opened as many."""
        if len(paths) < 2:
            return [self.get_or(path, default) for path in paths]

        def one(path: str | Sequence[str]) -> Any:
            try:
                return self._request("GET", path, fresh=True)
            except UnitAPIError as exc:
                if exc.status == 404:
                    return default
                raise
        with ThreadPoolExecutor(len(paths), thread_name_prefix="unit-get") as workers:
            return list(workers.map(one, paths))

    def open_ahead(self, count: int) -> None:
        """Open ``count`` channels now for requests to come (get_or_many's): they
        open while the caller waits on something else (the host lock)."""
        self._backend.open_ahead(count)

    def exists(self, path: str | Sequence[str]) -> bool:
        return self.get_or(path, _MISSING) is not _MISSING

    def log_tail(self, lines: int = 20) -> str:
        """The last ``lines`` lines of unit.log (or why they could not be read)."""
        result = commands.run(self.session, ["tail", "-n", str(lines), self.log_path], check=False)
        if result.exit_status != 0:
            return f"(cannot read {self.log_path}: {result.stderr.decode('utf-8', 'replace').strip()})"
        return result.text.rstrip()

    def send(self, method: str, path: str | Sequence[str], content: bytes | None = None,
             content_type: str | None = None) -> Answer:
        """One request as it goes, its answer as it comes (no status check, no JSON)."""
        return self._send(method, unit_path(path), content, content_type)

    # -- plumbing --------------------------------------------------------------

    def _send(self, method: str, target: str, content: bytes | None, content_type: str | None,
              fresh: bool = False) -> Answer:
        """The exchange itself; every way of not reaching Unit ends here as UnitUnavailableError.
        ``fresh``: on a channel of its own, not the pool's (for requests sent at once)."""
        headers = [("User-Agent", "daunit")] + ([("Content-Type", content_type)] if content_type else [])
        # Host "unit" is a placeholder: the socket is the address.
        url = httpcore.URL(scheme=b"http", host=b"unit", port=None, target=target.encode("ascii"))
        limits = dict.fromkeys(("connect", "read", "write", "pool"), self.timeout)
        host = self.session.target.host
        try:
            with http_errors(f"{method} {target}"):
                if fresh:
                    with httpcore.HTTP11Connection(_ORIGIN, self._backend.open(self.timeout)) as http:
                        response = http.request(method, url, headers=headers, content=content,
                                                extensions={"timeout": limits})
                else:
                    response = self._pool.request(method, url, headers=headers, content=content,
                                                  extensions={"timeout": limits})
        except ChannelTimeout as exc:
            raise UnitUnavailableError(
                self.socket_path, f"no answer to {method} {target} within {self.timeout:g} s", host=host) from exc
        except ChannelRefused as exc:
            raise UnitUnavailableError(self.socket_path, exc.message, host=host) from exc
        except ChannelError as exc:
            raise UnitUnavailableError(self.socket_path, f"{method} {target} failed: {exc.message}",
                                       host=host) from exc
        answer_headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in response.headers}
        return Answer(response.status, answer_headers, response.content)

    def _answer(self, method: str, path: str | Sequence[str], content: bytes | None = None,
                content_type: str | None = None) -> dict[str, Any]:
        """A request whose 2xx answer is a JSON object (Unit's {"success": ...})."""
        body = self._request(method, path, content, content_type)
        if not isinstance(body, dict):
            raise UnitAPIError(method, unit_path(path), 200, "answer is not a JSON object",
                               body=repr(body)[:500], host=self.session.target.host)
        return body

    def _request(
        self,
        method: str,
        path: str | Sequence[str],
        content: bytes | None = None,
        content_type: str | None = None,
        fresh: bool = False,
    ) -> Any:
        target = unit_path(path)
        host = self.session.target.host
        answer = self._send(method, target, content, content_type, fresh)
        self.server = answer.headers.get("server", self.server)
        text = answer.text
        try:
            body = json.loads(text) if text.strip() else None
        except ValueError:
            body = None
        if 200 <= answer.status < 300:
            if body is None and text.strip():
                raise UnitAPIError(method, target, answer.status, "answer is not JSON", body=text, host=host)
            return body
        error = detail = None
        if isinstance(body, dict):
            error = body.get("error")
            detail = body.get("detail")
        log_tail = self.log_tail() if answer.status >= 500 or error == _APPLY_FAILED else None
        raise UnitAPIError(
            method, target, answer.status,
            error if isinstance(error, str) else None,
            detail if isinstance(detail, str) else None,
            body=text, log_tail=log_tail, host=host,
        )
