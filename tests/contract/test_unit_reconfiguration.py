"""Which configuration changes restart an application.

Observable on both implementations through unit.log (one '"NAME" application
started' line per started process).  On the real daemon the tests also
compare worker PIDs: the reference's statements are about processes, which
the double does not have.
"""
from __future__ import annotations

import json
import time

from .conftest import UnitApi, wait_for
from .helpers import APPLY_FAILED, DONE, assert_reply, put

SETTLE = 0.5  # let a real daemon finish logging before asserting "nothing changed"


def _configure(api: UnitApi, app: dict[str, object]) -> None:
    conf = {"listeners": {"127.0.0.1:18100": {"pass": "routes/site"}},
            "routes": {"site": [{"action": {"pass": "applications/flask"}}]},
            "applications": {"flask": app}}
    assert_reply(put(api, "/config", conf), 200, DONE)
    wait_for(lambda: api.started("flask") >= 2, 10, "flask's workers")


def _workers(api: UnitApi) -> set[int] | None:
    if api.kind != "real":
        return None
    pids: set[int] = set()

    def found() -> bool:
        pids.clear()
        pids.update(api.worker_pids("flask"))
        return len(pids) == 2

    wait_for(found, 10, "two flask workers")
    return set(pids)


def _assert_unchanged(api: UnitApi, started: int, workers: set[int] | None) -> None:
    time.sleep(SETTLE)
    assert api.started("flask") == started
    if workers is not None:
        assert api.worker_pids("flask") == workers


def _assert_restarted(api: UnitApi, started: int, workers: set[int] | None) -> None:
    wait_for(lambda: api.started("flask") >= started + 2, 10, "flask restarted")
    if workers is not None:
        wait_for(lambda: len(api.worker_pids("flask")) == 2
                 and not api.worker_pids("flask") & workers, 10, "all new worker PIDs")


def test_identical_put_restarts_nothing(unit_api: UnitApi) -> None:
    app = unit_api.python_app(processes=2, environment={"A": "1", "B": "2"})
    _configure(unit_api, app)
    started, workers = unit_api.started("flask"), _workers(unit_api)
    assert_reply(put(unit_api, "/config/applications/flask", app), 200, DONE)
    _assert_unchanged(unit_api, started, workers)


def test_same_object_with_keys_reordered_restarts(unit_api: UnitApi) -> None:
    app = unit_api.python_app(processes=2, environment={"A": "1", "B": "2"})
    _configure(unit_api, app)
    started, workers = unit_api.started("flask"), _workers(unit_api)
    reordered = dict(reversed(list(app.items())))
    assert json.loads(json.dumps(reordered)) == app  # equal as JSON, not as text
    assert_reply(put(unit_api, "/config/applications/flask", reordered), 200, DONE)
    _assert_restarted(unit_api, started, workers)


def test_environment_change_restarts(unit_api: UnitApi) -> None:
    _configure(unit_api, unit_api.python_app(processes=2, environment={"A": "1"}))
    started, workers = unit_api.started("flask"), _workers(unit_api)
    assert_reply(put(unit_api, "/config/applications/flask/environment", {"A": "2"}),
                 200, DONE)
    _assert_restarted(unit_api, started, workers)


def test_route_and_listener_changes_leave_the_app_alone(unit_api: UnitApi) -> None:
    _configure(unit_api, unit_api.python_app(processes=2))
    started, workers = unit_api.started("flask"), _workers(unit_api)
    route = [{"match": {"uri": "/static/*"}, "action": {"share": "/srv$uri"}},
             {"action": {"pass": "applications/flask"}}]
    assert_reply(put(unit_api, "/config/routes/site", route), 200, DONE)
    assert_reply(put(unit_api, "/config/listeners/127.0.0.1:18101",
                     {"pass": "routes/site"}), 200, DONE)
    assert_reply(unit_api.client.delete("/config/listeners/127.0.0.1:18100"), 200, DONE)
    _assert_unchanged(unit_api, started, workers)


def test_failed_put_keeps_the_old_application(unit_api: UnitApi) -> None:
    app = unit_api.python_app(processes=2)
    _configure(unit_api, app)
    workers = _workers(unit_api)
    before = unit_api.client.get("/config").json()
    assert_reply(put(unit_api, "/config/applications/flask/module", "nosuch"), 500,
                 APPLY_FAILED)
    assert unit_api.client.get("/config").json() == before
    assert unit_api.client.get("/status/applications/flask/processes/running").json() == 2
    if workers is not None:
        time.sleep(SETTLE)
        assert unit_api.worker_pids("flask") == workers


def test_restart_replaces_every_worker(unit_api: UnitApi) -> None:
    _configure(unit_api, unit_api.python_app(processes=2))
    started, workers = unit_api.started("flask"), _workers(unit_api)
    assert_reply(unit_api.client.get("/control/applications/flask/restart"), 200,
                 {"success": "Ok"})
    _assert_restarted(unit_api, started, workers)


def test_restart_with_broken_code_still_answers_ok(unit_api: UnitApi) -> None:
    _configure(unit_api, unit_api.python_app(processes=2))
    (unit_api.app_dir / "wsgi.py").write_text("def application(:\n")
    assert_reply(unit_api.client.get("/control/applications/flask/restart"), 200,
                 {"success": "Ok"})
    wait_for(lambda: "SyntaxError" in unit_api.log_text(), 10, "the SyntaxError in unit.log")

    def no_workers() -> bool:
        running = unit_api.client.get("/status/applications/flask/processes/running").json()
        return bool(running == 0)

    wait_for(no_workers, 10, "no running workers")
    if unit_api.kind == "real":
        wait_for(lambda: not unit_api.worker_pids("flask"), 10, "the old workers to exit")
