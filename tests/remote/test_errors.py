"""The error hierarchy and its messages (pure: no host needed)."""
from __future__ import annotations

import pickle

import pytest

from daunit.errors import (
    CommandError,
    ConfigError,
    ConnectError,
    DeployError,
    HealthCheckError,
    HostKeyError,
    RemoteError,
    UnitAPIError,
    UnitUnavailableError,
    mask_secrets,
    tail_lines,
)


def test_hierarchy() -> None:
    assert issubclass(ConfigError, DeployError)
    assert issubclass(RemoteError, DeployError)
    for cls in (HostKeyError, ConnectError, CommandError, UnitAPIError, UnitUnavailableError, HealthCheckError):
        assert issubclass(cls, RemoteError)


def test_host_and_resource_in_str() -> None:
    exc = DeployError("boom", host="10.77.1.2", resource="Release flask")
    assert str(exc) == "[resource Release flask, host 10.77.1.2] boom"
    assert str(DeployError("plain")) == "plain"
    exc.resource = None  # providers fill in the resource after the fact
    assert str(exc) == "[host 10.77.1.2] boom"


def test_mask_secrets_longest_first_and_ignores_empty() -> None:
    assert mask_secrets("pw=abc abcdef", ["abc", "abcdef", ""]) == "pw=*** ***"
    assert mask_secrets("nothing", []) == "nothing"


def test_tail_lines() -> None:
    text = "\n".join(f"l{i}" for i in range(1, 51)) + "\n\n"
    assert tail_lines(text).splitlines() == [f"l{i}" for i in range(31, 51)]


def test_command_error_masks_argv_and_stderr_and_keeps_tail() -> None:
    stderr = "".join(f"line{i}\n" for i in range(1, 41)) + "denied for s3cret\n"
    exc = CommandError(["sh", "-c", "echo $1", "sh", "s3cret value"], 3, stderr.encode(),
                       secrets=["s3cret"], host="h")
    text = str(exc)
    assert "s3cret" not in text and "s3cret" not in repr(exc.__dict__)
    assert "sh -c 'echo $1' sh '*** value'" in text
    assert "exited with status 3" in text
    assert "denied for ***" in text and "line40" in text and "line21\n" not in text + "\n"
    assert exc.exit_status == 3 and exc.argv[-1] == "*** value"


def test_command_error_timeout_and_signal() -> None:
    assert "timed out after 2 s" in str(CommandError(["sleep", "9"], None, b"", timeout=2))
    assert "without an exit status" in str(CommandError(["x"], -1, b""))


def test_host_key_error_says_what_and_how() -> None:
    exc = HostKeyError("10.77.1.2", 22, "ssh-ed25519", "SHA256:abc", "10.77.1.2 ssh-ed25519 AAAA",
                       ["ssh-ed25519 SHA256:old"])
    text = str(exc)
    assert "MISMATCH" in text and "SHA256:abc" in text and "SHA256:old" in text
    assert "10.77.1.2 ssh-ed25519 AAAA" in text and "ssh-keygen -lf" in text
    assert "no pinned host key" in str(HostKeyError("h", 22, "t", "SHA256:x", "h t K"))


def test_unit_errors() -> None:
    exc = UnitAPIError("PUT", "/config/listeners/%2A%3A80", 400, "Invalid configuration.",
                       'Request "pass" points to invalid location "applications/x".')
    assert "PUT /config/listeners/%2A%3A80 -> 400: Invalid configuration. Request" in str(exc)
    exc = UnitAPIError("PUT", "/config", 500, "Failed to apply new configuration.", log_tail="a\nb")
    assert "unit.log" in str(exc) and "    b" in str(exc)
    exc2 = UnitUnavailableError("/var/run/unit/control.sock", "connect failed", host="h")
    assert "/var/run/unit/control.sock" in str(exc2) and "unitd" in str(exc2)


def test_health_check_error() -> None:
    exc = HealthCheckError("http://example.test/", 503, b"Service Unavailable" * 100, log_tail="x")
    assert "HTTP 503" in str(exc) and len(exc.body_snippet) == 500


@pytest.mark.parametrize("exc", [
    DeployError("m", host="h", resource="r"),
    CommandError(["a"], 1, b"e", host="h"),
    UnitAPIError("GET", "/x", 404, "Value doesn't exist."),
    ConnectError("h", 22, "refused", "check"),
    HostKeyError("h", 22, "t", "f", "line"),
])
def test_errors_pickle(exc: DeployError) -> None:
    copy = pickle.loads(pickle.dumps(exc))
    assert type(copy) is type(exc) and str(copy) == str(exc)
