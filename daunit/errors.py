"""Errors raised by the deployer, one small hierarchy.

Low-level errors (paramiko, socket, httpx) are mapped to these at the I/O
boundary with ``raise X(...) from exc``; nothing above ``daunit.remote`` should
have to catch a third-party exception. Each message says what happened, where,
and what to check, because it is what a user reads in ``pulumi up`` output.

    DeployError                 base: optional host and resource names
    ├── ConfigError             bad or missing configuration on our side
    │   └── StackConfigError    the stack config, one (field path, message) per problem
    └── RemoteError             something went wrong on (or on the way to) a host
        ├── HostKeyError        unknown or mismatched SSH host key
        ├── ConnectError        unreachable, refused, handshake or auth failure
        ├── ChannelRefused      the host would not open a channel (nothing listens there)
        ├── ChannelError        a channel failed while in use
        │   └── ChannelTimeout  nothing arrived (or could be sent) in time on a channel
        ├── CommandError        a remote command exited non-zero (or timed out)
        ├── UnitAPIError        the Unit control API answered non-2xx
        ├── UnitUnavailableError  control socket missing, Unit down, no answer
        └── HealthCheckError    the app did not answer as expected after a change

Secrets never reach these objects unmasked: ``CommandError`` masks them itself
and keeps only the masked text.
"""
from __future__ import annotations

import shlex
from collections.abc import Iterable, Sequence

__all__ = [
    "MASK",
    "ChannelError",
    "ChannelRefused",
    "ChannelTimeout",
    "CommandError",
    "ConfigError",
    "ConnectError",
    "DeployError",
    "HealthCheckError",
    "HostKeyError",
    "RemoteError",
    "StackConfigError",
    "UnitAPIError",
    "UnitUnavailableError",
    "mask_secrets",
    "tail_lines",
]

MASK = "***"
TAIL_LINES = 20


def mask_secrets(text: str, secrets: Iterable[str]) -> str:
    """Replace every occurrence of every non-empty secret with ``***``.

    Longest first, so a secret that contains another is masked whole.
    """
    for secret in sorted((s for s in secrets if s), key=len, reverse=True):
        text = text.replace(secret, MASK)
    return text


def tail_lines(text: str, lines: int = TAIL_LINES) -> str:
    """The last ``lines`` lines of ``text``, without trailing blank space."""
    return "\n".join(text.rstrip().splitlines()[-lines:])


def _indent(text: str) -> str:
    return "\n".join("    " + line for line in text.splitlines())


def _part(label: str, text: str | None) -> str:
    """A message's indented part (stderr, unit.log), or "" when there is no text."""
    return f"\n  {label}:\n{_indent(text)}" if text else ""


class DeployError(Exception):
    """Base of every error the deployer raises on purpose."""

    def __init__(
        self, message: str, *, host: str | None = None, resource: str | None = None
    ) -> None:
        super().__init__(message)
        self.message = message
        self.host = host
        self.resource = resource

    def __str__(self) -> str:
        where = []
        if self.resource:
            where.append(f"resource {self.resource}")
        if self.host:
            where.append(f"host {self.host}")
        return f"[{', '.join(where)}] {self.message}" if where else self.message

    def __reduce__(self):  # type: ignore[no-untyped-def]
        # Exceptions with keyword-only arguments do not unpickle by default;
        # Pulumi may carry errors across processes, so rebuild from __dict__.
        return (_rebuild, (type(self), self.__dict__))


def _rebuild(cls: type[DeployError], state: dict[str, object]) -> DeployError:
    exc = cls.__new__(cls)
    Exception.__init__(exc, state.get("message", ""))
    exc.__dict__.update(state)
    return exc


class ConfigError(DeployError):
    """Configuration on the deploying side is wrong or incomplete."""


class StackConfigError(ConfigError):
    """The stack config is not valid: one (field path, message) per problem."""

    def __init__(self, problems: Sequence[tuple[str, str]]) -> None:
        self.problems = list(problems)
        lines = "\n".join(f"  {path}: {message}" for path, message in self.problems)
        super().__init__(f"the stack config is not valid:\n{lines}")


class RemoteError(DeployError):
    """Something failed on a host or on the way to it."""


class HostKeyError(RemoteError):
    """The host's SSH key is not the pinned one (or none is pinned for it)."""

    def __init__(
        self,
        host: str,
        port: int,
        offered_type: str,
        offered_fingerprint: str,
        offered_line: str,
        pinned_fingerprints: Sequence[str] = (),
        *,
        resource: str | None = None,
    ) -> None:
        self.port = port
        self.offered_type = offered_type
        self.offered_fingerprint = offered_fingerprint
        self.pinned_fingerprints = list(pinned_fingerprints)
        if self.pinned_fingerprints:
            what = (
                f"host key MISMATCH for {host}:{port}: the server offered {offered_type} "
                f"{offered_fingerprint}, the pinned key(s) are "
                f"{', '.join(self.pinned_fingerprints)}. Nothing was sent to the host. "
                "If the host was re-installed or re-keyed on purpose, "
            )
        else:
            what = (
                f"no pinned host key for {host}:{port}: the server offered {offered_type} "
                f"{offered_fingerprint}. Nothing was sent to the host. "
                "To trust it, "
            )
        message = what + (
            "compare that fingerprint with the one printed on the host itself "
            "(`ssh-keygen -lf /etc/ssh/ssh_host_*_key.pub`, from its console) and only if "
            f"they match pin this known_hosts line in the stack config:\n    {offered_line}"
        )
        super().__init__(message, host=host, resource=resource)


