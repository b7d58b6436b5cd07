"""UnitClient against the lab host's Unit control socket, over the SSH channel."""
from __future__ import annotations

import os
import time
from collections.abc import Iterator
from typing import Any

import pytest

from daunit.errors import UnitAPIError, UnitUnavailableError
from daunit.remote.httpchannel import ChannelBackend
from daunit.remote.ssh import SSHSession
from daunit.remote.unit import UnitClient, unit_path
from tests.remote.conftest import lab_socket

pytestmark = pytest.mark.root

# An app Unit accepts without starting a process ("spare": 0), so the test
# needs no Python app on the host (reference: unit-control-api-observed.md).
LAZY_APP = {
    "type": "python",
    "path": "/nonexistent",
    "module": "wsgi",
    "processes": {"max": 1, "spare": 0},
}


def test_unit_path_encodes_each_segment() -> None:
    assert unit_path("/config/listeners/*:80") == "/config/listeners/%2A%3A80"
    assert unit_path(["config", "applications", "my app/1"]) == "/config/applications/my%20app%2F1"
    assert unit_path("/config/routes/r/0/") == "/config/routes/r/0"
    with pytest.raises(ValueError):
        unit_path("config")


@pytest.fixture
def names(unit: UnitClient) -> Iterator[dict[str, str]]:
    """Unique app and listener names; whatever the test leaves is removed."""
    tag = os.urandom(3).hex()
    port = 20000 + int(tag, 16) % 20000
    made = {"app": f"daunit-t.{tag}", "listener": f"*:{port}"}
    yield made
    for path in (["config", "listeners", made["listener"]], ["config", "applications", made["app"]]):
        try:
            unit.delete(path)
        except UnitAPIError:
            pass


def test_get_config(unit: UnitClient) -> None:
    config = unit.get("/config")
    assert {"listeners", "applications"} <= set(config)


def test_put_get_delete_round_trip(unit: UnitClient, names: dict[str, str]) -> None:
    app, listener = names["app"], names["listener"]
    assert unit.put(["config", "applications", app], LAZY_APP) == {"success": "Reconfiguration done."}
    assert unit.get(["config", "applications", app]) == LAZY_APP
    # "*:PORT" travels percent-encoded and Unit stores the decoded name.
    unit.put(f"/config/listeners/{listener}", {"pass": f"applications/{app}"})
    assert unit.get("/config")["listeners"][listener] == {"pass": f"applications/{app}"}
    assert unit.exists(["config", "listeners", listener])
    unit.delete(f"/config/listeners/{listener}")
    unit.delete(["config", "applications", app])
    assert not unit.exists(["config", "applications", app])


def test_missing_path_is_404(unit: UnitClient) -> None:
    with pytest.raises(UnitAPIError) as info:
        unit.get("/config/applications/daunit-no-such-app")
    exc = info.value
    assert (exc.status, exc.error, exc.method) == (404, "Value doesn't exist.", "GET")
    assert exc.path == "/config/applications/daunit-no-such-app"


def test_delete_twice_is_404(unit: UnitClient, names: dict[str, str]) -> None:
    unit.put(["config", "applications", names["app"]], LAZY_APP)
    unit.delete(["config", "applications", names["app"]])
    with pytest.raises(UnitAPIError) as info:
        unit.delete(["config", "applications", names["app"]])
    assert info.value.status == 404


def test_invalid_configuration_is_400_with_detail(unit: UnitClient, names: dict[str, str]) -> None:
    with pytest.raises(UnitAPIError) as info:
        unit.put(["config", "listeners", names["listener"]], {"pass": "applications/daunit-nope"})
    exc = info.value
    assert exc.status == 400 and exc.error == "Invalid configuration."
    assert exc.detail == 'Request "pass" points to invalid location "applications/daunit-nope".'
    assert exc.detail in str(exc) and exc.log_tail is None


def test_unknown_key_is_400(unit: UnitClient, names: dict[str, str]) -> None:
    with pytest.raises(UnitAPIError, match='Unknown parameter \\\\"bogus\\\\"|Unknown parameter "bogus"'):
        unit.put(["config", "applications", names["app"]], {**LAZY_APP, "bogus": 1})


def test_failed_apply_is_500_with_unit_log_tail(unit: UnitClient, names: dict[str, str]) -> None:
    broken = {"type": "python", "path": "/nonexistent", "module": "daunit_missing_module"}
    with pytest.raises(UnitAPIError) as info:
        unit.put(["config", "applications", names["app"]], broken)
    exc = info.value
    assert exc.status == 500 and exc.error == "Failed to apply new configuration."
    assert exc.log_tail is not None and "unit.log" in str(exc)
    assert not unit.exists(["config", "applications", names["app"]])  # all-or-nothing


@pytest.mark.real_unitd
def test_failed_apply_reason_is_in_the_log_tail(unit: UnitClient, names: dict[str, str]) -> None:
    broken = {"type": "python", "path": "/nonexistent", "module": "daunit_missing_module"}
    with pytest.raises(UnitAPIError) as info:
        unit.put(["config", "applications", names["app"]], broken)
    assert 'failed to import module "daunit_missing_module"' in (info.value.log_tail or "")


