"""Pure functions from validated specs to what lands on the host.

No I/O. Every dict returned here is meant to go through
`daunit.canonical.canonical_json` before it is sent or compared: Unit
restarts an application when the same object arrives with its keys in
another order.
"""
from __future__ import annotations

import ipaddress
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from daunit.models import ENV_NAME_RE, AppSpec, HostSpec, listener_port

__all__ = [
    "ENV_FILE_MODE",
    "INSTANCE_DIR_MODE",
    "LOGS_DIR_MODE",
    "RELEASE_LINKS",
    "AppLayout",
    "app_urls",
    "dns_records",
    "dotenv_bytes",
    "health_probe",
    "host_dispatch_entry",
    "instance_environment",
    "unit_app_name",
    "unit_application",
    "unit_route",
    "unit_route_name",
]

INSTANCE_DIR_MODE = 0o700
ENV_FILE_MODE = 0o600
LOGS_DIR_MODE = 0o700

# Links inside every release dir. Relative, so they resolve the same way
# inside a Unit rootfs (isolation) as outside it. A seed-style app finds its
# instance folder next to its package (Flask's default instance_path) and
# its logs next to the instance folder.
RELEASE_LINKS: Mapping[str, str] = {"instance": "../../instance", "logs": "../../logs"}

RELEASE_ID_RE = re.compile(r"^[0-9a-f]{16}$")
VENV_KEY_RE = re.compile(r"^py(3\.\d{1,2})-[0-9a-f]{16}$")

# Namespaces for an isolated app. Keys Unit accepts are credential, mount,
# pid, network, uname and cgroup; a mount namespace alone hides nothing, the
# rootfs does.
ISOLATION_NAMESPACES: Mapping[str, bool] = {"mount": True, "pid": True, "uname": True}


def _check_release_id(release_id: str) -> str:
    if not RELEASE_ID_RE.match(release_id):
        raise ValueError(f"release id {release_id!r} is not 16 lower-case hex digits (see manifest.release_id)")
    return release_id


def _check_venv_key(venv_key: str) -> str:
    if not VENV_KEY_RE.match(venv_key):
        raise ValueError(f"venv key {venv_key!r} is not like py3.11-<16 hex digits> (see manifest.venv_key)")
    return venv_key


@dataclass(frozen=True)
class AppLayout:
    """Where an app's pieces live on the host, all under `app_dir`:

        app_dir/releases/<release id>/   one per release, immutable
                 releases/<id>/instance -> ../../instance
                 releases/<id>/logs     -> ../../logs
        app_dir/venvs/<venv key>/         one per (python, requirements)
        app_dir/current -> releases/<id>  the live release
        app_dir/instance/      (0700)     instance/.env (0600)
        app_dir/logs/          (0700)
    """

    app_dir: str

    @classmethod
    def of(cls, app: AppSpec, host: HostSpec) -> AppLayout:
        return cls(app.app_dir_on(host))

    @property
    def releases_dir(self) -> str:
        return f"{self.app_dir}/releases"

    def release_dir(self, release_id: str) -> str:
        return f"{self.releases_dir}/{_check_release_id(release_id)}"

    @property
    def venvs_dir(self) -> str:
        return f"{self.app_dir}/venvs"

    def venv_dir(self, venv_key: str) -> str:
        return f"{self.venvs_dir}/{_check_venv_key(venv_key)}"

    @property
    def current_link(self) -> str:
        return f"{self.app_dir}/current"

    def current_target(self, release_id: str) -> str:
        """What `current` points at: relative, so it also holds inside a rootfs."""
        return f"releases/{_check_release_id(release_id)}"

    @property
    def instance_dir(self) -> str:
        return f"{self.app_dir}/instance"

    @property
    def env_file(self) -> str:
        return f"{self.instance_dir}/.env"

    @property
    def logs_dir(self) -> str:
        return f"{self.app_dir}/logs"

    def in_root(self, path: str) -> str:
        """`path` as an isolated app sees it, with app_dir as its root filesystem."""
        if path == self.app_dir:
            return "/"
        prefix = self.app_dir + "/"
        if not path.startswith(prefix):
            raise ValueError(f"{path!r} is outside the app directory {self.app_dir!r}")
        return "/" + path[len(prefix):]


def unit_app_name(app: AppSpec) -> str:
    """The key under /config/applications."""
    return app.name


def unit_route_name(app: AppSpec) -> str:
    """The key of the app's own route under /config/routes."""
    return app.name


def unit_application(app: AppSpec, host: HostSpec, release_id: str, venv_key: str) -> dict[str, Any]:
    """The object for `PUT /config/applications/<name>`.

    Only non-secret environment goes here (Unit config is readable by anyone
    who can read the socket or state); secrets go to instance/.env.
    """
    version = VENV_KEY_RE.match(_check_venv_key(venv_key))
    if version and version.group(1) != app.python_version:
        raise ValueError(f"venv key {venv_key!r} is for Python {version.group(1)}, "
                         f"but the app runs Python {app.python_version}")
    layout = AppLayout.of(app, host)
    release = layout.release_dir(release_id)
    home = layout.venv_dir(venv_key)
    if app.isolation:
        # With rootfs, path and home are read from inside the new root.
        release, home = layout.in_root(release), layout.in_root(home)
    config: dict[str, Any] = {
        "type": app.unit_type,
        "path": release,
        "home": home,
        "module": app.module,
        "callable": app.callable,
        "working_directory": release,
        "user": host.da_user,
        "group": host.da_user,
        "environment": {**app.environment, "PYTHONPATH": release},
        "processes": app.processes.to_unit(),
        "threads": app.threads,
    }
    if app.isolation:
        config["isolation"] = {"namespaces": dict(ISOLATION_NAMESPACES), "rootfs": layout.app_dir}
    return config


