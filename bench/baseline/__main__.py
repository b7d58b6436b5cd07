"""Baseline for the benchmarks: the same Flask app(s) deployed the way Pulumi's
own docs suggest, with pulumi-command's CopyToRemote and remote Command.

`bench:provider` says on what: "pulumi-command" (the real provider, v1.2.1,
through its Python SDK; the bench picks it when the engine has the plugin) or
"stand-in" (standin.py: the same steps in a dynamic provider, for machines
where the provider cannot be had). Per app, as a docs reader would write it: a Command making the app
directory, CopyToRemote of the source directory, a Command building the venv
and writing .env (`python3 -m venv`, `pip install -r`), a Command PUTting the
Unit application with curl and restarting it, and after the host's route
Command, a health-check Command. Every per-app step has `triggers` on a hash
of the app's source directory, so any change re-runs all of them.

Stack config (namespace `bench`): host {address, port, hostKey, keyFile,
daUser}, apps [{name, domain, source}], secretKey (secret).
"""
from __future__ import annotations

import hashlib
import json
import os
import shlex
from typing import Any

import pulumi
from pulumi.dynamic import Resource
from standin import CommandProvider, CopyToRemoteProvider  # type: ignore[import-not-found]

SOCKET = "/var/run/unit/control.sock"


REAL = pulumi.Config("bench").get("provider") == "pulumi-command"


