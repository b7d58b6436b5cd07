"""The lab's DirectAdmin machinery, run inside the lab (standard library only).

    cd REPO && /usr/bin/python3 -E -s -m lab.dactl STATE_DIR COMMAND [ARGS]

Commands (each what DirectAdmin does on a real server, see docs/directadmin.md):
    refill          the `nginx_unit` rewrite task: Unit's config replaced from DirectAdmin's
                    stored apps (domains/DOMAIN.unit/APP.json) and routes (DOMAIN.routes/HOST)
    rewrite-vhosts  regenerate every user's vhost file for the front server and reload it
    rewrite-confs   `da build rewrite_confs`: refill (when Unit is enabled and its socket
                    exists), then rewrite-vhosts
    unit-checks     after a unitd start: refill when Unit's listeners are empty or unreadable
    da ARGS         the `directadmin` binary's `config-get KEY`, `taskq --run TASK`, `build ...`

The same module is imported by the API stand-in (lab/da_api.py) and, for reading the
tree, by tests on this machine (DirectAdmin(root=<host path>)).
"""

from __future__ import annotations

import http.client
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.parse
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lab import processes, vhosts

DA_ROOT = "/usr/local/directadmin"
DISPATCH_ROUTE = "da_dispatch"
NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$")
LOCATION_RE = re.compile(r"^(?!.*/\.\.?(/|$))/([A-Za-z0-9._~-]+/?)*$")  # no . or .. segments
HOST_RE = re.compile(r"^(?=.{1,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$")


class DAError(Exception):
    """A DirectAdmin operation refused or failed; the message says what to fix."""


def read_kv(path: Path) -> dict[str, str]:
    """DirectAdmin's key=value files (user.conf, DOMAIN.conf, options.conf, directadmin.conf)."""
    try:
        text = path.read_text()
    except FileNotFoundError:
        return {}
    pairs = (line.split("=", 1) for line in text.splitlines() if "=" in line and not line.startswith("#"))
    return {key.strip(): value.strip() for key, value in pairs}


def write_file(path: Path, text: str, mode: int = 0o644) -> None:
    """Write by rename, so readers (the front server, the API) never see half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, mode)
    with os.fdopen(fd, "w") as f:
        f.write(text)
    os.chmod(tmp, mode)
    os.replace(tmp, path)


@dataclass(frozen=True)
class DirectAdmin:
    """DirectAdmin's data tree at `root` (/usr/local/directadmin inside the lab)."""

    root: Path = Path(DA_ROOT)

    def user_dir(self, user: str) -> Path:
        return self.root / "data" / "users" / user

    def users(self) -> list[str]:
        base = self.root / "data" / "users"
        return sorted(d.name for d in base.iterdir() if (d / "user.conf").is_file()) if base.is_dir() else []

    def user_conf(self, user: str) -> dict[str, str]:
        return read_kv(self.user_dir(user) / "user.conf")

    def domains(self, user: str) -> list[str]:
        try:
            lines = (self.user_dir(user) / "domains.list").read_text().split()
        except FileNotFoundError:
            return []
        return [d for d in lines if HOST_RE.match(d)]

    def owner(self, domain: str) -> str | None:
        return next((u for u in self.users() if domain in self.domains(u)), None)

    def domain_file(self, user: str, domain: str, suffix: str) -> Path:
        return self.user_dir(user) / "domains" / f"{domain}{suffix}"

    def config(self) -> dict[str, str]:
        return read_kv(self.root / "conf" / "directadmin.conf")

    def options(self) -> dict[str, str]:
        return read_kv(self.root / "custombuild" / "options.conf")

    def unit_port(self) -> int:
        return int(self.config().get("unit_port", "0") or 0)

    # -- Unit storage: domains/DOMAIN.unit/APP.json and domains/DOMAIN.routes/HOST
    def apps(self, user: str, domain: str) -> dict[str, Any]:
        folder = self.domain_file(user, domain, ".unit")
        files = sorted(folder.glob("*.json")) if folder.is_dir() else []
        return {f.stem: json.loads(f.read_text()) for f in files}

    def save_app(self, user: str, domain: str, name: str, app: dict[str, Any] | None) -> None:
        path = self.domain_file(user, domain, ".unit") / f"{name}.json"
        if app is None:
            path.unlink(missing_ok=True)
        else:
            write_file(path, json.dumps(app, indent=4, sort_keys=True) + "\n", 0o600)

    def routes(self, user: str, domain: str) -> dict[str, dict[str, list[Any]]]:
        """{host: {location: [Unit route steps]}} for the domain and its subdomains."""
        folder = self.domain_file(user, domain, ".routes")
        files = sorted(f for f in folder.iterdir() if HOST_RE.match(f.name)) if folder.is_dir() else []
        return {f.name: json.loads(f.read_text() or "{}") for f in files}

    def save_route(self, user: str, domain: str, host: str, location: str, steps: list[Any] | None) -> None:
        path = self.domain_file(user, domain, ".routes") / host
        current = self.routes(user, domain).get(host, {})
        if steps is None:
            current.pop(location, None)
        else:
            current[location] = steps
        if current:
            write_file(path, json.dumps(current, indent=4, sort_keys=True) + "\n", 0o600)
        else:
            path.unlink(missing_ok=True)  # a host without routes has no file


