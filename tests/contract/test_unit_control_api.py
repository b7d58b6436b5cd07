"""The control API's answers, row by row of
shared/reference/unit-control-api-observed.md, for the double and a real unitd."""
from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
import pytest

from .conftest import UnitApi, wait_for
from .helpers import (
    APPLY_FAILED,
    DONE,
    EMPTY_CONF,
    NOT_ALLOWED,
    NOT_FOUND,
    assert_reply,
    invalid,
    logged,
    points_nowhere,
    put,
)

# --- the start ------------------------------------------------------------------

def test_initial_config_is_empty(unit_api: UnitApi) -> None:
    assert_reply(unit_api.client.get("/config"), 200, EMPTY_CONF)
    root = unit_api.client.get("/")
    assert root.status_code == 200
    assert set(root.json()) == {"certificates", "config", "status"}
    assert root.json()["certificates"] == {}
    assert root.json()["config"] == EMPTY_CONF


def test_every_answer_is_json_and_closes_the_connection(unit_api: UnitApi) -> None:
    # Unit's controller sends "Connection: close" on every response: a client
    # cannot keep one connection (or one SSH channel) for many requests.
    for response in (unit_api.client.get("/config"), unit_api.client.get("/nope")):
        assert response.headers["content-type"] == "application/json"
        assert response.headers["connection"] == "close"
        assert response.headers["server"].startswith("Unit/1.35")
        assert int(response.headers["content-length"]) == len(response.content)


def test_one_client_many_requests(unit_api: UnitApi) -> None:
    # httpx reconnects after each close; nothing is lost on the way.
    for i in range(30):
        assert_reply(put(unit_api, "/config/settings", {"http": {"idle_timeout": 10 + i}}),
                     200, DONE)
    assert unit_api.client.get("/config/settings/http/idle_timeout").json() == 39


def test_status_reports_the_python_module(unit_api: UnitApi) -> None:
    response = unit_api.client.get("/status")
    assert response.status_code == 200
    status = response.json()
    assert set(status) == {"modules", "connections", "requests", "applications"}
    assert re.fullmatch(r"3\.\d+\.\d+", status["modules"]["python"]["version"])
    assert status["modules"]["python"]["lib"].endswith(".unit.so")
    assert status["connections"] == {"accepted": 0, "active": 0, "idle": 0, "closed": 0}
    assert status["requests"] == {"total": 0}
    assert status["applications"] == {}


def test_start_up_messages(unit_api: UnitApi) -> None:
    # unitd announces itself on the stderr it was started with; unit.log
    # only gets the lines of its processes.
    wait_for(lambda: "unit 1.35.0 started" in unit_api.daemon.stderr_path.read_text(), 5,
             "the start-up line on stderr")
    log = unit_api.log_text()
    assert "unit 1.35.0 started" not in log
    for line in ("discovery started", "controller started", "router started",
                 'module: python '):
        assert line in log


# --- reconfiguration -------------------------------------------------------------

def test_valid_full_put(unit_api: UnitApi) -> None:
    conf = {
        "listeners": {"127.0.0.1:18081": {"pass": "routes"}},
        "routes": [{"match": {"uri": "/static/*"}, "action": {"share": "/srv$uri"}},
                   {"action": {"pass": "applications/flask"}}],
        "applications": {"flask": unit_api.python_app()},
    }
    assert_reply(put(unit_api, "/config", conf), 200, DONE)
    assert_reply(unit_api.client.get("/config"), 200, conf)
    assert_reply(unit_api.client.get("/config/routes/1/action/pass"), 200,
                 "applications/flask")


def test_percent_encoded_listener_names(unit_api: UnitApi) -> None:
    # Clients encode "*:8080"; Unit decodes each path segment.
    assert_reply(put(unit_api, "/config/listeners/%2A%3A18082", {"pass": "routes"}), 200, DONE)
    assert_reply(unit_api.client.get("/config/listeners/*:18082"), 200, {"pass": "routes"})
    assert_reply(unit_api.client.get("/config/listeners/%2A%3A18082/pass"), 200, "routes")
    assert_reply(unit_api.client.delete("/config/listeners/%2A%3A18082"), 200, DONE)
    assert_reply(unit_api.client.get("/config/listeners"), 200, {})


