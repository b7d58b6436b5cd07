"""The NGINX Unit control API over an SSH ``direct-streamlocal`` channel.

httpx on top, httpcore (h11) for the HTTP framing, and at the bottom a small
httpcore ``NetworkBackend`` whose streams are paramiko channels to the control
socket on the host: no curl and no helper on the host.

The pool keeps the channel open for the next request when the server allows
it. Unit 1.35's controller does not: it answers every request with
``Connection: close`` (nxt_controller.c), so each request costs one channel
open on the existing SSH connection (about 1 ms on loopback; see
tests/remote/test_bench.py). What is kept is the SSH connection, which is the
expensive part.
"""
from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from types import TracebackType
from typing import Any, Self
from urllib.parse import quote

import httpcore
import httpx
import paramiko

from daunit.canonical import canonical_json
from daunit.errors import DeployError, UnitAPIError, UnitUnavailableError
from daunit.remote.ssh import SSHSession

__all__ = ["DEFAULT_LOG", "DEFAULT_SOCKET", "UnitClient", "unit_path"]

DEFAULT_SOCKET = "/var/run/unit/control.sock"
DEFAULT_LOG = "/var/log/unit/unit.log"
_MISSING = object()

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


# --------------------------------------------------------------------------- httpcore <-> paramiko


class _ChannelOpenFailed(httpcore.ConnectError):
    """Carries our own error through httpcore (which re-raises ``from None``)."""

    def __init__(self, error: DeployError) -> None:
        super().__init__(str(error))
        self.error = error


class ChannelStream(httpcore.NetworkStream):
    """An httpcore stream over a paramiko channel."""

    def __init__(self, chan: paramiko.Channel) -> None:
        self._chan = chan

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        self._chan.settimeout(timeout)
        try:
            return bytes(self._chan.recv(max_bytes))  # b"" at EOF, as h11 expects
        except TimeoutError as exc:
            raise httpcore.ReadTimeout(f"no data within {timeout} s") from exc
        except (OSError, EOFError, paramiko.SSHException) as exc:
            raise httpcore.ReadError(str(exc) or type(exc).__name__) from exc

    def write(self, buffer: bytes, timeout: float | None = None) -> None:
        if not buffer:
            return
        self._chan.settimeout(timeout)
        try:
            self._chan.sendall(buffer)
        except TimeoutError as exc:
            raise httpcore.WriteTimeout(f"could not send within {timeout} s") from exc
        except (OSError, EOFError, paramiko.SSHException) as exc:
            raise httpcore.WriteError(str(exc) or type(exc).__name__) from exc

    def close(self) -> None:
        self._chan.close()

    def start_tls(self, *args: Any, **kwargs: Any) -> httpcore.NetworkStream:
        raise httpcore.ConnectError("TLS over the Unit control socket is not supported")

    def get_extra_info(self, info: str) -> Any:
        if info == "is_readable":
            # httpcore asks this of an idle kept-alive connection: readable
            # while idle means the server closed it (or sent garbage).
            chan = self._chan
            return chan.closed or chan.eof_received or chan.recv_ready()
        if info == "channel":
            return self._chan
        return None


class ChannelBackend(httpcore.NetworkBackend):
    """Every "connection" httpcore asks for is a channel to ``socket_path`` on the host."""

    def __init__(self, session: SSHSession, socket_path: str) -> None:
        self.session = session
        self.socket_path = socket_path
        self.channels_opened = 0

    def _open(self, path: str, timeout: float | None) -> ChannelStream:
        try:
            chan = self.session.open_unix_socket(path, timeout=timeout)
        except DeployError as exc:
            raise _ChannelOpenFailed(exc) from exc
        self.channels_opened += 1
        return ChannelStream(chan)

    def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Any = None,
    ) -> httpcore.NetworkStream:
        # The URL's host and port are placeholders: the socket is the address.
        return self._open(self.socket_path, timeout)

    def connect_unix_socket(
        self, path: str, timeout: float | None = None, socket_options: Any = None
    ) -> httpcore.NetworkStream:
        return self._open(path, timeout)


_HTTPCORE_TO_HTTPX: tuple[tuple[type[Exception], type[httpx.TransportError]], ...] = (
    # Most specific first.
    (httpcore.ConnectTimeout, httpx.ConnectTimeout),
    (httpcore.ReadTimeout, httpx.ReadTimeout),
    (httpcore.WriteTimeout, httpx.WriteTimeout),
    (httpcore.PoolTimeout, httpx.PoolTimeout),
    (httpcore.ConnectError, httpx.ConnectError),
    (httpcore.ReadError, httpx.ReadError),
    (httpcore.WriteError, httpx.WriteError),
    (httpcore.RemoteProtocolError, httpx.RemoteProtocolError),
    (httpcore.LocalProtocolError, httpx.LocalProtocolError),
    (httpcore.ProtocolError, httpx.ProtocolError),
    (httpcore.NetworkError, httpx.NetworkError),
    (httpcore.TimeoutException, httpx.TimeoutException),
)


