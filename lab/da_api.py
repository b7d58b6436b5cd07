"""A DirectAdmin API stand-in on port 2222: `CMD_UNIT` (legacy API), run inside the lab.

    cd REPO && /usr/bin/python3 -E -s -m lab.da_api STATE_DIR

TLS with DirectAdmin's own certificate files (directadmin.conf `cacert`, `cakey`; made by the
lab's CA), HTTP Basic auth with a login key; `admin|USER` with the admin's key acts as USER.
Standard library only.

The requests it answers (list, create, modify, delete, set_route, select_routes) and which
of them DirectAdmin documents and which are our reading of its panel are in ONE table:
docs/directadmin.md, "CMD_UNIT". Answers: 200 {"success": ..., "result": ...}; a refused
request 400 {"error": ..., "result": ...}; a wrong or missing login key 401. The path may
be /CMD_UNIT or /CMD_API_UNIT.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import ssl
import sys
import threading
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, ClassVar

from lab import dactl
from lab.dactl import DAError, DirectAdmin

PATHS = ("/CMD_UNIT", "/CMD_API_UNIT")
_lock = threading.Lock()  # one change at a time, as DirectAdmin's own queue would


def as_strings(value: Any) -> Any:
    """Numbers as DirectAdmin's list returns them: strings (documented: "timeout":"10")."""
    if isinstance(value, bool) or value is None or isinstance(value, str):
        return value
    if isinstance(value, (int, float)):
        return str(value)
    if isinstance(value, list):
        return [as_strings(v) for v in value]
    return {k: as_strings(v) for k, v in value.items()}


def authenticate(header: str | None, keys: dict[str, str], da: DirectAdmin) -> str | None:
    """The DirectAdmin user a request acts as, or None (wrong user, key or form)."""
    if not header or not header.startswith("Basic "):
        return None
    try:
        login, _, key = base64.b64decode(header[6:], validate=True).decode().partition(":")
    except (ValueError, UnicodeDecodeError):
        return None
    account, _, acting = login.partition("|")
    expected = keys.get(account)
    if expected is None or not hmac.compare_digest(expected, hashlib.sha256(key.encode()).hexdigest()):
        return None
    if acting:
        # Only an admin logs in as another account ("admin|user").
        if da.user_conf(account).get("usertype") != "admin" or acting not in da.users():
            return None
        return acting
    return account


class UnitCommands:
    """CMD_UNIT for one acting user (see the module docstring for each request)."""

    def __init__(self, plan: dict[str, Any], da: DirectAdmin, user: str) -> None:
        self.plan, self.da, self.user = plan, da, user
        self.sock = plan["unit"]["socket"]

    def domain(self, fields: dict[str, str]) -> str:
        domain = fields.get("domain", "")
        if not domain:
            raise DAError("domain: missing; give domain=DOMAIN (one of the user's domains)")
        if domain not in self.da.domains(self.user):
            raise DAError(f"domain {domain!r}: not a domain of user {self.user}")
        return domain

    def listing(self, domain: str) -> dict[str, Any]:
        return {"applications": as_strings(self.da.apps(self.user, domain)),
                "routes": self.da.routes(self.user, domain)}

    def one(self, domain: str, name: str) -> dict[str, Any]:
        apps = self.da.apps(self.user, domain)
        if name not in apps:
            raise DAError(f"name {name!r}: no such application on {domain}")
        return {"name": name, "application": as_strings(apps[name])}

    def save_app(self, domain: str, fields: dict[str, str], creating: bool) -> str:
        name = fields.get("name", "")
        if not dactl.NAME_RE.match(name):
            raise DAError(f"name {name!r}: use 1-64 of A-Z a-z 0-9 _ - (starting with a letter or digit)")
        exists = name in self.da.apps(self.user, domain)
        if creating and exists:
            raise DAError(f"name {name!r}: the application exists on {domain}; use action=modify")
        if not creating and not exists:
            raise DAError(f"name {name!r}: no such application on {domain}; use action=create")
        app = _json_field(fields, "json", dict)
        if not isinstance(app.get("type"), str):
            raise DAError('json: the application needs a "type" (e.g. "python 3.11")')
        for key in ("user", "group"):
            # The API runs as root: an app never runs as anyone but the acting user.
            if key in app and app[key] != self.user:
                raise DAError(f'json: "{key}" must be "{self.user}" (or left out), not {app[key]!r}')
        unit_name = dactl.unit_app_name(domain, name)
        status, answer = dactl.unit_request(self.sock, "PUT", f"/config/applications/{_q(unit_name)}", app)
        if status != 200:
            raise DAError(f"Unit refused application {unit_name}: {_unit_error(answer)}")
        self.da.save_app(self.user, domain, name, app)
        return f"Application {name} {'created' if creating else 'modified'}"

    def delete_apps(self, domain: str, names: list[str]) -> str:
        apps = self.da.apps(self.user, domain)
        for name in names:
            if name not in apps:
                raise DAError(f"select: no application {name!r} on {domain}")
        for name in names:
            unit_name = dactl.unit_app_name(domain, name)
            status, answer = dactl.unit_request(self.sock, "DELETE", f"/config/applications/{_q(unit_name)}")
            if status not in (200, 404):
                raise DAError(f"Unit refused to delete {unit_name} (a route still uses it?): "
                              f"{_unit_error(answer)}")
            self.da.save_app(self.user, domain, name, None)
        return f"Deleted {', '.join(names)}"

    def set_routes(self, domain: str, changes: dict[str, list[Any] | None]) -> str:
        for location in changes:
            if not dactl.LOCATION_RE.match(location):
                raise DAError(f"location {location!r}: a URL path such as / or /app")
        before = self.da.routes(self.user, domain).get(domain, {})
        for location, steps in changes.items():
            self.da.save_route(self.user, domain, domain, location, steps)
        try:
            self.apply_routes()
        except DAError:
            for location in changes:
                self.da.save_route(self.user, domain, domain, location, before.get(location))
            self.apply_routes()
            raise
        dactl.rewrite_vhosts(self.plan, self.da)
        return f"Routes of {domain} saved"

    def apply_routes(self) -> None:
        config = dactl.unit_config(self.da)
        for path in ("routes", "listeners"):  # routes first: the listener passes to one
            status, answer = dactl.unit_request(self.sock, "PUT", f"/config/{path}", config[path])
            if status != 200:
                raise DAError(f"Unit refused the routes: {_unit_error(answer)}")