def test_routes_as_an_array_then_named_routes(unit_api: UnitApi) -> None:
    route = [{"action": {"return": 204}}]
    # A name is no index: PUT routes/NAME while routes is an array -> 404.
    assert_reply(put(unit_api, "/config/routes/site", route), 404, NOT_FOUND)
    # Array elements are addressed by index; one past the end appends.
    assert_reply(put(unit_api, "/config/routes/0", route[0]), 200, DONE)
    assert_reply(put(unit_api, "/config/routes/5", route[0]), 404, NOT_FOUND)
    assert_reply(unit_api.client.post("/config/routes", content=json.dumps(route[0])),
                 200, DONE)
    assert_reply(unit_api.client.get("/config/routes"), 200, route * 2)
    assert_reply(put(unit_api, "/config/listeners/*:18083", {"pass": "routes/site"}),
                 400, points_nowhere("routes/site"))

    assert_reply(put(unit_api, "/config/routes", {}), 200, DONE)
    assert_reply(put(unit_api, "/config/routes/site", route), 200, DONE)
    assert_reply(put(unit_api, "/config/listeners/*:18083", {"pass": "routes/site"}), 200, DONE)
    # "routes" alone names the array form only.
    assert_reply(put(unit_api, "/config/listeners/*:18084", {"pass": "routes"}),
                 400, points_nowhere("routes"))
    assert_reply(put(unit_api, "/config/routes", []), 400, points_nowhere("routes/site"))


INVALID_JSON_CASES = [
    # (payload, detail, location)
    (b'{"listeners": {}, "routes": [], "applications": {',
     "Unexpected end of JSON payload.  There's an object without a closing brace (}).",
     {"offset": 49, "line": 1, "column": 50}),
    (b"",
     ("An empty JSON payload isn't allowed.  It must be either a literal (null, true, or "
      "false), a number, a string (in double quotes \"\"), an array (with brackets []), or "
      "an object (with braces {})."),
     {"offset": 0, "line": 1, "column": 1}),
    (b'\n\n  [1, 2',
     "Unexpected end of JSON payload.  There's an array without a closing bracket (]).",
     {"offset": 9, "line": 3, "column": 8}),
    (b'{"a": 1, "a": 2}',
     "Duplicate object member.  All JSON object members must have unique names.",
     {"offset": 9, "line": 1, "column": 10}),
    (b'{"a": 01}',
     "The number is invalid.  Leading zeros are not allowed in JSON numbers.",
     {"offset": 6, "line": 1, "column": 7}),
    (b'{"http": {}} /* unterminated',
     "Unexpected character after the end of a valid JSON value.",
     {"offset": 13, "line": 1, "column": 14}),
    (b'{"\xc3\xa9\xc3\xa9": 1,  x}',
     ("A double quote (\") is expected here.  There must be a valid JSON object member "
      "starts with a name, which is a string enclosed in double quotes."),
     {"offset": 13, "line": 1, "column": 12}),
    (b'"\\ud800"',
     ("Invalid JSON encoding sequence.  This 6-byte sequence does not represent a valid "
      "UTF character."),
     {"offset": 1, "line": 1, "column": 2}),
    (b'{"a": 123456789012345}',
     "The number is too long.  Such a long JSON number value is not supported.",
     {"offset": 6, "line": 1, "column": 7}),
]


@pytest.mark.parametrize("payload,detail,location", INVALID_JSON_CASES)
def test_invalid_json(unit_api: UnitApi, payload: bytes, detail: str,
                      location: dict[str, int]) -> None:
    assert_reply(unit_api.client.put("/config", content=payload), 400,
                 {"error": "Invalid JSON.", "detail": detail, "location": location})
    assert_reply(unit_api.client.get("/config"), 200, EMPTY_CONF)


