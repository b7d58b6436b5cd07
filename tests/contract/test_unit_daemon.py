"""The daemon around the API: socket, state directory, log, stopping."""
from __future__ import annotations

import stat

from .conftest import Pem, UnitApi
from .helpers import DONE, assert_reply, put


def _mode(path: object) -> int:
    return stat.S_IMODE(path.stat().st_mode)  # type: ignore[attr-defined]


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
