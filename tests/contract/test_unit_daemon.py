"""The daemon around the API: socket, state directory, log, stopping."""
from __future__ import annotations

import stat

from .conftest import Pem, UnitApi, wait_for
from .helpers import DONE, EMPTY_CONF, assert_reply, put


def _mode(path: object) -> int:
    return stat.S_IMODE(path.stat().st_mode)  # type: ignore[attr-defined]


def _stored(api: UnitApi, marker: bytes) -> bytes:
    """conf.json once it holds marker: unitd answers the PUT first and has
    its main process write the file a moment later."""
    path = api.daemon.state_dir / "conf.json"
    wait_for(lambda: path.exists() and marker in path.read_bytes(), 5, "conf.json")
    return path.read_bytes()


def test_control_socket_is_private(unit_api: UnitApi) -> None:
    control = unit_api.daemon.control
    assert stat.S_ISSOCK(control.stat().st_mode)
    assert _mode(control) == 0o600


def test_config_and_certificates_survive_a_restart(unit_api: UnitApi,
                                                   localhost_cert: Pem) -> None:
    assert_reply(unit_api.client.put("/certificates/site", content=localhost_cert.bundle),
                 200, {"success": "Certificate chain uploaded."})
    conf = {"listeners": {"127.0.0.1:18200": {"pass": "routes/site",
                                              "tls": {"certificate": "site"}}},
            "routes": {"site": [{"action": {"pass": "applications/flask"}}]},
            "applications": {"flask": unit_api.python_app(environment={"A": "1"})}}
    assert_reply(put(unit_api, "/config", conf), 200, DONE)
    certificates = unit_api.client.get("/certificates").json()
    _stored(unit_api, b"18200")

    state = unit_api.daemon.state_dir
    assert _mode(state / "conf.json") == 0o600
    assert _mode(state / "certs" / "site") == 0o600
    assert (state / "certs" / "site").read_bytes() == localhost_cert.bundle

    unit_api.daemon.stop()
    unit_api.daemon.start()
    assert_reply(unit_api.client.get("/config"), 200, conf)
    assert_reply(unit_api.client.get("/certificates"), 200, certificates)
    assert unit_api.client.get("/status/applications/flask/processes/running").json() == 1


def test_sigterm_removes_the_socket(unit_api: UnitApi) -> None:
    unit_api.daemon.stop()
    assert not unit_api.daemon.control.exists()
    assert not unit_api.daemon.pid_file.exists()


def test_a_stored_config_that_cannot_start_is_dropped(unit_api: UnitApi) -> None:
    # At start-up Unit applies conf.json; if an application cannot start, it
    # runs with the empty configuration instead (conf.json stays on disk).
    conf = {"listeners": {"127.0.0.1:18201": {"pass": "applications/flask"}},
            "routes": [], "applications": {"flask": unit_api.python_app()}}
    assert_reply(put(unit_api, "/config", conf), 200, DONE)
    stored = _stored(unit_api, b"18201")
    unit_api.daemon.stop()
    (unit_api.app_dir / "wsgi.py").write_text("def application(:\n")
    unit_api.daemon.start()
    assert_reply(unit_api.client.get("/config"), 200, EMPTY_CONF)
    assert "failed to apply previous configuration" in unit_api.log_text()
    assert (unit_api.daemon.state_dir / "conf.json").read_bytes() == stored