def test_unit_json_accepts_comments_and_trailing_commas(unit_api: UnitApi) -> None:
    payload = b'/* c */ {"http": {"idle_timeout": 5,}, // x\n}'
    assert_reply(unit_api.client.put("/config/settings", content=payload), 200, DONE)
    assert_reply(unit_api.client.get("/config/settings"), 200, {"http": {"idle_timeout": 5}})


def test_pass_to_a_missing_application(unit_api: UnitApi) -> None:
    missing = points_nowhere("applications/doesnotexist")
    full = {"listeners": {"*:18085": {"pass": "applications/doesnotexist"}},
            "routes": [], "applications": {}}
    assert_reply(put(unit_api, "/config", full), 400, missing)
    assert_reply(put(unit_api, "/config/listeners/*:18085",
                     {"pass": "applications/doesnotexist"}), 400, missing)
    assert_reply(put(unit_api, "/config/routes",
                     [{"action": {"pass": "applications/doesnotexist"}}]), 400, missing)
    assert_reply(unit_api.client.get("/config"), 200, EMPTY_CONF)


@pytest.mark.parametrize("path,value,detail", [
    ("/config/listeners/*:18086", {"pass": "a/b/c/d"},
     'Request "pass" value "a/b/c/d" is invalid.'),
    ("/config/listeners/*:18086", {"pass": "applications/"},
     'Request "pass" value "applications/" is invalid.'),
    ("/config/listeners/*:18086", {"pass": "upstreams/x"},
     'Request "pass" points to invalid location "upstreams/x".'),
    ("/config/listeners/*:18086", {"pass": "$nosuchvar"},
     'Unknown variable "nosuchvar" in the "pass" value.'),
    ("/config/listeners/*:18086", {"pass": 5},
     'The "pass" value must be a string, but not an integer number.'),
    ("/config/listeners/*:18086", "x",
     'The "*:18086" value must be an object, but not a string.'),
    ("/config/listeners/localhost:80", {"pass": "routes"},
     'The listener address "localhost:80" is invalid.'),
    ("/config/listeners/80", {"pass": "routes"},
     'The listener address "80" is invalid.'),
    ("/config/routes", [{"action": {"share": "/srv$urix"}}],
     'Unknown variable "urix" in the "share" value.'),
    ("/config/routes", [{"action": {"pass": "routes", "share": "/x"}}],
     ('The "action" object must have just one of "pass", "return", "share", or "proxy" '
      "options set.")),
    ("/config/routes", [{"action": {}}],
     ('The "action" object must have either "pass", "return", "share", or "proxy" '
      "option set.")),
    ("/config/routes", [{"match": {"uri": "%zz"}, "action": {"return": 404}}],
     'The "match" pattern for "uri" is encoded but is invalid.'),
    ("/config/routes", [{"match": {"uri": "**"}, "action": {"return": 404}}],
     'The "match" pattern must not contain double "*" markers.'),
    ("/config/routes", [{"match": {"source": "10.0.0.0/33"}, "action": {"return": 404}}],
     'The "address" has an invalid CIDR prefix.'),
    ("/config/routes", ["x"], 'The "routes" array must contain only object values.'),
    ("/config/routes", {"site": {}}, 'The "site" value must be an array, but not an object.'),
    ("/config/settings", {"http": {"send_timeout": 1.5}},
     'The "send_timeout" value must be an integer number, but not a fractional number.'),
    ("/config", [], "The configuration must be an object, but not an array."),
])
def test_validation_messages(unit_api: UnitApi, path: str, value: Any, detail: str) -> None:
    assert_reply(put(unit_api, path, value), 400, invalid(detail))
    assert_reply(unit_api.client.get("/config"), 200, EMPTY_CONF)


def _unknown_key_cases() -> list[tuple[str, Any]]:
    route = {"match": {"uri": "/", "bogus": 1}, "action": {"return": 204}}
    return [
        ("/config", {**EMPTY_CONF, "bogus": 1}),
        ("/config/listeners/*:18087", {"pass": "routes", "bogus": 1}),
        ("/config/listeners/*:18087", {"pass": "routes", "tls": {"bogus": 1,
                                                                 "certificate": "x"}}),
        ("/config/routes", [route]),
        ("/config/routes", [{"action": {"return": 204, "bogus": 1}}]),
        ("/config/routes", [{"action": {"share": "/srv", "fallback": {"return": 404,
                                                                      "bogus": 1}}}]),
        ("/config/settings", {"bogus": 1}),
        ("/config/settings", {"http": {"bogus": 1}}),
    ]