# --- Unit's config from DirectAdmin's storage -------------------------------------------

def unit_app_name(domain: str, name: str) -> str:
    """The name DirectAdmin gives an app in Unit: DOMAIN_NAME (documented)."""
    return f"{domain}_{name}"


def route_name(host: str, location: str) -> str:
    return host + location.rstrip("/").replace("/", "_")


def _dispatch_step(host: str, location: str, route: str, is_domain: bool) -> dict[str, Any]:
    match: dict[str, Any] = {"host": [host, f"www.{host}"] if is_domain else host}
    loc = location.rstrip("/")
    if loc:
        match["uri"] = [loc, f"{loc}/*"]
    return {"match": match, "action": {"pass": f"routes/{route}"}}


def unit_config(da: DirectAdmin) -> dict[str, Any]:
    """Unit's whole config as the `nginx_unit` rewrite makes it (see docs/directadmin.md)."""
    apps: dict[str, Any] = {}
    named: dict[str, Any] = {}
    dispatch: list[tuple[str, str, str, bool]] = []
    for user in da.users():
        for domain in da.domains(user):
            for name, app in da.apps(user, domain).items():
                apps[unit_app_name(domain, name)] = app
            for host, locations in da.routes(user, domain).items():
                for location, steps in locations.items():
                    named[route_name(host, location)] = steps
                    dispatch.append((host, location, route_name(host, location), host == domain))
    dispatch.sort(key=lambda d: (-len(d[1].rstrip("/")), d[0]))
    named[DISPATCH_ROUTE] = [_dispatch_step(*d) for d in dispatch]
    listeners = {f"127.0.0.1:{da.unit_port()}": {"pass": f"routes/{DISPATCH_ROUTE}"}}
    return {"listeners": listeners, "routes": named, "applications": apps}


class _UnixHTTP(http.client.HTTPConnection):
    def __init__(self, path: str, timeout: float) -> None:
        super().__init__("localhost", timeout=timeout)
        self.unix_path = path

    def connect(self) -> None:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(self.timeout)
        sock.connect(self.unix_path)
        self.sock = sock


def unit_request(sock: str, method: str, path: str, body: Any = None, timeout: float = 60) -> tuple[int, Any]:
    """One request to Unit's control API: (status, decoded JSON body or text)."""
    conn = _UnixHTTP(sock, timeout)
    try:
        data = None if body is None else json.dumps(body).encode()
        conn.request(method, path, body=data, headers={"Content-Type": "application/json"} if data else {})
        response = conn.getresponse()
        raw = response.read().decode(errors="replace")
    finally:
        conn.close()
    try:
        return response.status, json.loads(raw)
    except ValueError:
        return response.status, raw


