"""FlaskApp: one Flask app on one DirectAdmin host. Wiring only: no I/O
beyond hashing the app's local source tree, so the preview can name every
file that changes and whether the venv is rebuilt."""
from __future__ import annotations

from pathlib import Path
from typing import Any

import pulumi

from components.host import DirectAdminHost
from daunit.manifest import build_app_manifest, read_requirements, release_id, venv_key
from daunit.models import AppSpec, HostSpec
from daunit.ownership import Owner
from daunit.render import (
    AppLayout,
    app_urls,
    chain_sha256,
    directadmin_cert_files,
    dns_records,
    host_dispatch_entry,
    instance_environment,
    unit_app_name,
    unit_application,
    unit_route,
    unit_route_name,
)
from daunit.resources import (
    InstanceConfig,
    Release,
    ReleaseCommands,
    UnitApplication,
    UnitCertificate,
    UnitRoute,
    Virtualenv,
)
from daunit.shipped import with_entry_module

# Shared by every stack on a host (one listener passes to one route). App
# routes are named `daflask:...` (daunit.ownership), so none can take this name.
DISPATCH_ROUTE = "da-flask-hosts"


def current_owner() -> Owner:
    """This stack, as its Unit objects are named and marked."""
    return Owner(pulumi.get_project(), pulumi.get_stack())