@pytest.mark.parametrize("path,value", _unknown_key_cases())
def test_unknown_key(unit_api: UnitApi, path: str, value: Any) -> None:
    assert_reply(put(unit_api, path, value), 400, invalid('Unknown parameter "bogus".'))


@pytest.mark.parametrize("extra", [
    {"bogus": 1},
    {"processes": {"max": 2, "bogus": 1}},
    {"limits": {"timeout": 5, "bogus": 1}},
    {"isolation": {"bogus": True}},
    {"isolation": {"namespaces": {"bogus": True}}},
])
def test_unknown_application_key(unit_api: UnitApi, extra: dict[str, Any]) -> None:
    assert_reply(put(unit_api, "/config/applications/flask", unit_api.python_app(**extra)),
                 400, invalid('Unknown parameter "bogus".'))


@pytest.mark.parametrize("namespace", ["uts", "ipc"])
def test_namespaces_unit_does_not_know(unit_api: UnitApi, namespace: str) -> None:
    app = unit_api.python_app(isolation={"namespaces": {namespace: True}})
    assert_reply(put(unit_api, "/config/applications/flask", app), 400,
                 invalid(f'Unknown parameter "{namespace}".'))


def test_every_python_key_unit_accepts(unit_api: UnitApi) -> None:
    app = unit_api.python_app(
        protocol="wsgi", callable="application", threads=2,
        thread_stack_size=262144, user="nobody", working_directory="/",
        environment={"FLASK_ENV": "production"}, processes={"max": 2, "spare": 0,
                                                             "idle_timeout": 20},
        limits={"timeout": 30, "requests": 1000},
        isolation={"namespaces": {"credential": False, "mount": False, "pid": False,
                                  "network": False, "uname": False, "cgroup": False},
                   "new_privs": False, "automount": {"language_deps": True}},
        stdout="/dev/null", stderr="/dev/null", prefix="/app",
    )
    assert_reply(put(unit_api, "/config/applications/flask", app), 200, DONE)
    assert_reply(unit_api.client.get("/config/applications/flask"), 200, app)


@pytest.mark.parametrize("extra,detail", [
    ({"processes": 0}, 'The "processes" number must be equal to or greater than 1.'),
    ({"processes": {"max": 2, "spare": 3}},
     'The "spare" number must be less than or equal to "max".'),
    ({"threads": 0}, 'The "threads" number must be equal to or greater than 1.'),
    ({"protocol": "cgi"}, 'The "protocol" can either be "wsgi" or "asgi".'),
    ({"prefix": "app"}, 'The "prefix" must be a string beginning with "/".'),
    ({"environment": {"A": 1}}, 'The "A" environment value must be a string.'),
    ({"isolation": {"namespaces": {"credential": "yes"}}},
     'The "credential" value must be a boolean, but not a string.'),
    ({"targets": {"t": {"module": "wsgi"}}},
     'The "module" option is mutually exclusive with the "targets" object.'),
])
def test_application_value_checks(unit_api: UnitApi, extra: dict[str, Any], detail: str) -> None:
    assert_reply(put(unit_api, "/config/applications/flask", unit_api.python_app(**extra)),
                 400, invalid(detail))


def test_application_needs_type_and_module(unit_api: UnitApi) -> None:
    app = unit_api.python_app()
    del app["type"]
    assert_reply(put(unit_api, "/config/applications/flask", app), 400,
                 invalid('Application must have the "type" property set.'))
    app = unit_api.python_app()
    del app["module"]
    assert_reply(put(unit_api, "/config/applications/flask", app), 400,
                 invalid('Required parameter "module" is missing.'))