def refill(plan: dict[str, Any], da: DirectAdmin) -> dict[str, Any]:
    """Replace Unit's config with the one made from DirectAdmin's storage."""
    config = unit_config(da)
    status, answer = unit_request(plan["unit"]["socket"], "PUT", "/config", config)
    if status != 200:
        raise DAError(f"Unit refused the re-filled config ({status}): {answer}")
    return config


# --- the front web server's vhosts --------------------------------------------------------

def _custom(da: DirectAdmin, kind: str, user: str, domain: str) -> dict[str, str]:
    """The CUSTOM tokens of a domain: its custom configuration and the global .pre/.post files."""
    ext = "cust_nginx" if kind == "nginx" else "cust_httpd"
    tokens: dict[str, str] = {}
    own = da.domain_file(user, domain, f".{ext}")
    if own.is_file():
        tokens["CUSTOM"] = own.read_text()
    for token in vhosts.CUSTOM_TOKENS[1:]:
        number = token[len("CUSTOM"):]
        folder = da.root / "data" / "templates" / "custom"
        parts = [folder / f"{ext}.CUSTOM.{number}.{when}" for when in ("pre", "post")]
        text = "".join(p.read_text() for p in parts if p.is_file())
        if text:
            tokens[token] = text
    return tokens


def sites(plan: dict[str, Any], da: DirectAdmin, user: str) -> list[vhosts.Site]:
    front = plan["directadmin"]
    result = []
    for domain in da.domains(user):
        conf = read_kv(da.domain_file(user, domain, ".conf"))
        home = f"/home/{user}"
        locations = tuple(da.routes(user, domain).get(domain, {}))
        result.append(vhosts.Site(
            user=user, domain=domain, ip=conf.get("ip", plan["address"]),
            docroot=f"{home}/domains/{domain}/public_html",
            cert=f"{DA_ROOT}/data/users/{user}/domains/{domain}.cert.combined",
            key=f"{DA_ROOT}/data/users/{user}/domains/{domain}.key",
            logs=front["logs"], unit_port=da.unit_port(), unit_locations=locations,
            custom=_custom(da, front["front"], user, domain)))
    return result


def rewrite_vhosts(plan: dict[str, Any], da: DirectAdmin) -> list[Path]:
    """Write every user's vhost file (data/users/USER/nginx.conf or httpd.conf), then reload."""
    kind = plan["directadmin"]["front"]
    if kind not in vhosts.FRONT_KINDS:
        return []
    written = []
    for user in da.users():
        if kind == "nginx":
            path, text = da.user_dir(user) / "nginx.conf", vhosts.nginx_user_conf(user, sites(plan, da, user))
        else:
            path = da.user_dir(user) / "httpd.conf"
            text = vhosts.apache_user_conf(user, sites(plan, da, user))
        write_file(path, text)
        written.append(path)
    check_front(plan)
    reload_front(plan)
    return written


def check_front(plan: dict[str, Any]) -> None:
    """The front server's own syntax check (`nginx -t`, `apache2 -t`) of the written config."""
    front = plan["directadmin"]
    result = subprocess.run(front["check_argv"], capture_output=True, text=True, check=False, timeout=60)
    if result.returncode != 0:
        said = (result.stderr or result.stdout).strip()
        raise DAError(f"{front['front']} rejects the rewritten config: {said}")


def reload_front(plan: dict[str, Any], timeout: float = 20) -> bool:
    """Graceful reload; returns once every worker of the old config is gone (False: not running)."""
    front = plan["directadmin"]
    try:
        pid = int(Path(front["pidfile"]).read_text().split()[0])
        old = processes.children(pid)
        # nginx: HUP re-reads the config; Apache: USR1 is its graceful restart.
        os.kill(pid, signal.SIGHUP if front["front"] == "nginx" else signal.SIGUSR1)
    except (OSError, ValueError, IndexError):
        return False
    deadline = time.monotonic() + timeout
    while old & processes.children(pid):
        if time.monotonic() > deadline:
            raise DAError(f"{front['front']} kept workers of the old config for {timeout:.0f} s")
        time.sleep(0.02)
    return True