class StandInCommand(Resource):
    def __init__(self, name: str, props: dict[str, Any],
                 opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__(CommandProvider(), name,
                         {"update": None, "delete": None, "stdin": None, "triggers": None,
                          **props, "stdout": None, "stderr": None}, opts)


class StandInCopyToRemote(Resource):
    files_sent: pulumi.Output[int]

    def __init__(self, name: str, props: dict[str, Any],
                 opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__(CopyToRemoteProvider(), name,
                         {"triggers": None, **props, "filesSent": None, "bytesSent": None}, opts)


def _connection(conn: dict[str, Any]) -> Any:
    from pulumi_command import remote

    with open(conn["keyFile"]) as f:
        key = f.read()
    # The provider reads the pin as an authorized_keys line: "TYPE BASE64".
    fields = conn["hostKey"].split()
    at = next(i for i, f in enumerate(fields) if f.startswith(("ssh-", "ecdsa-")))
    return remote.ConnectionArgs(host=conn["host"], port=conn["port"], user=conn["user"],
                                 private_key=pulumi.Output.secret(key),
                                 host_key=" ".join(fields[at:at + 2]))


def Command(name: str, props: dict[str, Any],
            opts: pulumi.ResourceOptions | None = None) -> Any:
    if not REAL:
        return StandInCommand(name, props, opts)
    from pulumi_command import remote

    return remote.Command(name, connection=_connection(props["connection"]),
                          create=props["create"], stdin=props.get("stdin"),
                          triggers=props.get("triggers"), opts=opts)


def CopyToRemote(name: str, props: dict[str, Any],
                 opts: pulumi.ResourceOptions | None = None) -> Any:
    if not REAL:
        return StandInCopyToRemote(name, props, opts)
    from pulumi_command import remote

    return remote.CopyToRemote(name, connection=_connection(props["connection"]),
                               source=pulumi.FileArchive(props["source"]),
                               remote_path=props["remotePath"],
                               triggers=props.get("triggers"), opts=opts)


def dir_hash(path: str) -> str:
    """What Pulumi's archive hash of the directory stands for: any byte changes it."""
    h = hashlib.sha256()
    for root, dirs, names in os.walk(path):
        dirs.sort()
        for name in sorted(names):
            full = os.path.join(root, name)
            h.update(os.path.relpath(full, path).encode() + b"\0")
            with open(full, "rb") as f:
                h.update(hashlib.sha256(f.read()).digest())
    return h.hexdigest()


def curl(method: str, path: str, body: Any | None = None) -> str:
    data = f" --data-binary {shlex.quote(json.dumps(body))}" if body is not None else ""
    return f"curl -fsS --unix-socket {SOCKET} -X {method}{data} 'http://localhost{path}'"


def main() -> None:
    config = pulumi.Config("bench")
    host = config.require_object("host")
    apps = config.require_object("apps")
    secret_key = config.require_secret("secretKey")
    user = host["daUser"]
    conn = {"host": host["address"], "port": host["port"], "user": "root",
            "hostKey": host["hostKey"], "keyFile": host["keyFile"]}

    units, healths, routes = [], [], []
    for app in apps:
        name, domain, source = app["name"], app["domain"], app["source"]
        app_dir = f"/home/{user}/domains/{domain}/public_html/{name}"
        code = f"{app_dir}/{os.path.basename(source.rstrip('/'))}"
        venv = f"{app_dir}/venv"
        digest = dir_hash(source)
        prepare = Command(f"{name}-prepare", {"connection": conn,
                                              "create": f"mkdir -p {shlex.quote(app_dir)}"})
        copy = CopyToRemote(f"{name}-copy", {
            "connection": conn, "source": source, "sourceHash": digest,
            "remotePath": app_dir, "triggers": [digest]},
            pulumi.ResourceOptions(depends_on=[prepare]))
        setup = Command(f"{name}-setup", {
            "connection": conn,
            "create": " && ".join([
                f"mkdir -p {code}/instance",
                f"(umask 077; cat > {code}/instance/.env)",
                f"chown -R {user}:{user} {app_dir}",
                f"runuser -u {user} -- env HOME=/home/{user} python3 -m venv {venv}",
                (f"runuser -u {user} -- env HOME=/home/{user} {venv}/bin/pip install -q "
                 f"--disable-pip-version-check -r {code}/requirements.txt"),
            ]),
            "stdin": secret_key.apply(lambda k: f"SECRET_KEY={k}\n"),
            "triggers": [digest]},
            pulumi.ResourceOptions(depends_on=[copy]))
        application = {
            "type": "python 3.11", "path": code, "home": venv, "module": "wsgi",
            "callable": "application", "working_directory": code, "user": user, "group": user,
            "environment": {"FLASK_CONFIG": "production", "GREETING": "first greeting",
                            "PYTHONPATH": code},
            "processes": {"max": 2, "spare": 1}, "threads": 1,
        }
        units.append(Command(f"{name}-unit", {
            "connection": conn,
            "create": " && ".join([
                curl("PUT", f"/config/applications/{name}", application),
                curl("GET", f"/control/applications/{name}/restart"),
            ]),
            "triggers": [digest]},
            pulumi.ResourceOptions(depends_on=[setup])))
        hosts = [domain, f"www.{domain}"]
        routes += [{"match": {"host": hosts, "uri": "/static/*"}, "action": {"share": f"{code}/app$uri"}},
                   {"match": {"host": hosts}, "action": {"pass": f"applications/{name}"}}]
        healths.append((name, domain, digest))

    route = Command("routes", {
        "connection": conn,
        "create": " && ".join([curl("PUT", "/config/routes", routes),
                               curl("PUT", "/config/listeners", {"*:80": {"pass": "routes"}})]),
        "triggers": [hashlib.sha256(json.dumps(routes).encode()).hexdigest()]},
        pulumi.ResourceOptions(depends_on=units))
    for (name, domain, digest), unit in zip(healths, units, strict=True):
        Command(f"{name}-health", {
            "connection": conn,
            "create": ("i=0; while [ $i -lt 100 ]; do "
                       f"curl -fsS -o /dev/null -H {shlex.quote('Host: ' + domain)} http://127.0.0.1/ "
                       "&& exit 0; i=$((i+1)); sleep 0.3; done; echo 'health check failed' >&2; exit 1"),
            "triggers": [digest]},
            pulumi.ResourceOptions(depends_on=[route, unit]))


main()