def test_python_type_names(unit_api: UnitApi) -> None:
    version = unit_api.client.get("/status/modules/python/version").json()
    major, minor = version.split(".")[:2]
    accepted = ["python", f"python {major}", f"python {major}.{minor}", f"python{major}",
                f"python {version}"]
    for n, type_name in enumerate(accepted):
        assert_reply(put(unit_api, f"/config/applications/a{n}",
                         unit_api.python_app(type=type_name)), 200, DONE)
    for type_name in ("python 3.99", f"python {major}.{int(minor) // 10}", "Python", "php"):
        assert_reply(put(unit_api, "/config/applications/bad",
                         unit_api.python_app(type=type_name)), 400,
                     invalid(f'The module to run "{type_name}" is not found among the '
                             "available application modules."))


# --- applications that cannot start ---------------------------------------------

def _broken_app_cases(api: UnitApi) -> list[tuple[dict[str, Any], str]]:
    """(application object, what unit.log says about it)."""
    (api.app_dir / "broken.py").write_text("def application(:\n")
    (api.app_dir / "needsdep.py").write_text("import nonexistentdep\n")
    (api.app_dir / "notcallable.py").write_text("application = 42\n")
    for name in ("broken.py", "needsdep.py", "notcallable.py"):
        (api.app_dir / name).chmod(0o644)
    return [
        (api.python_app(module="nosuch"), 'Python failed to import module "nosuch"'),
        (api.python_app(callable="nope"), 'Python failed to get "nope" from module "wsgi"'),
        (api.python_app(module="broken"), "SyntaxError"),
        (api.python_app(module="needsdep"), "No module named 'nonexistentdep'"),
        (api.python_app(module="notcallable"),
         '"application" in module "notcallable" is not a callable object'),
        (api.python_app(module="json"), 'Python failed to get "application" from module "json"'),
        (api.python_app(home="/nonexistent/venv"), "Failed to initialise config"),
        (api.python_app(home=str(api.app_dir)), "Failed to initialise config"),
        (api.python_app(path="/nonexistent"), 'Python failed to import module "wsgi"'),
        (api.python_app(working_directory="/nonexistent"), "chdir(/nonexistent) failed"),
        (api.python_app(user="nosuchuser"), 'user "nosuchuser" not found'),
        (api.python_app(processes=2, module="nosuch"), 'Python failed to import module'),
        (api.python_app(processes={"max": 2, "spare": 1}, module="nosuch"),
         'Python failed to import module'),
    ]


def test_applications_that_cannot_start(unit_api: UnitApi) -> None:
    for app, log_line in _broken_app_cases(unit_api):
        response = put(unit_api, "/config/applications/flask", app)
        assert (app, response.status_code, response.json()) == (app, 500, APPLY_FAILED)
        assert_reply(unit_api.client.get("/config"), 200, EMPTY_CONF)
        wait_for(logged(unit_api, log_line), 5, f"{log_line!r} in unit.log")
        assert 'failed to apply new conf' in unit_api.log_text()


def test_a_bad_module_starts_when_no_process_is_started(unit_api: UnitApi) -> None:
    # No process at apply time, nothing to fail: success, requests get 503 later.
    for processes in ({"max": 2, "spare": 0}, {"max": 2}):
        app = unit_api.python_app(module="nosuch", processes=processes)
        assert_reply(put(unit_api, "/config/applications/flask", app), 200, DONE)
        assert_reply(unit_api.client.get("/status/applications/flask/processes"), 200,
                     {"running": 0, "starting": 0, "idle": 0})


def test_packages_and_submodules_import(unit_api: UnitApi) -> None:
    pkg = unit_api.app_dir / "webpkg"
    pkg.mkdir()
    pkg.chmod(0o755)
    (pkg / "__init__.py").write_text("from .web import application\n")
    (pkg / "web.py").write_text((unit_api.app_dir / "wsgi.py").read_text())
    for name in ("__init__.py", "web.py"):
        (pkg / name).chmod(0o644)
    for n, module in enumerate(("webpkg", "webpkg.web")):
        assert_reply(put(unit_api, f"/config/applications/p{n}",
                         unit_api.python_app(module=module)), 200, DONE)


