"""pyinfra as the bench's second baseline (issue 10): its venv, its inventory, its run.

pyinfra comes from PyPI, pinned in bench/requirements-pyinfra.txt, and lives in
a venv of its own under bench/out/ (ignored by git), made by the bench on its
first run: the project's .venv keeps its own dependency set. The deploy file
is bench/pyinfra_deploy/deploy.py (pyinfra's public API only); this module
writes what it reads: one host's connection data (the lab's pinned host key in
a known_hosts file of its own, strict checking) and, per app, the Unit JSON
this project's providers would apply (daunit.render), with the paths of
pyinfra's in-place layout (code/, venv/).
"""
from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from daunit.canonical import canonical_json
from daunit.layout import AppLayout
from daunit.ownership import Owner
from daunit.render import (
    dotenv_bytes,
    host_dispatch_entry,
    instance_environment,
    unit_app_name,
    unit_application,
    unit_route,
)
from daunit.spec import AppSpec, HostSpec, parse_stack
from tests.support.engine import REPO

REQUIREMENTS = REPO / "bench" / "requirements-pyinfra.txt"
DEPLOY_DIR = REPO / "bench" / "pyinfra_deploy"
# Root's own directory on the host for the Unit JSON that curl sends.
CONF_DIR = "/root/bench-pyinfra-unit"
# Whose objects pyinfra's Unit config is named after (as a stack of this project's would be).
OWNER = Owner("da-flask-bench", "pyinfra")
# The name this project's program gives the host's shared route (components.flask_app).
DISPATCH_ROUTE = "da-flask-hosts"
# Placeholders: daunit.render lays out releases/<id> and venvs/<key>; pyinfra's
# layout is in place, so their paths are swapped for code/ and venv/.
_RID, _VKEY = "0" * 16, "py3.11-" + "0" * 16


def venv_dir(out: Path) -> Path:
    """bench/out/pyinfra-venv-<hash of the requirements file>: a new pin, a new venv."""
    key = hashlib.sha256(REQUIREMENTS.read_bytes()).hexdigest()[:12]
    return out / f"pyinfra-venv-{key}"


def ensure_venv(out: Path) -> Path:
    """pyinfra's venv, made once (python -m venv, pip install -r the pinned file)."""
    venv = venv_dir(out)
    if (venv / ".complete").exists():
        return venv
    subprocess.run([sys.executable, "-m", "venv", "--clear", str(venv)], check=True, timeout=300)
    subprocess.run([str(venv / "bin" / "pip"), "install", "-q", "--disable-pip-version-check",
                    "-r", str(REQUIREMENTS)], check=True, timeout=900)
    (venv / ".complete").touch()
    return venv


def version(venv: Path) -> str:
    run = subprocess.run([str(venv / "bin" / "pyinfra"), "--version"], capture_output=True,
                         text=True, check=False, timeout=60)
    return run.stdout.strip().removeprefix("pyinfra: ") or "?"


def _swap_paths(value: Any, layout: AppLayout, code: str, venv: str) -> Any:
    """daunit.render's object with the release and venv paths of pyinfra's layout."""
    text = canonical_json(value).decode()
    text = text.replace(layout.release_dir(_RID), code).replace(layout.current_link, code)
    text = text.replace(layout.venv_dir(_VKEY), venv)
    return json.loads(text)


def app_data(app: AppSpec, host: HostSpec, env_file: str) -> dict[str, Any]:
    """What deploy.py reads for one app (no secret: the .env is a local file)."""
    layout = AppLayout.of(app, host)
    code, venv = f"{layout.app_dir}/code", f"{layout.app_dir}/venv"
    application = _swap_paths(unit_application(app, host, _RID, _VKEY, OWNER), layout, code, venv)
    # pyinfra ships the app's code alone: Unit imports the app's own module (the
    # example app loads instance/.env itself), not da-flask's entry module.
    application.update(module=app.module, callable=app.callable, environment={
        k: v for k, v in application["environment"].items() if not k.startswith("DAFLASK_")})
    route = _swap_paths(unit_route(app, host, OWNER), layout, code, venv)
    source = str(Path(app.source).resolve())
    return {"name": app.name, "unit_name": unit_app_name(app, OWNER), "source": source,
            "app_dir": layout.app_dir, "code_dir": code,
            "venv_dir": venv, "env_file": env_file,
            "requirements": os.path.join(source, app.requirements),
            "application_json": canonical_json(application).decode(),
            "route_json": canonical_json(route).decode(), "health_host": app.domain}


