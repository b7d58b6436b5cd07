"""One app's plan: the inputs of every resource it is made of, from its spec,
in one call.

The component (components/flask_app.py) only turns the plan into resources.
Four kinds of value are known only when the engine runs, and join there
through the plan's own functions: the secret environment (`environment`),
the random revision of instance/.env (`unit_config`), how the host is run
(UnitHost's daMode: the application's and route's names, listener and
DirectAdmin storage, `wired`) and the PEM material of a `tls: {source:
config}` certificate. In the plan those inputs hold what is known without
them: the plain environment, the Unit application object without the
revision, the wiring of a host not run the DirectAdmin way, no chain and no key.

Reads the app's source tree (to hash it) and nothing else.
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypedDict

from daunit.layout import AppLayout
from daunit.manifest import app_entry_point, build_app_manifest, read_requirements, release_id, venv_key
from daunit.ownership import Owner
from daunit.providers.base import Connection, Health
from daunit.providers.instance import InstanceConfigInputs
from daunit.providers.release import ReleaseInputs
from daunit.providers.release_commands import ReleaseCommandsInputs
from daunit.providers.unit_app import UnitApplicationInputs
from daunit.providers.unit_cert import UnitCertificateInputs
from daunit.providers.unit_route import UnitRouteInputs
from daunit.providers.virtualenv import VirtualenvInputs
from daunit.render import (
    app_urls,
    directadmin_cert_files,
    dns_records,
    host_dispatch_entry,
    instance_environment,
    unit_app_name,
    unit_application,
    unit_route,
    unit_route_name,
    unit_wiring,
)
from daunit.shipped import with_entry_module
from daunit.spec import AppSpec, HostSpec
from daunit.spec.access import USER

# Shared by every stack on a host (one listener passes to one route). App
# routes are named `daflask:...` (daunit.ownership), so none can take this name.
DISPATCH_ROUTE = "da-flask-hosts"
# How long the health check after a switch waits for the app's answer (s).
HEALTH_TIMEOUT_S = 30
# The inputs (wire names) of the application and the route that follow how the
# host is run (AppPlan.wired): the component joins them from UnitHost's daMode.
APP_WIRING = ("name", "health", "storage")
ROUTE_WIRING = ("name", "steps", "dispatchEntry", "dispatchRoute", "listener", "health", "storage")


class _SiteArgs(TypedDict):
    """The inputs of every resource working in the app's tree (SiteInputs)."""

    connection: Connection
    app_dir: str
    user: str
    domain: str
    owner: str
    access: str | None


class _UnitArgs(TypedDict):
    """The inputs of every resource talking to Unit (UnitInputs)."""

    connection: Connection
    socket: str
    log: str


@dataclass(frozen=True)
class UnitWiring:
    """The application's and route's inputs on a host run one way (AppPlan.wired)."""

    unit_app: UnitApplicationInputs
    route: UnitRouteInputs


@dataclass(frozen=True)
class AppPlan:
    app: AppSpec
    host: HostSpec
    owner: Owner
    release: ReleaseInputs
    venv: VirtualenvInputs
    instance: InstanceConfigInputs
    release_commands: ReleaseCommandsInputs | None
    unit_app: UnitApplicationInputs
    route: UnitRouteInputs
    certificate: UnitCertificateInputs | None
    # What the stack exports about the app (daunit.outputs).
    urls: list[str]
    dns_records: list[dict[str, Any]]

    def environment(self, secret_values: dict[str, str] | None) -> dict[str, str]:
        """instance/.env's contents: the plain environment and the secrets."""
        return instance_environment(self.app, secret_values or {})

    def unit_config(self, revision: str | None) -> dict[str, Any]:
        """The Unit application object with the .env revision: a changed .env
        must restart the app, and the random revision says "changed" without
        saying anything about the secret values."""
        config = self.unit_app.config
        env = dict(config.get("environment") or {})
        env["DAFLASK_ENV_REVISION"] = revision or ""
        return {**config, "environment": env}

    def wired(self, da_mode: Mapping[str, Any] | None) -> UnitWiring:
        """The application's and route's inputs on a host run as `da_mode` says
        (UnitHost's daMode): ours, or on a host run the DirectAdmin way DirectAdmin's
        names, dispatch route and listener, with where it stores them (render.unit_wiring).
        Raises ValueError for what DirectAdmin's way cannot serve (other aliases)."""
        w = unit_wiring(self.app, self.host, self.owner, da_mode,
                        DISPATCH_ROUTE)
        health = self.route.health
        if health is not None:
            health = health.model_copy(update={"listener": w["listener"]})
        unit_app = self.unit_app.model_copy(update={
            "name": w["appName"], "health": health, "storage": w["appStorage"]})
        route = self.route.model_copy(update={
            "name": w["routeName"], "steps": w["steps"], "dispatch_entry": w["dispatchEntry"],
            "dispatch_route": w["dispatchRoute"], "listener": w["listener"], "health": health,
            "storage": w["routeStorage"]})
        return UnitWiring(unit_app, route)