def test_external_program_without_libunit_fails_to_start(unit_api: UnitApi) -> None:
    assert_reply(put(unit_api, "/config/applications/ext",
                     {"type": "external", "executable": "/bin/true"}), 500, APPLY_FAILED)


def test_listener_without_pass_fails_to_apply(unit_api: UnitApi) -> None:
    assert_reply(put(unit_api, "/config/listeners/*:18088", {}), 500, APPLY_FAILED)


# --- methods and missing paths ------------------------------------------------------

def test_methods_unit_refuses(unit_api: UnitApi) -> None:
    client = unit_api.client
    assert_reply(client.post("/config/applications", content="{}"), 405, NOT_ALLOWED)
    assert_reply(client.post("/config", content="{}"), 405, NOT_ALLOWED)
    assert_reply(client.patch("/config", content="{}"), 405, NOT_ALLOWED)
    assert_reply(client.patch("/config/applications", content="{}"), 405, NOT_ALLOWED)
    assert_reply(client.put("/status", content="{}"), 405, {"error": "Invalid method."})
    assert_reply(client.delete("/status"), 405, {"error": "Invalid method."})
    assert_reply(client.put("/", content="{}"), 405, {"error": "Invalid method."})
    assert_reply(client.post("/control/applications/x/restart"), 405, NOT_ALLOWED)


@pytest.mark.parametrize("method,path", [
    ("GET", "/config/applications/nope"),
    ("GET", "/config/routes/7"),
    ("GET", "/control"),
    ("GET", "/control/applications/nope/restart"),
    ("GET", "/nope"),
    ("DELETE", "/config/applications/nope"),
    ("DELETE", "/config/listeners/*:18089"),
    ("PUT", "/config/applications/nope/environment"),
])
def test_missing_paths(unit_api: UnitApi, method: str, path: str) -> None:
    response = unit_api.client.request(method, path, content="{}" if method == "PUT" else None)
    assert_reply(response, 404, NOT_FOUND)


def test_delete_twice(unit_api: UnitApi) -> None:
    assert_reply(put(unit_api, "/config/settings", {"http": {}}), 200, DONE)
    assert_reply(unit_api.client.delete("/config/settings"), 200, DONE)
    assert_reply(unit_api.client.delete("/config/settings"), 404, NOT_FOUND)


def test_status_paths(unit_api: UnitApi) -> None:
    assert_reply(unit_api.client.get("/status/nope"), 404, {"error": "Invalid path."})
    version = unit_api.client.get("/status/modules/python/version")
    assert version.status_code == 200 and isinstance(version.json(), str)


def test_path_normalisation(unit_api: UnitApi) -> None:
    assert_reply(put(unit_api, "/config/applications/flask", unit_api.python_app()), 200, DONE)
    app = unit_api.python_app()
    for path in ("/config/applications/flask/", "/config//applications/flask//",
                 "/config/applications/%66lask", "/config/applications/flask?x=1"):
        assert_reply(unit_api.client.get(path), 200, app)
    # %25 stays encoded through the HTTP parser and is decoded once: "%66".
    assert_reply(unit_api.client.get("/config/applications/%2566lask"), 404, NOT_FOUND)


def test_edit_below_a_string_drops_the_connection(unit_api: UnitApi) -> None:
    # Unit 1.35.0's controller crashes (SIGSEGV) on this edit; the client
    # sees the connection close and the configuration stays as it was.
    assert_reply(put(unit_api, "/config/listeners/*:18090", {"pass": "routes"}), 200, DONE)
    with pytest.raises(httpx.RemoteProtocolError):
        put(unit_api, "/config/listeners/*:18090/pass/x", "y")

    def answers() -> bool:
        try:
            listeners = unit_api.client.get("/config/listeners").json()
        except httpx.TransportError:
            return False
        return bool(listeners == {"*:18090": {"pass": "routes"}})

    wait_for(answers, 10, "the controller to answer again")


# --- deleting what is referenced --------------------------------------------------------