def _static_base(app: AppSpec) -> str:
    """static_dir minus the URL prefix: base + $uri is the file ('' = release root)."""
    assert app.static_url is not None
    tail = app.static_url.strip("/")
    return app.static_dir.removesuffix(tail).rstrip("/")


def unit_route(app: AppSpec, host: HostSpec, release_id: str) -> list[dict[str, Any]]:
    """The app's own named route: its static files from Unit, the rest to the app.

    The share is an absolute host path even with isolation: Unit's router,
    not the isolated app, serves it. It points into the release, so static
    files always match the code that links to them.
    """
    steps: list[dict[str, Any]] = []
    if app.static_url:
        release = AppLayout.of(app, host).release_dir(release_id)
        base = _static_base(app)
        root = f"{release}/{base}" if base else release
        # $uri already starts with static_url (the seed's share of
        # .../app/static$uri looked in app/static/static/).
        steps.append({"match": {"uri": f"{app.static_url}*"}, "action": {"share": f"{root}$uri"}})
    steps.append({"action": {"pass": f"applications/{unit_app_name(app)}"}})
    return steps


def host_dispatch_entry(app: AppSpec) -> dict[str, Any]:
    """The one entry this app owns in the host's shared dispatch route."""
    return {"match": {"host": list(app.host_names)}, "action": {"pass": f"routes/{unit_route_name(app)}"}}


def instance_environment(app: AppSpec, secret_values: Mapping[str, str]) -> dict[str, str]:
    """Everything instance/.env holds: the app's environment plus its secrets.

    The secrets must be exactly the names in secretEnvironmentKeys. Errors
    name keys, never values.
    """
    declared = set(app.secret_environment_keys)
    missing = sorted(declared - set(secret_values))
    if missing:
        raise ValueError(f"app {app.name}: no value for secret environment {', '.join(missing)}: set it "
                         "with `pulumi config set --secret`")
    undeclared = sorted(set(secret_values) - declared)
    if undeclared:
        raise ValueError(f"app {app.name}: secret environment {', '.join(undeclared)} is not listed in "
                         "secretEnvironmentKeys: add it there or drop the value")
    return {**app.environment, **{key: secret_values[key] for key in sorted(declared)}}


_DOTENV_ESCAPES = {"\\": "\\\\", '"': '\\"', "\n": "\\n", "\r": "\\r"}


def _dotenv_quote(value: str) -> str:
    return '"' + "".join(_DOTENV_ESCAPES.get(c, c) for c in value) + '"'


def dotenv_bytes(env: Mapping[str, str]) -> bytes:
    """instance/.env content (mode 0600) that python-dotenv reads back exactly.

    Sorted, one KEY="value" per line, with \\ " and line breaks escaped.
    Values holding "${" are refused: python-dotenv expands ${NAME} by default
    and has no escape for it. Errors name keys, never values.
    """
    lines = ["# Written by da-flask: edits here are overwritten on the next deploy."]
    for key in sorted(env):
        value = env[key]
        if not ENV_NAME_RE.match(key):
            raise ValueError(f"environment name {key!r} is not valid: use letters, digits and underscores")
        if "\x00" in value:
            raise ValueError(f"environment {key}: the value contains a NUL character")
        if "${" in value:
            raise ValueError(f"environment {key}: the value contains '${{', which python-dotenv would "
                             "expand as a variable; change the value")
        lines.append(f"{key}={_dotenv_quote(value)}")
    return ("\n".join(lines) + "\n").encode()


def dns_records(app: AppSpec, host_address: str, ttl: int = 3600) -> list[dict[str, Any]]:
    """Records that point the app's names at the host: A/AAAA, CNAME for www.DOMAIN.

    `host_address` must be an IP address (HostSpec.dns_address).
    """
    try:
        ip = ipaddress.ip_address(host_address)
    except ValueError:
        raise ValueError(f"DNS records need the host's IP address, not {host_address!r}: "
                         "set publicAddress on the host") from None
    address_type = "A" if ip.version == 4 else "AAAA"
    records = []
    for name in app.host_names:
        if name == f"www.{app.domain}":
            records.append({"name": name, "type": "CNAME", "value": app.domain, "ttl": ttl})
        else:
            records.append({"name": name, "type": address_type, "value": str(ip), "ttl": ttl})
    return records


def health_probe(app: AppSpec) -> dict[str, Any]:
    """What the health check asks Unit's listener, and the status it expects."""
    return {"host": app.domain, "path": app.health_path, "port": listener_port(app.listener),
            "status": app.health_status}


def app_urls(app: AppSpec) -> list[str]:
    """http URLs of the domain and aliases (the port shown unless it is 80)."""
    port = listener_port(app.listener)
    suffix = "" if port == 80 else f":{port}"
    return [f"http://{name}{suffix}/" for name in app.host_names]