def _mapped(exc: Exception) -> Exception:
    if isinstance(exc, _ChannelOpenFailed):
        return exc.error
    for core, hx in _HTTPCORE_TO_HTTPX:
        if isinstance(exc, core):
            return hx(str(exc))
    return exc


class _ResponseStream(httpx.SyncByteStream):
    def __init__(self, stream: Any) -> None:
        self._stream = stream

    def __iter__(self) -> Iterator[bytes]:
        try:
            yield from self._stream
        except Exception as exc:
            mapped = _mapped(exc)
            if mapped is exc:
                raise
            raise mapped from exc

    def close(self) -> None:
        if hasattr(self._stream, "close"):
            self._stream.close()


class ChannelTransport(httpx.BaseTransport):
    """httpx transport over an httpcore pool whose connections are SSH channels."""

    def __init__(self, backend: ChannelBackend) -> None:
        self.backend = backend
        # One connection: the control API is used by one caller at a time,
        # and a single kept channel is the point when the server keeps it.
        self._pool = httpcore.ConnectionPool(network_backend=backend, max_connections=1, retries=0)

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        assert isinstance(request.stream, httpx.SyncByteStream)
        core_request = httpcore.Request(
            method=request.method,
            url=httpcore.URL(
                scheme=request.url.raw_scheme,
                host=request.url.raw_host,
                port=request.url.port,
                target=request.url.raw_path,
            ),
            headers=request.headers.raw,
            content=request.stream,
            extensions=request.extensions,
        )
        try:
            response = self._pool.handle_request(core_request)
        except Exception as exc:
            mapped = _mapped(exc)
            if mapped is exc:
                raise
            if isinstance(mapped, DeployError):
                raise mapped from mapped.__cause__
            raise mapped from exc
        return httpx.Response(
            status_code=response.status,
            headers=response.headers,
            stream=_ResponseStream(response.stream),
            extensions=response.extensions,
        )

    def close(self) -> None:
        self._pool.close()


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
        session: SSHSession,
        socket_path: str = DEFAULT_SOCKET,
        log_path: str = DEFAULT_LOG,
        *,
        timeout: float = 30.0,
    ) -> None:
        self.session = session
        self.socket_path = socket_path
        self.log_path = log_path
        self.timeout = timeout
        # Unit names itself ("Unit/1.35.0") in the Server header of every answer.
        self.server = ""
        self._backend = ChannelBackend(session, socket_path)
        self._client = httpx.Client(
            transport=ChannelTransport(self._backend),
            base_url="http://unit",  # placeholder host: the socket is the address
            timeout=timeout,
            headers={"User-Agent": "daunit"},
        )

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
        self._client.close()

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

    def exists(self, path: str | Sequence[str]) -> bool:
        return self.get_or(path, _MISSING) is not _MISSING

    def log_tail(self, lines: int = 20) -> str:
        """The last ``lines`` lines of unit.log (or why they could not be read)."""
        result = self.session.run(["tail", "-n", str(lines), self.log_path], check=False)
        if result.exit_status != 0:
            return f"(cannot read {self.log_path}: {result.stderr.decode('utf-8', 'replace').strip()})"
        return result.text.rstrip()

    # -- plumbing --------------------------------------------------------------

    def _answer(
        self,
        method: str,
        path: str | Sequence[str],
        content: bytes | None = None,
        content_type: str | None = None,
    ) -> dict[str, Any]:
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
    ) -> Any:
        target = unit_path(path)
        headers = {"Content-Type": content_type} if content_type else None
        host = self.session.target.host
        try:
            response = self._client.request(method, target, content=content, headers=headers)
        except httpx.TimeoutException as exc:
            raise UnitUnavailableError(
                self.socket_path, f"no answer to {method} {target} within {self.timeout:g} s", host=host
            ) from exc
        except httpx.TransportError as exc:
            raise UnitUnavailableError(
                self.socket_path, f"{method} {target} failed: {exc or type(exc).__name__}", host=host
            ) from exc
        self.server = response.headers.get("server", self.server)
        text = response.text
        try:
            body = json.loads(text) if text.strip() else None
        except ValueError:
            body = None
        if response.is_success:
            if body is None and text.strip():
                raise UnitAPIError(method, target, response.status_code, "answer is not JSON",
                                   body=text, host=host)
            return body
        error = detail = None
        if isinstance(body, dict):
            error = body.get("error")
            detail = body.get("detail")
        log_tail = self.log_tail() if response.status_code >= 500 or error == _APPLY_FAILED else None
        raise UnitAPIError(
            method, target, response.status_code,
            error if isinstance(error, str) else None,
            detail if isinstance(detail, str) else None,
            body=text, log_tail=log_tail, host=host,
        )
