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
from typing import TYPE_CHECKING, Any

from daunit import directadmin
from daunit.layout import VENV_KEY_RE, AppLayout, check_venv_key, da_user_domains
from daunit.ownership import OWNER_ENV, Owner, unit_name
from daunit.shipped import ENTRY_MODULE
from daunit.spec.environment import ENV_NAME_RE
from daunit.spec.text import listener_port

if TYPE_CHECKING:
    from daunit.spec import AppSpec, HostSpec

# The WSGI object of the entry module (daunit/shipped/daflask_entry.py).
ENTRY_CALLABLE = "application"

__all__ = [
    "app_urls",
    "certificate_facts",
    "certificate_name",
    "chain_sha256",
    "directadmin_cert_files",
    "dns_records",
    "dotenv_bytes",
    "entry_environment",
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
    "unit_wiring",
]

# Namespaces for an isolated app. Keys Unit accepts are credential, mount,
# pid, network, uname and cgroup; a mount namespace alone hides nothing, the
# rootfs does.
ISOLATION_NAMESPACES: Mapping[str, bool] = {"mount": True, "pid": True, "uname": True}


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
    version = VENV_KEY_RE.match(check_venv_key(venv_key))
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


def unit_route(app: AppSpec, host: HostSpec, owner: Owner,
               app_unit_name: str | None = None) -> list[dict[str, Any]]:
    """The app's own named route: its static files from Unit, the rest to the app.

    The share is an absolute host path even with isolation: Unit's router,
    not the isolated app, serves it. It goes through `current` (the live
    release), not a release's own directory, so the route is the same for every
    release: an update changes the application only, and the static files switch
    with `current`, right after the new release answered its health check
    (UnitApplication; a failed check leaves both on the previous release).
    """
    steps: list[dict[str, Any]] = []
    if app.static_url:
        live = AppLayout.of(app, host).current_link
        base = _static_base(app)
        root = f"{live}/{base}" if base else live
        # $uri already starts with static_url (the seed's share of
        # .../app/static$uri looked in app/static/static/).
        steps.append({"match": {"uri": f"{app.static_url}*"},
                      "action": _with_headers(app, {"share": f"{root}$uri"})})
    target = app_unit_name or unit_app_name(app, owner)
    steps.append({"action": _with_headers(app, {"pass": f"applications/{target}"})})
    return steps


def _with_headers(app: AppSpec, action: dict[str, Any]) -> dict[str, Any]:
    """The action with the app's security headers (Unit's `response_headers`,
    which replace a header of the same name the app sets itself)."""
    if app.security_headers:
        return {**action, "response_headers": dict(app.security_headers)}
    return action


def unit_wiring(app: AppSpec, host: HostSpec, owner: Owner,
                da_mode: Mapping[str, Any] | None, dispatch_route: str) -> dict[str, Any]:
    """The app's Unit names, route, dispatch entry and listener: ours (`daflask:...`,
    `dispatch_route`, the app's listener), or on a host run the DirectAdmin way
    (`da_mode`, daunit.directadmin) DirectAdmin's, with where it stores them."""
    if not da_mode:
        return {"appName": unit_app_name(app, owner), "routeName": unit_route_name(app, owner),
                "steps": unit_route(app, host, owner),
                "dispatchEntry": host_dispatch_entry(app, owner), "dispatchRoute": dispatch_route,
                "listener": app.listener, "appStorage": None, "routeStorage": None}
    if set(app.aliases) - {f"www.{app.domain}"}:
        raise ValueError(f"app {app.name}: aliases {', '.join(app.aliases)}: on a DirectAdmin server "
                         f"the front server and Unit serve {app.domain} and www.{app.domain} only; "
                         "add other names as domains or pointers in DirectAdmin, and drop them here")
    stored = directadmin.stored_name(owner, app.name)
    name = directadmin.unit_app_name(app.domain, stored)
    route = directadmin.route_name(app.domain, directadmin.ROOT_LOCATION)
    return {"appName": name, "routeName": route,
            "steps": unit_route(app, host, owner, app_unit_name=name),
            "dispatchEntry": directadmin.dispatch_entry(app.domain),
            "dispatchRoute": directadmin.DISPATCH_ROUTE,
            "listener": directadmin.listener(int(da_mode["unitPort"])),
            "appStorage": {"user": host.da_user, "domain": app.domain, "name": stored,
                           "route": route, "inSync": True},
            "routeStorage": {"user": host.da_user, "domain": app.domain,
                             "location": directadmin.ROOT_LOCATION, "inSync": True}}


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
    base = f"{da_user_domains(host.da_user)}/{app.domain}"
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