def plan_app(app: AppSpec, host: HostSpec, owner: Owner,
             connection: Connection | dict[str, Any]) -> AppPlan:
    """Every resource's inputs for `app` on `host`, deployed by stack `owner`."""
    connection = Connection.model_validate(connection)
    layout = AppLayout.of(app, host)
    manifest = with_entry_module(build_app_manifest(app))
    rid = release_id(manifest)
    requirements = read_requirements(app)
    vkey = venv_key(app.python_version, requirements, interpreter=host.python)
    # `owner` claims the app dir for this stack, `domain` is checked to be
    # the user's before any tree work (daunit.hostops).
    site = _SiteArgs(connection=connection, app_dir=layout.app_dir, user=host.da_user,
                     domain=app.domain, owner=owner.mark,
                     access=USER if host.access == USER else None)
    unit = _UnitArgs(connection=connection, socket=host.unit_socket, log=host.unit_log)
    health = (Health(listener=app.listener, host=app.domain, path=app.health_path,
                     status=app.health_status, timeout=HEALTH_TIMEOUT_S)
              if app.health_check else None)
    commands = ReleaseCommandsInputs(
        **site, release_id=rid, venv_key=vkey, commands=[list(c) for c in app.release_commands],
        environment=None, secret_keys=list(app.secret_environment_keys)
    ) if app.release_commands else None
    return AppPlan(
        app=app, host=host, owner=owner,
        release=ReleaseInputs(
            **site, release_id=rid, files={path: e.sha256 for path, e in sorted(manifest.items())},
            source=str(Path(app.source).resolve()),
            entry_point=app_entry_point(app)),
        venv=VirtualenvInputs(**site, python=host.python, key=vkey,
                              requirements=requirements.decode()),
        instance=InstanceConfigInputs(**site, environment=dict(app.environment),
                                      secret_keys=list(app.secret_environment_keys)),
        release_commands=commands,
        unit_app=UnitApplicationInputs(
            **site, socket=unit["socket"], log=unit["log"], name=unit_app_name(app, owner),
            config=unit_application(app, host, rid, vkey, owner), release_id=rid,
            venv_key=vkey, keep=app.keep_releases, health=health),
        route=UnitRouteInputs(
            **unit, name=unit_route_name(app, owner), owner=owner.mark, app_dir=layout.app_dir,
            steps=unit_route(app, host, owner), dispatch_entry=host_dispatch_entry(app, owner),
            dispatch_route=DISPATCH_ROUTE, listener=app.listener, health=health),
        certificate=_certificate(app, host, owner, unit),
        urls=app_urls(app),
        dns_records=dns_records(app, host.dns_address) if host.dns_address else [],
    )


def _certificate(app: AppSpec, host: HostSpec, owner: Owner,
                 unit: _UnitArgs) -> UnitCertificateInputs | None:
    """The certificate's inputs; for `source: config` the chain and key join
    in the component (secrets of the stack config)."""
    if app.tls is None:
        return None
    cert_file, key_file = (directadmin_cert_files(app, host) if app.tls.source == "directadmin"
                           else (None, None))
    return UnitCertificateInputs(
        **unit, app=app.name, unit_name=unit_app_name(app, owner), domain=app.domain,
        source=app.tls.source, listener=app.tls.listener, dispatch_route=DISPATCH_ROUTE,
        cert_file=cert_file, key_file=key_file)