class FlaskApp(pulumi.ComponentResource):
    def __init__(self, name: str, *, app: AppSpec, host_spec: HostSpec, host: DirectAdminHost,
                 secret_env: pulumi.Input[dict[str, str]],
                 tls_material: pulumi.Input[dict[str, str]] | None = None,
                 opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("daflask:index:FlaskApp", name, None, opts)
        child = pulumi.ResourceOptions(parent=self, depends_on=[host.unit])
        layout = AppLayout.of(app, host_spec)
        manifest = with_entry_module(build_app_manifest(app))
        rid = release_id(manifest)
        requirements = read_requirements(app)
        vkey = venv_key(app.python_version, requirements, interpreter=host_spec.python)
        entry = next(p for p, e in manifest.items() if e.mode == 0o755)
        owner = current_owner()
        unit_name = unit_app_name(app, owner)
        # `owner` claims the app dir for this stack, `domain` is checked to be
        # the user's before any tree work (daunit.hostops).
        common = {"connection": host.connection, "appDir": layout.app_dir,
                  "user": host_spec.da_user, "domain": app.domain, "owner": owner.mark}

        self.release = Release(f"{name}-release", {
            **common,
            "releaseId": rid,
            "files": {path: e.sha256 for path, e in sorted(manifest.items())},
            "source": str(Path(app.source).resolve()),
            "entryPoint": entry,
        }, child)
        self.venv = Virtualenv(f"{name}-venv", {
            **common,
            "python": host_spec.python,
            "key": vkey,
            "requirements": requirements.decode(),
        }, child)
        environment = self._instance(name, app, common, secret_env, child)

        before_switch: list[pulumi.Resource] = [self.release, self.venv, self.instance, host.unit]
        self.release_commands = self._release_commands(name, app, common, rid, vkey, environment)
        if self.release_commands is not None:
            before_switch.append(self.release_commands)
        self._unit_resources(name, app, host_spec, host, common, rid, vkey, owner, before_switch)

        self.certificate: UnitCertificate | None = None
        if app.tls is not None:
            self.certificate = self._certificate(name, app, host_spec, host, tls_material,
                                                 unit_name)

        self._publish(app, host_spec, rid, vkey, unit_name, layout.app_dir)

    def _publish(self, app: AppSpec, host_spec: HostSpec, rid: str, vkey: str, unit_name: str,
                 app_dir: str) -> None:
        """What the program exports from this app (daunit.outputs)."""
        self.urls = app_urls(app)
        address = host_spec.dns_address
        self.dns_records = dns_records(app, address) if address else []
        self.release_id = rid
        self.venv_key = vkey
        self.unit_name = unit_name
        self.tls = self._tls_facts(app)
        self.register_outputs({"urls": self.urls, "releaseId": rid, "venvKey": vkey,
                               "unitApplication": self.unit_name, "appDir": app_dir,
                               "tls": self.tls})

    def _instance(self, name: str, app: AppSpec, common: dict[str, Any],
                  secret_env: pulumi.Input[dict[str, str]],
                  child: pulumi.ResourceOptions) -> pulumi.Output[dict[str, str]]:
        """instance/.env, from the plain environment and the secrets; returns the
        (secret) environment, which release commands run with too."""
        plain_env: pulumi.Output[dict[str, str]] = pulumi.Output.from_input(secret_env).apply(
            lambda values: instance_environment(app, values or {}))
        environment: pulumi.Output[dict[str, str]] = pulumi.Output.secret(plain_env)
        self.instance = InstanceConfig(f"{name}-instance", {
            **common, "environment": environment,
            "secretKeys": list(app.secret_environment_keys)}, child)
        return environment

    def _release_commands(self, name: str, app: AppSpec, common: dict[str, Any], rid: str, vkey: str,
                          environment: pulumi.Output[dict[str, str]]) -> ReleaseCommands | None:
        """Before the switch, after the release, venv and .env they run with."""
        if not app.release_commands:
            return None
        return ReleaseCommands(f"{name}-release-commands", {
            **common, "releaseId": rid, "venvKey": vkey,
            "commands": [list(c) for c in app.release_commands],
            "environment": environment, "secretKeys": list(app.secret_environment_keys),
        }, pulumi.ResourceOptions(parent=self, depends_on=[self.release, self.venv, self.instance]))

    def _unit_resources(self, name: str, app: AppSpec, host_spec: HostSpec, host: DirectAdminHost,
                        common: dict[str, Any], rid: str, vkey: str, owner: Owner,
                        before_switch: list[pulumi.Resource]) -> None:
        """The Unit application (the switch) and the app's route with its dispatch entry."""
        health = ({"listener": app.listener, "host": app.domain, "path": app.health_path,
                   "status": app.health_status, "timeout": 30} if app.health_check else None)
        base_config = unit_application(app, host_spec, rid, vkey, owner)
        unit_config = self.instance.output("revision").apply(lambda rev: _with_revision(base_config, rev))
        self.unit_app = UnitApplication(f"{name}-unit-app", {
            **common,
            "name": unit_app_name(app, owner),
            "socket": host.unit_socket,
            "log": host.unit_log,
            "config": unit_config,
            "releaseId": rid,
            "venvKey": vkey,
            "keep": app.keep_releases,
            "health": health,
        }, pulumi.ResourceOptions(parent=self, depends_on=before_switch))
        self.route = UnitRoute(f"{name}-unit-route", {
            "connection": host.connection,
            "name": unit_route_name(app, owner),
            "owner": owner.mark,
            "appDir": common["appDir"],
            "socket": host.unit_socket,
            "log": host.unit_log,
            "steps": unit_route(app, host_spec, rid, owner),
            "dispatchEntry": host_dispatch_entry(app, owner),
            "dispatchRoute": DISPATCH_ROUTE,
            "listener": app.listener,
            "health": health,
        }, pulumi.ResourceOptions(parent=self, depends_on=[self.unit_app]))

    def _certificate(self, name: str, app: AppSpec, host_spec: HostSpec, host: DirectAdminHost,
                     tls_material: pulumi.Input[dict[str, str]] | None,
                     unit_name: str) -> UnitCertificate:
        assert app.tls is not None
        props: dict[str, Any] = {
            "connection": host.connection,
            "app": app.name,
            "unitName": unit_name,
            "domain": app.domain,
            "source": app.tls.source,
            "listener": app.tls.listener,
            "dispatchRoute": DISPATCH_ROUTE,
            "socket": host.unit_socket,
            "log": host.unit_log,
        }
        if app.tls.source == "config":
            material = pulumi.Output.secret(tls_material or {})
            chain = material.apply(lambda m: (m or {}).get("chain"))
            props["chain"] = chain
            props["key"] = material.apply(lambda m: (m or {}).get("key"))
            # The chain is public (every client is sent it) and its hash says
            # nothing about the key: shown in the preview, it names a rotation.
            props["chainSha256"] = pulumi.Output.unsecret(
                chain.apply(lambda c: chain_sha256(c) if isinstance(c, str) else None))
        else:
            props["certFile"], props["keyFile"] = directadmin_cert_files(app, host_spec)
        # After the route: the listener passes to the dispatch route, which must exist.
        return UnitCertificate(f"{name}-cert", props,
                               pulumi.ResourceOptions(parent=self, depends_on=[self.route]))

    def _tls_facts(self, app: AppSpec) -> pulumi.Output[dict[str, Any]] | None:
        """What the stack exports about the app's certificate (nothing secret)."""
        cert, tls = self.certificate, app.tls
        if cert is None or tls is None:
            return None
        return pulumi.Output.all(*(cert.output(f) for f in (
            "name", "subject_names", "issuer", "not_before", "not_after"))).apply(
            lambda v: {"listener": tls.listener, "source": tls.source, "certificateName": v[0],
                       "subjectNames": v[1], "issuer": v[2], "notBefore": v[3], "notAfter": v[4]})


def _with_revision(config: dict[str, Any], revision: str | None) -> dict[str, Any]:
    # A changed .env must restart the app; the random revision says "changed"
    # without saying anything about the secret values.
    env = dict(config.get("environment") or {})
    env["DAFLASK_ENV_REVISION"] = revision or ""
    return {**config, "environment": env}
