"""Where the deploy runs from never leaks into what is deployed.

The same stack run from another laptop or from CI has its SSH key and the
app's source at other local paths: that alone is no change, and each machine
connects with its own key.
"""
from __future__ import annotations

from typing import Any

import pytest

from daunit.providers.base import KEY_FILE_ENV, connection_input, target_of
from daunit.providers.release import ReleaseProvider
from daunit.providers.unit_app import UnitApplicationProvider
from daunit.providers.unit_cert import UnitCertificateProvider

PIN = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIK0wmN/Cr3JXqmLW7u+g9pTh+wyqDHpSQEIQczXkVx9q"


def _connection(key_file: str | None) -> dict[str, Any]:
    return connection_input("10.77.1.2", 22, "root", PIN, key_file)


def _release(key_file: str, source: str, files: dict[str, str]) -> dict[str, Any]:
    return {"connection": _connection(key_file), "appDir": "/home/u/domains/d/public_html/a",
            "user": "u", "releaseId": "r1", "files": files, "source": source,
            "entryPoint": "wsgi.py", "releaseDir": "/x", "filesSent": 1, "bytesSent": 2}


def test_another_key_path_and_checkout_is_no_change() -> None:
    olds = _release("/home/alice/.ssh/id_ed25519", "/home/alice/src/shop", {"wsgi.py": "a"})
    news = _release("/home/runner/.ssh/deploy", "/builds/shop", {"wsgi.py": "a"})
    result = ReleaseProvider().diff("id", olds, news)
    assert result.changes is False
    assert result.replaces == []


def test_content_change_is_still_a_change_from_another_machine() -> None:
    olds = _release("/home/alice/.ssh/id_ed25519", "/home/alice/src/shop", {"wsgi.py": "a"})
    news = _release("/home/runner/.ssh/deploy", "/builds/shop", {"wsgi.py": "b"})
    result = ReleaseProvider().diff("id", olds, news)
    assert result.changes is True


def test_the_host_address_still_replaces() -> None:
    olds = _release("~/.ssh/k", "/s", {"wsgi.py": "a"})
    news = _release("~/.ssh/k", "/s", {"wsgi.py": "a"})
    news["connection"] = connection_input("10.77.9.2", 22, "root", PIN, "~/.ssh/k")
    assert ReleaseProvider().diff("id", olds, news).replaces == ["connection"]


def test_source_is_deployed_content_for_a_certificate() -> None:
    """`source` is machine-local only for a Release: a certificate's
    `source` (config or directadmin) is what it deploys."""
    base = {"connection": _connection("~/.ssh/k"), "app": "a", "listener": "*:443",
            "domain": "d.example", "dispatchRoute": "r", "socket": "/s"}
    olds = {**base, "source": "config"}
    news = {**base, "source": "directadmin"}
    assert UnitCertificateProvider().diff("id", olds, news).changes is True


def test_a_key_only_change_does_not_restart_the_unit_app() -> None:
    base = {"name": "a", "socket": "/s", "config": {"type": "python 3.11"}}
    olds = {**base, "connection": _connection("/home/alice/.ssh/id")}
    news = {**base, "connection": _connection("/home/bob/.ssh/id")}
    assert UnitApplicationProvider().diff("id", olds, news).changes is False


def test_key_override_wins(monkeypatch: pytest.MonkeyPatch, tmp_path: Any) -> None:
    key = tmp_path / "ci_key"
    key.write_text("not read here")
    monkeypatch.setenv(KEY_FILE_ENV, str(key))
    target = target_of({"connection": _connection("/home/alice/.ssh/id_ed25519")})
    assert target.key_file == str(key)
    assert target.agent_enabled is False


def test_key_override_agent(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(KEY_FILE_ENV, "agent")
    target = target_of({"connection": _connection("/home/alice/.ssh/id_ed25519")})
    assert target.key_file is None
    assert target.agent_enabled is True


def test_key_from_another_machine_falls_back_to_the_agent(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(KEY_FILE_ENV, raising=False)
    monkeypatch.setenv("SSH_AUTH_SOCK", "/tmp/agent.sock")
    target = target_of({"connection": _connection("/nonexistent/alice/.ssh/id_ed25519")})
    assert target.key_file is None
    assert target.agent_enabled is True


def test_key_from_another_machine_without_agent_keeps_the_path(monkeypatch: pytest.MonkeyPatch) -> None:
    """No agent: the missing path stays, so the error names it and the override."""
    monkeypatch.delenv(KEY_FILE_ENV, raising=False)
    monkeypatch.delenv("SSH_AUTH_SOCK", raising=False)
    target = target_of({"connection": _connection("/nonexistent/alice/.ssh/id_ed25519")})
    assert target.key_file == "/nonexistent/alice/.ssh/id_ed25519"