def host_data(hosts_raw: dict[str, Any], apps_raw: list[dict[str, Any]],
              env_files: dict[str, str]) -> dict[str, Any]:
    """deploy.py's host data for the one host of a stack config (this project's
    `da-flask:hosts` and `da-flask:apps`), minus the connection."""
    spec = parse_stack(hosts_raw, apps_raw)
    (host,) = spec.hosts.values()
    listeners = {app.listener for app in spec.apps}
    if len(listeners) != 1:
        raise ValueError(f"the pyinfra deploy serves one listener; the apps have {sorted(listeners)}")
    return {"unit_socket": host.unit_socket, "da_user": host.da_user, "python": host.python,
            "conf_dir": CONF_DIR, "listener": listeners.pop(), "dispatch_route": DISPATCH_ROUTE,
            "dispatch_json": canonical_json([host_dispatch_entry(app, OWNER) for app in spec.apps]).decode(),
            "apps": [app_data(app, host, env_files[app.name]) for app in spec.apps]}


def env_file_bytes(hosts_raw: dict[str, Any], apps_raw: list[dict[str, Any]],
                   secrets: dict[str, dict[str, str]]) -> dict[str, bytes]:
    """Each app's instance/.env, as this project writes it (environment + secrets)."""
    spec = parse_stack(hosts_raw, apps_raw)
    return {app.name: dotenv_bytes(instance_environment(app, secrets.get(app.name, {})))
            for app in spec.apps}


def known_hosts_line(address: str, port: int, public_key: str) -> str:
    """The lab's key for the address and port pyinfra dials (the relay's, at 50 ms)."""
    host = address if port == 22 else f"[{address}]:{port}"
    return f"{host} {public_key}\n"


def connection_data(address: str, port: int, key_file: str, known_hosts: str) -> dict[str, Any]:
    """pyinfra's SSH connector data: root, the lab's key, the pinned host key only."""
    return {"ssh_hostname": address, "ssh_port": port, "ssh_user": "root", "ssh_key": key_file,
            "ssh_known_hosts_file": known_hosts, "ssh_strict_host_key_checking": "yes",
            "ssh_allow_agent": False, "ssh_look_for_keys": False, "ssh_config_file": os.devnull}


def write_world(wdir: Path, lab: Any, address: str, port: int, hosts_raw: dict[str, Any],
                apps_raw: list[dict[str, Any]], secrets: dict[str, dict[str, str]]) -> Path:
    """The files pyinfra reads for one world; returns the host JSON's path."""
    wdir.mkdir(parents=True, exist_ok=True, mode=0o700)
    env_files = {}
    for name, content in env_file_bytes(hosts_raw, apps_raw, secrets).items():
        path = wdir / f"{name}.env"
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as f:
            f.write(content)
        env_files[name] = str(path)
    known_hosts = wdir / "known_hosts"
    known_hosts.write_text(known_hosts_line(address, port, lab.host_public_key))
    data = {**host_data(hosts_raw, apps_raw, env_files),
            **connection_data(address, port, lab.client_key_path, str(known_hosts))}
    host_json = wdir / "pyinfra-host.json"
    host_json.write_text(json.dumps({"name": "lab", "data": data}, indent=2) + "\n")
    return host_json


def run(venv: Path, host_json: Path, timeout: float = 900) -> subprocess.CompletedProcess[str]:
    """`pyinfra -y inventory.py deploy.py`, as a user types it (cwd: the world's directory)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PULUMI", "VIRTUAL_ENV"))}
    env.update(BENCH_PYINFRA_HOST=str(host_json), PATH=f"{venv / 'bin'}:{env.get('PATH', '')}")
    return subprocess.run([str(venv / "bin" / "pyinfra"), "-y", str(DEPLOY_DIR / "inventory.py"),
                           str(DEPLOY_DIR / "deploy.py")], cwd=host_json.parent, env=env,
                          capture_output=True, text=True, check=False, timeout=timeout)
