"""Read and validate the stack config, build the components, export outputs.

Every config value is validated (daunit.models) before any resource is
declared: a wrong value stops `pulumi preview` with the field and the fix,
and nothing on any host changes.
"""
from __future__ import annotations

from pathlib import Path

import pulumi
from pydantic import ValidationError

from components.flask_app import FlaskApp
from components.host import DirectAdminHost
from daunit.models import HostSpec, StackSpec, format_errors, parse_stack


def load_stack() -> StackSpec:
    config = pulumi.Config()
    try:
        return parse_stack(config.require_object("hosts"), config.require_object("apps"))
    except ValidationError as exc:
        lines = [f"  {field}: {message}" for field, message in format_errors(exc)]
        raise pulumi.RunError("the stack config is not valid:\n" + "\n".join(lines)) from None


def known_hosts_text(host: HostSpec) -> str:
    if host.host_key_file:
        return Path(host.host_key_file).expanduser().read_text()
    return host.host_key or ""


def main() -> None:
    spec = load_stack()
    app_secrets = pulumi.Config().get_secret_object("appSecrets") or pulumi.Output.secret({})

    hosts: dict[str, DirectAdminHost] = {}
    for name, h in spec.hosts.items():
        key_file = str(Path(h.key_file).expanduser().resolve()) if h.key_file else None
        hosts[name] = DirectAdminHost(
            name, address=h.address, port=h.port, ssh_user=h.ssh_user,
            known_hosts=known_hosts_text(h), key_file=key_file, da_user=h.da_user,
            unit_socket=h.unit_socket, unit_log=h.unit_log, python=h.python,
            enable_unit=h.enable_unit)

    apps = []
    for app in spec.apps:
        secrets = pulumi.Output.from_input(app_secrets).apply(
            lambda s, n=app.name: dict((s or {}).get(n) or {}))
        apps.append(FlaskApp(app.name, app=app, host_spec=spec.hosts[app.host],
                             host=hosts[app.host], secret_env=secrets))

    pulumi.export("hosts", {name: {"address": h.address, "unitVersion": h.unit.unit_version,
                                   "pythonModules": h.unit.python_modules}
                            for name, h in hosts.items()})
    pulumi.export("apps", {a.unit_name: {"urls": a.urls, "releaseId": a.release_id,
                                         "venvKey": a.venv_key}
                           for a in apps})
    pulumi.export("dnsRecords", [r for a in apps for r in a.dns_records])
    pulumi.export("urls", [u for a in apps for u in a.urls])


main()