def test_delete_a_referenced_application(unit_api: UnitApi) -> None:
    conf = {"listeners": {"*:18091": {"pass": "routes"}},
            "routes": [{"action": {"pass": "applications/flask"}}],
            "applications": {"flask": unit_api.python_app()}}
    assert_reply(put(unit_api, "/config", conf), 200, DONE)
    assert_reply(unit_api.client.delete("/config/applications/flask"), 400,
                 points_nowhere("applications/flask"))
    assert_reply(unit_api.client.delete("/config/applications"), 400,
                 points_nowhere("applications/flask"))
    assert_reply(unit_api.client.get("/config"), 200, conf)
    # Route first, then the application: both go.
    assert_reply(put(unit_api, "/config/routes", []), 200, DONE)
    assert_reply(unit_api.client.delete("/config/applications/flask"), 200, DONE)


def test_delete_the_whole_config(unit_api: UnitApi) -> None:
    assert_reply(unit_api.client.delete("/config"), 200, DONE)
    assert_reply(unit_api.client.get("/config"), 200, {})


# --- status and restarts -----------------------------------------------------------------

@pytest.mark.parametrize("processes,running", [(None, 1), (3, 3),
                                               ({"max": 3, "spare": 2}, 2),
                                               ({"max": 2, "spare": 0}, 0)])
def test_status_of_an_application(unit_api: UnitApi, processes: Any, running: int) -> None:
    app = unit_api.python_app() if processes is None else unit_api.python_app(processes=processes)
    assert_reply(put(unit_api, "/config/applications/flask", app), 200, DONE)
    assert_reply(unit_api.client.get("/status/applications"), 200, {
        "flask": {"processes": {"running": running, "starting": 0, "idle": running},
                  "requests": {"active": 0}}})


def test_restart(unit_api: UnitApi) -> None:
    assert_reply(put(unit_api, "/config/applications/flask", unit_api.python_app()), 200, DONE)
    assert_reply(unit_api.client.get("/control/applications/flask/restart"), 200,
                 {"success": "Ok"})
    assert_reply(unit_api.client.get("/control/applications/flask/restart/"), 200,
                 {"success": "Ok"})
    assert_reply(unit_api.client.get("/control/applications/nope/restart"), 404, NOT_FOUND)
    assert_reply(unit_api.client.get("/control/applications/flask"), 404, NOT_FOUND)
    assert_reply(unit_api.client.post("/control/applications/flask/restart"), 405,
                 NOT_ALLOWED)


def _interpreter_for(version: str) -> str:
    """The interpreter a venv for Unit's module must come from: the system's
    pythonX.Y (the module links against it), not a pyenv shim."""
    short = ".".join(version.split(".")[:2])
    for candidate in (f"/usr/bin/python{short}", f"/usr/local/bin/python{short}"):
        if Path(candidate).exists():
            return candidate
    return getattr(sys, "_base_executable", sys.executable)


def test_home_venv_supplies_packages(unit_api: UnitApi) -> None:
    version = unit_api.client.get("/status/modules/python/version").json()
    venv = unit_api.app_dir / "venv"
    subprocess.run([_interpreter_for(version), "-m", "venv", "--without-pip", str(venv)],
                   check=True, timeout=60)
    site = next(venv.glob("lib/python*/site-packages"))
    (site / "venvonly.py").write_text("MESSAGE = b'from the venv'\n")
    (site / "venvonly.py").chmod(0o644)
    (unit_api.app_dir / "usesvenv.py").write_text(
        "import venvonly\n\n"
        "def application(environ, start_response):\n"
        "    start_response('200 OK', [])\n"
        "    return [venvonly.MESSAGE]\n")
    (unit_api.app_dir / "usesvenv.py").chmod(0o644)

    assert_reply(put(unit_api, "/config/applications/flask",
                     unit_api.python_app(module="usesvenv")), 500, APPLY_FAILED)
    wait_for(logged(unit_api, "No module named 'venvonly'"), 5, "the missing package in unit.log")
    assert_reply(put(unit_api, "/config/applications/flask",
                     unit_api.python_app(module="usesvenv", home=str(venv))), 200, DONE)