def test_restart_unknown_app_is_404(unit: UnitClient) -> None:
    with pytest.raises(UnitAPIError) as info:
        unit.restart("daunit-no-such-app")
    assert info.value.status == 404
    assert info.value.path == "/control/applications/daunit-no-such-app/restart"


def test_status(unit: UnitClient) -> None:
    assert "applications" in unit.status()


def test_method_not_allowed(unit: UnitClient) -> None:
    with pytest.raises(UnitAPIError) as info:
        unit.put("/status", {})
    assert info.value.status == 405


def test_missing_socket_is_unavailable(session: SSHSession) -> None:
    path = "/var/run/unit/daunit-missing.sock"
    with UnitClient(session, path) as unit, pytest.raises(UnitUnavailableError) as info:
        unit.get("/config")
    assert info.value.socket_path == path and path in str(info.value)
    assert session.run(["true"]).exit_status == 0  # the SSH connection survives


def test_log_tail(unit: UnitClient) -> None:
    assert isinstance(unit.log_tail(5), str)
    missing = UnitClient(unit.session, unit.socket_path, "/var/log/unit/daunit-missing.log")
    assert missing.log_tail().startswith("(cannot read /var/log/unit/daunit-missing.log")


def test_many_requests_one_ssh_connection(unit: UnitClient, session: SSHSession) -> None:
    """Channels are opened only when the server closes the connection.

    Unit 1.35 answers every control request with ``Connection: close``, so it
    costs a channel per request; a server that keeps the connection (see
    test_kept_alive_server_uses_one_channel) gets exactly one.
    """
    session.connect()
    transport = session._transport
    before = unit.channels_opened
    closes = 0
    for _ in range(30):
        answer = unit.send("GET", "/config")
        assert answer.status == 200
        closes += answer.headers.get("connection", "").lower() == "close"
    opened = unit.channels_opened - before
    assert opened <= closes + 1 and (closes > 0 or opened == 1)
    assert session._transport is transport  # all over one SSH connection


def test_kept_alive_server_uses_one_channel(session: SSHSession, keepalive_socket: str) -> None:
    with UnitClient(session, keepalive_socket) as client:
        answers = [client.get(f"/config/x{i}") for i in range(30)]
        assert client.channels_opened == 1
    assert [a["path"] for a in answers] == [f"/config/x{i}" for i in range(30)]
    assert len({a["conn"] for a in answers}) == 1


def test_lab_socket_default(lab_host: Any) -> None:
    assert lab_socket(lab_host).endswith(".sock")


def test_client_keeps_units_server_header(unit: UnitClient) -> None:
    assert unit.server == ""
    unit.status()
    assert unit.server.startswith("Unit/") and unit.server.split("/", 1)[1][0].isdigit()


@pytest.mark.parametrize("max_age", [10.0, 0.0])
def test_spare_channels_serve_every_request(session: SSHSession, lab_host: Any, max_age: float,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    """With spare, each request takes a channel opened while the previous one ran
    (max_age 0: every spare is too old, so each request opens its own)."""
    monkeypatch.setattr(ChannelBackend, "SPARE_MAX_AGE_S", max_age)
    with UnitClient(session, lab_socket(lab_host)) as plain:
        listeners = plain.get(["config", "listeners"])
    before = session.channels_opened
    with UnitClient(session, lab_socket(lab_host), spare=True) as client:
        answers = [client.get(["config", "listeners"]) for _ in range(10)]
        assert answers == [listeners] * 10
        assert client.channels_opened == 10
        deadline = time.monotonic() + 5
        while session.channels_opened - before < 11 and time.monotonic() < deadline:
            time.sleep(0.01)
    # One spare beyond the ten used; with max_age 0 each used spare was replaced by a new open.
    expected = 11 if max_age else 21
    deadline = time.monotonic() + 5
    while session.channels_opened - before < expected and time.monotonic() < deadline:
        time.sleep(0.01)
    assert session.channels_opened - before == expected


def test_get_or_many_reads_at_once_on_channels_opened_ahead(session: SSHSession, lab_host: Any,
                                                           names: dict[str, str]) -> None:
    with UnitClient(session, lab_socket(lab_host)) as plain:
        plain.put(["config", "applications", names["app"]], LAZY_APP)
    with UnitClient(session, lab_socket(lab_host), spare=True) as client:
        client.open_ahead(3)
        config = client.get("/config")
        answers = client.get_or_many([["config", "applications", names["app"]], "/config/listeners",
                                      "/config/applications/daunit-no-such-app"], default="missing")
        assert answers == [LAZY_APP, config["listeners"], "missing"]
        assert client.channels_opened == 4  # one channel per request


def test_a_spare_channel_never_reconnects_a_closed_connection(session: SSHSession, lab_host: Any) -> None:
    before = lab_host.ssh_connections_accepted()
    client = UnitClient(session, lab_socket(lab_host), spare=True)
    assert isinstance(client.get("/config"), dict)  # and the next spare starts opening
    session.close()
    client.open_ahead(3)  # spares asked for on a closed connection: none may open it again
    time.sleep(0.5)
    client.close()
    assert lab_host.ssh_connections_accepted() - before == 1