# --- what DirectAdmin and CustomBuild run -------------------------------------------------

def rewrite_confs(plan: dict[str, Any], da: DirectAdmin) -> None:
    """`da build rewrite_confs`: the nginx_unit task when Unit is on and its socket exists, then vhosts."""
    if da.options().get("unit") == "yes" and os.path.exists(plan["unit"]["socket"]):
        taskq(plan, da, "action=rewrite&value=nginx_unit")
    rewrite_vhosts(plan, da)


def taskq(plan: dict[str, Any], da: DirectAdmin, task: str) -> None:
    """`directadmin taskq --run TASK` for the rewrite tasks the lab knows."""
    fields = dict(urllib.parse.parse_qsl(task))
    if fields.get("action") != "rewrite" or fields.get("value") not in ("nginx_unit", "httpd"):
        raise DAError(f"taskq: {task!r} is not a task the lab's DirectAdmin runs "
                      "(known: action=rewrite&value=nginx_unit, action=rewrite&value=httpd)")
    _log(da, f"taskq {task}")
    if fields["value"] == "nginx_unit":
        refill(plan, da)
    else:
        rewrite_vhosts(plan, da)


def unit_checks(plan: dict[str, Any], da: DirectAdmin) -> bool:
    """After a unitd start: True when the listeners were empty or unreadable and a refill ran."""
    sock = plan["unit"]["socket"]
    if not os.path.exists(sock):
        return False
    try:
        status, listeners = unit_request(sock, "GET", "/config/listeners", timeout=10)
    except OSError:
        status, listeners = 0, None
    if status == 200 and listeners:
        return False
    taskq(plan, da, "action=rewrite&value=nginx_unit")
    return True


def _log(da: DirectAdmin, line: str) -> None:
    """Every rewrite task is recorded (data/task.queue.log), so tests can see that one ran."""
    path = da.root / "data" / "task.queue.log"
    with open(path, "a") as f:
        f.write(line + "\n")


def _da_binary(plan: dict[str, Any], da: DirectAdmin, args: list[str]) -> int:
    if len(args) == 2 and args[0] == "config-get":
        print(da.config().get(args[1], ""))
        return 0
    if args[:1] == ["build"]:  # `da build ...` is CustomBuild's build script
        build = str(da.root / "custombuild" / "build")
        os.execv(build, [build, *args[1:]])
    if len(args) == 3 and args[:2] == ["taskq", "--run"]:
        taskq(plan, da, args[2])
        return 0
    print("directadmin: the lab's stand-in knows `config-get KEY`, `taskq --run TASK` and `build ...` only",
          file=sys.stderr)
    return 2


def refill_task(plan: dict[str, Any], da: DirectAdmin) -> None:
    """The re-fill as DirectAdmin runs it: through its task queue (and so logged)."""
    taskq(plan, da, "action=rewrite&value=nginx_unit")


COMMANDS: dict[str, Callable[[dict[str, Any], DirectAdmin], object]] = {
    "refill": refill_task, "rewrite-vhosts": rewrite_vhosts, "rewrite-confs": rewrite_confs,
    "unit-checks": unit_checks,
}


def main(argv: list[str]) -> int:
    if len(argv) < 3:
        print("usage: python3 -m lab.dactl STATE_DIR refill|rewrite-vhosts|rewrite-confs|unit-checks|da ...",
              file=sys.stderr)
        return 2
    plan = json.loads((Path(argv[1]) / "plan.json").read_text())
    da, command = DirectAdmin(), argv[2]
    try:
        if command == "da":
            return _da_binary(plan, da, argv[3:])
        if command not in COMMANDS:
            print(f"dactl: unknown command {command!r}", file=sys.stderr)
            return 2
        COMMANDS[command](plan, da)
    except (DAError, OSError, ValueError) as exc:
        print(f"dactl {command}: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