def _q(name: str) -> str:
    return urllib.parse.quote(name, safe="")


def _unit_error(answer: Any) -> str:
    if isinstance(answer, dict):
        return " ".join(str(answer.get(k, "")) for k in ("error", "detail")).strip()
    return str(answer)[:300]


def _json_field(fields: dict[str, str], key: str, kind: type) -> Any:
    try:
        value = json.loads(fields.get(key, ""))
    except ValueError:
        raise DAError(f"{key}: not valid JSON") from None
    if not isinstance(value, kind):
        raise DAError(f"{key}: must be a JSON {'object' if kind is dict else 'array'}")
    return value


def _selected(fields: dict[str, str]) -> list[str]:
    # select0, select1, ... in their numeric order
    picked = [(int(k[6:]), v) for k, v in fields.items() if k.startswith("select") and k[6:].isdigit()]
    return [v for _, v in sorted(picked)]


def handle_post(cmd: UnitCommands, fields: dict[str, str]) -> str:
    domain = cmd.domain(fields)
    action = fields.get("action", "")
    if action in ("create", "modify"):
        return cmd.save_app(domain, fields, creating=action == "create")
    if action == "set_route":
        steps = _json_field(fields, "routes", list) if fields.get("routes", "").strip() else None
        return cmd.set_routes(domain, {fields.get("location", ""): steps or None})
    if action == "select_routes" and fields.get("delete"):
        return cmd.set_routes(domain, dict.fromkeys(_selected(fields)))
    if fields.get("delete") and not action:
        return cmd.delete_apps(domain, _selected(fields))
    raise DAError(f"action {action!r}: use create, modify, set_route, select_routes, "
                  "or delete=yes with select0=NAME")


class Handler(BaseHTTPRequestHandler):
    server_version = "DirectAdmin-lab"
    # Set once by serve(), before the first request.
    plan: ClassVar[dict[str, Any]] = {}
    keys: ClassVar[dict[str, str]] = {}
    da: ClassVar[DirectAdmin] = DirectAdmin()

    def do_GET(self) -> None:
        self._serve(dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(self.path).query)), post=False)

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length).decode(errors="replace")
        fields = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(self.path).query))
        fields.update(urllib.parse.parse_qsl(body, keep_blank_values=True))
        self._serve(fields, post=True)

    def _serve(self, fields: dict[str, str], post: bool) -> None:
        user = authenticate(self.headers.get("Authorization"), self.keys, self.da)
        if user is None:
            self._answer(401, {"error": "Unauthorized", "result": "wrong user name or login key"},
                         {"WWW-Authenticate": 'Basic realm="DirectAdmin"'})
            return
        if urllib.parse.urlsplit(self.path).path not in PATHS:
            self._answer(404, {"error": "Not found", "result": "the lab's DirectAdmin answers CMD_UNIT only"})
            return
        cmd = UnitCommands(self.plan, self.da, user)
        try:
            with _lock:
                self._answer(200, self._result(cmd, fields, post))
        except (DAError, OSError) as exc:
            self._answer(400, {"error": "Cannot complete the request", "result": str(exc)})

    @staticmethod
    def _result(cmd: UnitCommands, fields: dict[str, str], post: bool) -> dict[str, Any]:
        if post:
            return {"success": handle_post(cmd, fields), "result": ""}
        domain = cmd.domain(fields)
        if fields.get("action") == "modify":
            return cmd.one(domain, fields.get("name", ""))
        return cmd.listing(domain)

    def _answer(self, status: int, body: dict[str, Any], headers: dict[str, str] | None = None) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        for key, value in {"Content-Type": "application/json", **(headers or {})}.items():
            self.send_header(key, value)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format: str, *args: Any) -> None:  # the base class names it `format`
        # No query strings in the log: json= may carry an app's environment.
        sys.stderr.write(f"{self.address_string()} {self.command} {urllib.parse.urlsplit(self.path).path} "
                         f"{args[1] if len(args) > 1 else ''}\n")


def serve(state: Path) -> None:
    plan = json.loads((state / "plan.json").read_text())
    da = DirectAdmin()
    Handler.plan, Handler.da = plan, da
    Handler.keys = json.loads((da.root / "conf" / "lab_login_keys.json").read_text())
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    config = da.config()  # DirectAdmin's own TLS files are named in directadmin.conf
    context.load_cert_chain(config.get("cacert", f"{dactl.DA_ROOT}/conf/cacert.pem"),
                            config.get("cakey", f"{dactl.DA_ROOT}/conf/cakey.pem"))
    server = ThreadingHTTPServer((plan["address"], int(config.get("port", "2222"))), Handler)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    server.serve_forever()


if __name__ == "__main__":
    serve(Path(sys.argv[1]))
