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
from daunit.models import StackSpec, format_errors, parse_stack

PROJECT_DIR = Path(__file__).resolve().parent


def load_stack() -> StackSpec:
    config = pulumi.Config()
    try:
        return parse_stack(config.require_object("hosts"), config.require_object("apps"),
                           base_dir=PROJECT_DIR)
    except ValidationError as exc:
        lines = [f"  {field}: {message}" for field, message in format_errors(exc)]
        raise pulumi.RunError("the stack config is not valid:\n" + "\n".join(lines)) from None


def main() -> None:
    spec = load_stack()
    app_secrets = pulumi.Config().get_secret_object("appSecrets") or pulumi.Output.secret({})

    hosts: dict[str, DirectAdminHost] = {}
    for name, h in spec.hosts.items():
        hosts[name] = DirectAdminHost(
            name, address=h.address, port=h.port, ssh_user=h.ssh_user,
            known_hosts=h.known_hosts(), key_file=h.key_file, da_user=h.da_user,
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
    pulumi.export("apps", {a._name: {"urls": a.urls, "releaseId": a.release_id,
                                     "domains": [u.split("/")[2] for u in a.urls]}
                           for a in apps})
    pulumi.export("dnsRecords", [r for a in apps for r in a.dns_records])
    pulumi.export("urls", [u for a in apps for u in a.urls])


main()
