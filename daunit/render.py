"""Pure functions from validated specs to what lands on the host.

No I/O. Every dict returned here is meant to go through
`daunit.canonical.canonical_json` before it is sent or compared: Unit
restarts an application when the same object arrives with its keys in
another order.
"""
from __future__ import annotations

import hashlib
import ipaddress
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from daunit.ownership import OWNER_ENV, Owner, unit_name
from daunit.shipped import ENTRY_MODULE
from daunit.spec import AppSpec, HostSpec, listener_port
from daunit.spec.environment import ENV_NAME_RE
from daunit.spec.tls import DIRECTADMIN_USER_DOMAINS

# The WSGI object of the entry module (daunit/shipped/daflask_entry.py).
ENTRY_CALLABLE = "application"

__all__ = [
    "ENV_FILE_MODE",
    "INSTANCE_DIR_MODE",
    "LOGS_DIR_MODE",
    "RELEASE_LINKS",
    "AppLayout",
    "app_urls",
    "certificate_facts",
    "certificate_name",
    "chain_sha256",
    "directadmin_cert_files",
    "dns_records",
    "dotenv_bytes",
    "entry_environment",
    "health_probe",
    "host_dispatch_entry",
    "instance_environment",
    "leaf_sha256",
    "normalized_pem",
    "owns_certificate",
    "tls_bundle",
    "unit_app_name",
    "unit_application",
    "unit_route",
    "unit_route_name",
    "unit_time_iso",
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


def unit_app_name(app: AppSpec, owner: Owner) -> str:
    """The key under /config/applications: `daflask:<project>:<stack>:<app>`
    (daunit.ownership says why it cannot collide)."""
    return unit_name(owner, app.name)


def unit_route_name(app: AppSpec, owner: Owner) -> str:
    """The key of the app's own route under /config/routes (the app's name:
    routes and applications are separate namespaces in Unit)."""
    return unit_name(owner, app.name)


def unit_application(app: AppSpec, host: HostSpec, release_id: str, venv_key: str,
                     owner: Owner) -> dict[str, Any]:
    """The object for `PUT /config/applications/<name>`.

    Only non-secret environment goes here (Unit config is readable by anyone
    who can read the socket or state); secrets go to instance/.env. Unit runs
    da-flask's entry module (daunit/shipped), which loads instance/.env into
    os.environ and then imports the app's own module and callable, named here.
    The owner's mark (DAFLASK_OWNER) comes last, so the app's own environment
    cannot forge it.
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
        "module": ENTRY_MODULE,
        "callable": ENTRY_CALLABLE,
        "working_directory": release,
        "user": host.da_user,
        "group": host.da_user,
        "environment": {**app.environment, "PYTHONPATH": release, **entry_environment(app),
                        OWNER_ENV: owner.mark},
        "processes": app.processes.to_unit(),
        "threads": app.threads,
    }
    if app.isolation:
        config["isolation"] = {"namespaces": dict(ISOLATION_NAMESPACES), "rootfs": layout.app_dir}
    return config


def entry_environment(app: AppSpec) -> dict[str, str]:
    """What tells the entry module which of the app's objects to serve."""
    return {"DAFLASK_APP_MODULE": app.module, "DAFLASK_APP_CALLABLE": app.callable}


def _static_base(app: AppSpec) -> str:
    """static_dir minus the URL prefix: base + $uri is the file ('' = release root)."""
    assert app.static_url is not None
    tail = app.static_url.strip("/")
    return app.static_dir.removesuffix(tail).rstrip("/")


def unit_route(app: AppSpec, host: HostSpec, release_id: str, owner: Owner) -> list[dict[str, Any]]:
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
        steps.append({"match": {"uri": f"{app.static_url}*"},
                      "action": _with_headers(app, {"share": f"{root}$uri"})})
    steps.append({"action": _with_headers(app, {"pass": f"applications/{unit_app_name(app, owner)}"})})
    return steps


def _with_headers(app: AppSpec, action: dict[str, Any]) -> dict[str, Any]:
    """The action with the app's security headers (Unit's `response_headers`,
    which replace a header of the same name the app sets itself)."""
    if app.security_headers:
        return {**action, "response_headers": dict(app.security_headers)}
    return action


def host_dispatch_entry(app: AppSpec, owner: Owner) -> dict[str, Any]:
    """The one entry this app owns in the host's shared dispatch route."""
    return {"match": {"host": list(app.host_names)},
            "action": {"pass": f"routes/{unit_route_name(app, owner)}"}}


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
    """URLs of the domain and aliases: https first when the app has TLS, then
    http (the port shown unless it is the scheme's own)."""
    urls = []
    if app.tls is not None:
        port = listener_port(app.tls.listener)
        suffix = "" if port == 443 else f":{port}"
        urls += [f"https://{name}{suffix}/" for name in app.host_names]
    port = listener_port(app.listener)
    suffix = "" if port == 80 else f":{port}"
    return urls + [f"http://{name}{suffix}/" for name in app.host_names]


# --- TLS ---------------------------------------------------------------------------------

CERT_NAME_HASH_LEN = 16


def directadmin_cert_files(app: AppSpec, host: HostSpec) -> tuple[str, str]:
    """Where DirectAdmin keeps the domain's certificate (chain) and key, unless
    the app's tls config names other files."""
    base = f"{DIRECTADMIN_USER_DOMAINS.format(user=host.da_user)}/{app.domain}"
    tls = app.tls
    cert = (tls.cert_file if tls else None) or f"{base}.cert.combined"
    key = (tls.key_file if tls else None) or f"{base}.key"
    return cert, key


def normalized_pem(text: str) -> str:
    """PEM text with LF line ends, no trailing blanks on lines, one final newline."""
    lines = [line.rstrip() for line in text.replace("\r\n", "\n").replace("\r", "\n").split("\n")]
    return "\n".join(line for line in lines if line) + "\n"


def chain_sha256(chain: str) -> str:
    """The content hash a certificate bundle is named by: of the chain only, so
    the name says nothing about the key."""
    return hashlib.sha256(normalized_pem(chain).encode()).hexdigest()


def certificate_name(app_name: str, chain_hash: str) -> str:
    """Unit's bundle name: `<unit app name>-<16 hex of the chain hash>` (bundles
    are immutable). `app_name` is the app's Unit name (unit_app_name), so two
    stacks' apps of one name never share or remove each other's bundles."""
    if not re.fullmatch(r"[0-9a-f]{64}", chain_hash):
        raise ValueError(f"chain hash {chain_hash!r} is not a sha256 hex digest")
    return f"{app_name}-{chain_hash[:CERT_NAME_HASH_LEN]}"


def owns_certificate(app_name: str, name: str) -> bool:
    """Whether `name` is one of this app's bundle names."""
    return re.fullmatch(re.escape(app_name) + f"-[0-9a-f]{{{CERT_NAME_HASH_LEN}}}", name) is not None


def tls_bundle(chain: str, key: str) -> bytes:
    """The body of `PUT /certificates/NAME`: chain then key, line breaks kept
    (Unit refuses a bundle whose newlines were stripped)."""
    return (normalized_pem(chain) + normalized_pem(key)).encode()


def leaf_sha256(chain: str) -> str:
    """sha256 of the DER of the chain's first certificate (what a TLS client is served)."""
    import ssl

    pem = normalized_pem(chain)
    end = "-----END CERTIFICATE-----"
    first = pem[: pem.index(end) + len(end)]
    return hashlib.sha256(ssl.PEM_cert_to_DER_cert(first)).hexdigest()


_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


def unit_time_iso(text: str) -> str:
    """Unit's validity time (OpenSSL's "Dec  3 21:16:09 2026 GMT") as ISO 8601 UTC."""
    parts = text.split()
    if len(parts) != 5 or parts[0] not in _MONTHS or parts[4] != "GMT":
        raise ValueError(f"not an OpenSSL time: {text!r}")
    month, day, clock, year = _MONTHS.index(parts[0]) + 1, int(parts[1]), parts[2], int(parts[3])
    return f"{year:04d}-{month:02d}-{day:02d}T{clock}Z"


def certificate_facts(info: Mapping[str, Any]) -> dict[str, Any]:
    """What a bundle is, from Unit's `GET /certificates/NAME`: the leaf's names,
    its issuer, its validity (ISO 8601) and the key type. Nothing secret."""
    chain = info.get("chain") or [{}]
    leaf = chain[0]
    subject = leaf.get("subject") or {}
    names = [subject["common_name"]] if subject.get("common_name") else []
    names += [n for n in subject.get("alt_names") or [] if n not in names]
    issuer = leaf.get("issuer") or {}
    validity = leaf.get("validity") or {}
    return {
        "subjectNames": names,
        "issuer": issuer.get("common_name") or issuer.get("organization") or "",
        "notBefore": unit_time_iso(validity["since"]) if validity.get("since") else None,
        "notAfter": unit_time_iso(validity["until"]) if validity.get("until") else None,
        "keyType": info.get("key") or "",
        "chainLength": len(info.get("chain") or []),
    }