class ConnectError(RemoteError):
    """The host could not be reached, or would not let us in."""

    def __init__(
        self,
        host: str,
        port: int,
        reason: str,
        hint: str,
        *,
        resource: str | None = None,
    ) -> None:
        self.port = port
        self.reason = reason
        super().__init__(f"cannot connect to {host}:{port}: {reason}. {hint}", host=host, resource=resource)


class ChannelRefused(RemoteError):
    """The host would not open a channel: nothing listens there, or sshd forbids it."""


class ChannelError(RemoteError):
    """A channel failed while in use: the host closed it, or it could not be written."""


class ChannelTimeout(ChannelError):
    """Nothing arrived on a channel (or nothing could be sent) within the time allowed."""


class CommandError(RemoteError):
    """A remote command failed: non-zero exit, killed by a signal, or timed out.

    Keeps only masked text: the argv as a shell would read it and the tail of
    stderr, each with every secret replaced by ``***``.
    """

    def __init__(
        self,
        argv: Sequence[str],
        exit_status: int | None,
        stderr: bytes | str = b"",
        *,
        secrets: Sequence[str] = (),
        timeout: float | None = None,
        host: str | None = None,
        resource: str | None = None,
    ) -> None:
        err = stderr.decode("utf-8", "replace") if isinstance(stderr, bytes) else stderr
        self.argv = [mask_secrets(a, secrets) for a in argv]
        self.command = mask_secrets(shlex.join(argv), secrets)
        self.exit_status = exit_status
        self.stderr_tail = mask_secrets(tail_lines(err), secrets)
        if timeout is not None:
            status = f"timed out after {timeout:g} s (the command was abandoned)"
        elif exit_status is None or exit_status < 0:
            status = "ended without an exit status (killed by a signal?)"
        else:
            status = f"exited with status {exit_status}"
        message = f"command {status}: {self.command}" + _part(f"stderr (last {TAIL_LINES} lines)",
                                                               self.stderr_tail)
        super().__init__(message, host=host, resource=resource)


class UnitUnavailableError(RemoteError):
    """Unit's control socket cannot be reached, or Unit does not answer."""

    def __init__(self, socket_path: str, reason: str, *, host: str | None = None,
                 resource: str | None = None) -> None:
        self.socket_path = socket_path
        self.reason = reason
        message = (
            f"NGINX Unit control socket {socket_path} unavailable: {reason}. Check that unitd "
            "is running (`systemctl status unit`, `ps -C unitd`), that it listens on that "
            "path (its --control option), that sshd allows AllowStreamLocalForwarding, and "
            "that the SSH user may open the socket (it is root-only by default)."
        )
        super().__init__(message, host=host, resource=resource)


class UnitAPIError(RemoteError):
    """The Unit control API answered a request with a non-2xx status."""

    def __init__(
        self,
        method: str,
        path: str,
        status: int,
        error: str | None,
        detail: str | None = None,
        *,
        body: str | None = None,
        log_tail: str | None = None,
        host: str | None = None,
        resource: str | None = None,
    ) -> None:
        self.method = method
        self.path = path
        self.status = status
        self.error = error
        self.detail = detail
        self.log_tail = log_tail
        message = f"Unit API {method} {path} -> {status}: {error or '(no error message)'}"
        if detail:
            message += f" {detail}"
        if body and not error:
            message += f"\n  body: {body[:500]}"
        super().__init__(message + _part("unit.log (last lines)", log_tail), host=host, resource=resource)


class HealthCheckError(RemoteError):
    """The application did not answer as expected after a change."""

    def __init__(
        self,
        url: str,
        status: int | None,
        body: bytes | str = b"",
        *,
        expected: str = "2xx",
        log_tail: str | None = None,
        host: str | None = None,
        resource: str | None = None,
    ) -> None:
        text = body.decode("utf-8", "replace") if isinstance(body, bytes) else body
        self.url = url
        self.status = status
        self.body_snippet = text[:500]
        self.log_tail = log_tail
        got = "no answer" if status is None else f"HTTP {status}"
        message = f"health check {url} failed: expected {expected}, got {got}"
        if self.body_snippet.strip():
            message += f"\n  body: {self.body_snippet.strip()}"
        super().__init__(message + _part("unit.log (last lines)", log_tail), host=host, resource=resource)
