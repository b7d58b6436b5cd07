"""Read and validate the stack config, build the components, export outputs.

Every config value is validated (daunit.spec) before any resource is
declared: a wrong value stops `pulumi preview` with the field and the fix,
and nothing on any host changes.
"""
from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pulumi

from daunit.provider_start import start_provider_early

# First, before the imports below: the engine starts the provider's process
# while they and the config's validation run (daunit/provider_start.py).
start_provider_early()

from components.flask_app import FlaskApp  # noqa: E402
from components.host import DirectAdminHost  # noqa: E402
from daunit.audit import cached_audit, summary_lines  # noqa: E402
from daunit.errors import StackConfigError  # noqa: E402
from daunit.manifest import read_requirements  # noqa: E402
from daunit.outputs import OUTPUTS_VERSION  # noqa: E402
from daunit.spec import StackSpec, validate_stack  # noqa: E402
from daunit.spec.local import known_hosts_text  # noqa: E402


def load_stack() -> StackSpec:
    config = pulumi.Config()
    try:
        # appSecrets is read here in plain only to check its names and kinds:
        # no message names a value, and the resources get it as a secret below.
        spec = validate_stack(config.require_object("hosts"), config.require_object("apps"),
                              config.get_object("appSecrets"))
    except StackConfigError as exc:
        raise pulumi.RunError(str(exc)) from None
    refuse_plain_login_keys(spec)
    return spec


def refuse_plain_login_keys(spec: StackSpec) -> None:
    """A DirectAdmin login key (access: user) must be a Pulumi secret, never plain YAML."""
    from pulumi.runtime.config import is_config_secret

    plain = [name for name, h in spec.hosts.items() if h.directadmin is not None]
    if plain and not is_config_secret(f"{pulumi.get_project()}:hosts"):
        raise pulumi.RunError("\n".join(
            f"hosts.{name}.directadmin.loginKey is in plain text in the stack config: set it with "
            f"`pulumi config set --secret --path hosts.{name}.directadmin.loginKey` (the value on stdin)"
            for name in plain))


def audit_requirements(spec: StackSpec) -> None:
    """Vulnerable pins, said before anything is declared (daunit.audit).

    With `audit: block` anything found, or any pin that could not be
    audited, stops the run here: nothing on any host changes.
    """
    refusals = []
    for app in spec.apps:
        if app.audit == "off":
            continue
        report = cached_audit(read_requirements(app).decode("utf-8", "replace"))
        lines = list(summary_lines(app.name, report))
        for line in lines:
            pulumi.log.warn(line)
        if app.audit == "block" and lines:
            refusals += lines
    if refusals:
        raise pulumi.RunError(
            "audit: block refuses this deploy:\n  " + "\n  ".join(refusals)
            + "\nUpgrade those pins (or pin what is not pinned), or set the app's `audit: warn`.")


def entry_of(app_name: str) -> Callable[[Any], dict[str, Any]]:
    """The app's own part of a per-app secret config object (appSecrets, tlsCertificates)."""
    return lambda values: dict((values or {}).get(app_name) or {})


def certificate_entry(app_name: str, domain: str) -> Callable[[dict[str, Any]], dict[str, Any]]:
    return lambda tls: {"app": app_name, "domain": domain, **tls}


def portable_key_path(path: str) -> str:
    """`~/...` stays as written, so each machine finds its own key; a relative
    path is made absolute against the project directory."""
    if path.startswith("~"):
        return path
    return str(Path(path).resolve())


def main() -> None:
    spec = load_stack()
    audit_requirements(spec)
    app_secrets = pulumi.Config().get_secret_object("appSecrets") or pulumi.Output.secret({})
    # PEM chain and key per app with `tls: {source: config}`:
    # `pulumi config set --secret --path tlsCertificates.APP.chain < fullchain.pem` (and .key).
    tls_certificates = (pulumi.Config().get_secret_object("tlsCertificates")
                        or pulumi.Output.secret({}))

    hosts: dict[str, DirectAdminHost] = {}
    for name, h in spec.hosts.items():
        key_file = portable_key_path(h.key_file) if h.key_file else None
        hosts[name] = DirectAdminHost(
            name, address=h.address, port=h.port, ssh_user=h.ssh_user,
            known_hosts=known_hosts_text(h), key_file=key_file, da_user=h.da_user,
            unit_socket=h.unit_socket, unit_log=h.unit_log, python=h.python,
            enable_unit=h.enable_unit, access=h.access, directadmin_mode=h.directadmin_mode,
            directadmin=h.directadmin.api_input() if h.directadmin else None,
            login_key=pulumi.Output.secret(h.directadmin.login_key) if h.directadmin else None)

    apps = []
    for app in spec.apps:
        secrets = pulumi.Output.from_input(app_secrets).apply(entry_of(app.name))
        tls = None
        if app.tls is not None and app.tls.source == "config":
            tls = pulumi.Output.from_input(tls_certificates).apply(entry_of(app.name))
        apps.append(FlaskApp(app.name, app=app, host_spec=spec.hosts[app.host],
                             host=hosts[app.host], secret_env=secrets, tls_material=tls))

    # The shapes are daunit.outputs.StackOutputs, described in docs/outputs.md.
    pulumi.export("outputsVersion", OUTPUTS_VERSION)
    pulumi.export("hosts", {name: {"address": h.address, "dnsAddress": spec.hosts[name].dns_address,
                                   "unitVersion": h.unit.output("unit_version") if h.unit else None,
                                   "pythonModules": h.unit.output("python_modules") if h.unit else None}
                            for name, h in hosts.items()})
    pulumi.export("apps", {s.name: {"host": s.host, "domain": s.domain,
                                    "domains": list(s.host_names), "urls": a.urls,
                                    "releaseId": a.release_id, "venvKey": a.venv_key,
                                    "tls": a.tls}
                           for a, s in zip(apps, spec.apps, strict=True)})
    pulumi.export("dnsRecords", [r for a in apps for r in a.dns_records])
    pulumi.export("urls", [u for a in apps for u in a.urls])
    pulumi.export("certificates", [
        a.tls.apply(certificate_entry(s.name, s.domain))
        for a, s in zip(apps, spec.apps, strict=True) if a.tls is not None])


main()
