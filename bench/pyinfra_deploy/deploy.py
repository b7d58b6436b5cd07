"""The bench's second baseline (issue 10): the same Flask app(s) deployed with pyinfra.

Run by the bench in pyinfra's own venv, as a pyinfra user types it:

    pyinfra -y inventory.py deploy.py

What it does per app, with pyinfra's own operations, the way its docs write them:
sync the source tree (files.sync, owner = the DirectAdmin user), a 0600
instance/.env (files.put), a venv and `pip install -r requirements.txt`
(pip.packages with a virtualenv, as that user), then Unit through its control
socket with curl: PUT the application and the app's route when their JSON
changed (files.put of the JSON, then curl `_if` it changed), restart the app
when its code or .env changed, then the host's dispatch route and listener,
then a health check. The JSON is the shape this project's providers apply
(built by bench/pyinfra_world.py from daunit.render), with the paths of this
in-place layout:

    APP_DIR/code/                 the synced source (Unit's path and working_directory)
    APP_DIR/code/instance/.env    0600, in a 0700 directory
    APP_DIR/venv/                 Unit's home

pip runs when requirements.txt differs from the copy kept in the venv after
the last install that succeeded (a Sha1File fact), so a no-op does not run
pip, and an install that failed runs again next time. That is kinder to
pyinfra than running `pip install -r` on every deploy.

Host data (from inventory.py): unit_socket, da_user, python, conf_dir,
listener, dispatch_route, dispatch_json, apps: [{name, source, app_dir,
code_dir, venv_dir, env_file, requirements, application_json, route_json,
health_host}].
"""
from __future__ import annotations

import hashlib
import shlex
from io import BytesIO
from typing import Any

from pyinfra import host
from pyinfra.facts.files import Sha1File
from pyinfra.operations import files, pip, server
from pyinfra.operations.util import any_changed

SOCKET: str = host.data.unit_socket
USER: str = host.data.da_user
CONF_DIR: str = host.data.conf_dir  # root's, 0700: root's curl reads nothing a site user can swap


def curl(method: str, path: str, body_file: str | None = None) -> str:
    data = f" --data-binary @{shlex.quote(body_file)}" if body_file else ""
    return (f"curl -fsS -o /dev/null --unix-socket {shlex.quote(SOCKET)} -X {method}{data} "
            f"{shlex.quote('http://localhost' + path)}")


# Named routes live in an object; a fresh Unit has `"routes": []`, below which
# a PUT answers 404. Only an empty or missing one is replaced (Unit ends its
# answers with CRLF).
ROUTES_OBJECT = (f"case \"$(curl -sS --unix-socket {shlex.quote(SOCKET)} http://localhost/config/routes)\" in "
                 f"'[]'*|*\"doesn't exist\"*) curl -fsS -o /dev/null --unix-socket {shlex.quote(SOCKET)} "
                 "-X PUT -d '{}' http://localhost/config/routes;; esac")


def put_json(name: str, text: str, dest: str) -> Any:
    return files.put(name=name, src=BytesIO(text.encode()), dest=dest,
                     user="root", group="root", mode="600")


def health_check(domain: str) -> str:
    return ("i=0; while [ $i -lt 100 ]; do "
            f"curl -fsS -o /dev/null -H {shlex.quote('Host: ' + domain)} http://127.0.0.1/ && exit 0; "
            "i=$((i+1)); sleep 0.3; done; echo 'health check failed' >&2; exit 1")


def sha1_of(path: str) -> str:
    with open(path, "rb") as f:
        return hashlib.sha1(f.read()).hexdigest()


def deploy_app(app: dict[str, Any]) -> list[Any]:
    """One app's code, .env, venv and Unit application + route; returns the
    operations whose change must be followed by a health check."""
    name, code, venv = app["name"], app["code_dir"], app["venv_dir"]
    files.directory(name=f"{name}: app directory", path=app["app_dir"], user=USER, group=USER, mode="755")
    sync = files.sync(name=f"{name}: sync code", src=app["source"], dest=code, user=USER, group=USER,
                      delete=True, exclude_dir=["__pycache__", "*/__pycache__"],
                      # what lives on the host only (.env, logs, the bytecode
                      # Python writes there): kept by delete=True
                      exclude=[f"{code}/instance/*", f"{code}/logs/*", "*/__pycache__/*"])
    files.directory(name=f"{name}: instance directory", path=f"{code}/instance",
                    user=USER, group=USER, mode="700")
    env = files.put(name=f"{name}: instance/.env", src=app["env_file"], dest=f"{code}/instance/.env",
                    user=USER, group=USER, mode="600")
    files.directory(name=f"{name}: logs directory", path=f"{code}/logs", user=USER, group=USER, mode="700")
    installed = f"{venv}/requirements.installed"
    if host.get_fact(Sha1File, path=installed) != sha1_of(app["requirements"]):
        pip.packages(name=f"{name}: venv + pip install -r requirements.txt",
                     requirements=f"{code}/requirements.txt", virtualenv=venv,
                     virtualenv_kwargs={"venv": True, "python": host.data.python},
                     extra_install_args="-q --disable-pip-version-check", _su_user=USER)
        files.put(name=f"{name}: requirements installed", src=app["requirements"], dest=installed,
                  user=USER, group=USER, mode="644")
    conf = f"{CONF_DIR}/{name}-application.json"
    app_json = put_json(f"{name}: Unit application JSON", app["application_json"], conf)
    server.shell(name=f"{name}: PUT Unit application", commands=[curl("PUT", f"/config/applications/{name}", conf)],
                 _if=app_json.did_change)
    server.shell(name=f"{name}: restart Unit application",
                 commands=[curl("GET", f"/control/applications/{name}/restart")],
                 _if=any_changed(sync, env))
    route = f"{CONF_DIR}/{name}-route.json"
    route_json = put_json(f"{name}: Unit route JSON", app["route_json"], route)
    server.shell(name=f"{name}: PUT Unit route", commands=[ROUTES_OBJECT, curl("PUT", f"/config/routes/{name}", route)],
                 _if=route_json.did_change)
    return [sync, env, app_json, route_json]


def main() -> None:
    files.directory(name="Unit JSON directory", path=CONF_DIR, user="root", group="root", mode="700")
    changed: list[tuple[dict[str, Any], list[Any]]] = [(app, deploy_app(app)) for app in host.data.apps]
    dispatch = f"{CONF_DIR}/dispatch.json"
    dispatch_json = put_json("Unit dispatch route JSON", host.data.dispatch_json, dispatch)
    listener = f"{CONF_DIR}/listener.json"
    listener_json = put_json("Unit listener JSON", f'{{"pass":"routes/{host.data.dispatch_route}"}}', listener)
    server.shell(name="PUT Unit dispatch route",
                 commands=[curl("PUT", f"/config/routes/{host.data.dispatch_route}", dispatch)],
                 _if=dispatch_json.did_change)
    server.shell(name="PUT Unit listener",
                 commands=[curl("PUT", f"/config/listeners/{host.data.listener}", listener)],
                 _if=listener_json.did_change)
    for app, ops in changed:
        server.shell(name=f"{app['name']}: health check", commands=[health_check(app["health_host"])],
                     _if=any_changed(*ops))


main()
