"""FlaskApp: one Flask app on one DirectAdmin host. Wiring only: the plan
(daunit.plan) says every resource's inputs; here they become resources, with
the values only the engine knows (secrets, the .env revision, how the host is
run: UnitHost's daMode) joined in."""
from __future__ import annotations

from typing import Any

import pulumi

from components.host import DirectAdminHost
from daunit.da_access import DA_LOCATION, routed_to
from daunit.da_resources import DaUnitApplication, DaUnitRoute
from daunit.ownership import Owner
from daunit.plan import APP_WIRING, DISPATCH_ROUTE, ROUTE_WIRING, AppPlan, UnitWiring, plan_app
from daunit.providers.base import Wire
from daunit.render import chain_sha256, unit_route
from daunit.resources import (
    InstanceConfig,
    Release,
    ReleaseCommands,
    UnitApplication,
    UnitCertificate,
    UnitRoute,
    Virtualenv,
)
from daunit.spec import AppSpec, HostSpec
from daunit.spec.access import USER

__all__ = ["DISPATCH_ROUTE", "FlaskApp", "current_owner"]


def current_owner() -> Owner:
    """This stack, as its Unit objects are named and marked."""
    return Owner(pulumi.get_project(), pulumi.get_stack())


class FlaskApp(pulumi.ComponentResource):
    def __init__(self, name: str, *, app: AppSpec, host_spec: HostSpec, host: DirectAdminHost,
                 secret_env: pulumi.Input[dict[str, str]],
                 tls_material: pulumi.Input[dict[str, str]] | None = None,
                 opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("daflask:index:FlaskApp", name, None, opts)
        plan = plan_app(app, host_spec, current_owner(), host.connection)
        host_unit = [host.unit] if host.unit is not None else []  # none in user mode
        child = pulumi.ResourceOptions(parent=self, depends_on=host_unit)
        self.release = Release(f"{name}-release", _props(plan.release), child)
        self.venv = Virtualenv(f"{name}-venv", _props(plan.venv), child)
        environment: pulumi.Output[dict[str, str]] = pulumi.Output.secret(
            pulumi.Output.from_input(secret_env).apply(plan.environment))
        self.instance = InstanceConfig(f"{name}-instance",
                                       {**_props(plan.instance), "environment": environment}, child)

        before_switch: list[pulumi.Resource] = [self.release, self.venv, self.instance, *host_unit]
        self.release_commands: ReleaseCommands | None = None
        if plan.release_commands is not None:
            self.release_commands = ReleaseCommands(
                f"{name}-release-commands",
                {**_props(plan.release_commands), "environment": environment},
                pulumi.ResourceOptions(parent=self,
                                       depends_on=[self.release, self.venv, self.instance]))
            before_switch.append(self.release_commands)
        if host.access == USER:
            unit_name: pulumi.Input[str] = self._da_unit_resources(name, plan, host, before_switch)
        else:
            unit_name = self._unit_resources(name, plan, host, before_switch)
        self.certificate = self._certificate(name, plan, host, tls_material, unit_name)
        self._publish(plan, unit_name)

    def _unit_resources(self, name: str, plan: AppPlan, host: DirectAdminHost,
                        before_switch: list[pulumi.Resource]) -> pulumi.Output[str]:
        """The switch, after everything the new release runs with; then the route.
        Named and wired ours, or DirectAdmin's on a host run its way in root mode
        (host.da_mode); returns the application's name in Unit."""
        wired: pulumi.Output[UnitWiring] = pulumi.Output.from_input(host.da_mode).apply(plan.wired)
        unit_config = self.instance.output("revision").apply(plan.unit_config)
        self.unit_app = UnitApplication(f"{name}-unit-app", {
            **_props(plan.unit_app), **_joined(wired.apply(lambda w: w.unit_app), APP_WIRING),
            "config": unit_config,
        }, pulumi.ResourceOptions(parent=self, depends_on=before_switch))
        self.route = UnitRoute(f"{name}-unit-route", {
            **_props(plan.route), **_joined(wired.apply(lambda w: w.route), ROUTE_WIRING),
        }, pulumi.ResourceOptions(parent=self, depends_on=[self.unit_app]))
        return wired.apply(lambda w: w.unit_app.name)

    def _da_unit_resources(self, name: str, plan: AppPlan, host: DirectAdminHost,
                           before_switch: list[pulumi.Resource]) -> str:
        """User mode: the app and its route through DirectAdmin's CMD_UNIT (providers/da_unit.py).
        Returns the app's name in Unit (DOMAIN_NAME)."""
        app, host_spec = plan.app, plan.host
        rid, vkey = plan.release.release_id, plan.venv.key
        da_name = f"{app.domain}_{app.name}"
        # Through the front server: the domain on port 80 of the host.
        health = ({"listener": f"{host_spec.address}:80", "host": app.domain, "path": app.health_path,
                   "status": app.health_status, "timeout": 30} if app.health_check else None)
        api = {"api": host.directadmin, "loginKey": host.login_key, "location": DA_LOCATION}
        site = {k: v for k, v in _props(plan.instance).items()
                if k not in ("environment", "secretKeys")}
        self.da_app = DaUnitApplication(f"{name}-unit-app", {
            **site, **api, "name": app.name,
            "config": self.instance.output("revision").apply(plan.unit_config),
            "releaseId": rid, "venvKey": vkey, "keep": app.keep_releases, "health": health,
        }, pulumi.ResourceOptions(parent=self, depends_on=before_switch))
        self.da_route = DaUnitRoute(f"{name}-unit-route", {
            "connection": host.connection, **api, "domain": app.domain, "appName": app.name,
            "owner": plan.release.owner,
            "steps": routed_to(unit_route(app, host_spec, plan.owner), da_name),
            "health": health,
        }, pulumi.ResourceOptions(parent=self, depends_on=[self.da_app]))
        return da_name

    def _publish(self, plan: AppPlan, unit_name: pulumi.Input[str]) -> None:
        """What the program exports from this app (daunit.outputs)."""
        self.urls = plan.urls
        self.dns_records = plan.dns_records
        self.release_id = plan.release.release_id
        self.venv_key = plan.venv.key
        self.unit_name = unit_name
        self.tls = self._tls_facts(plan.app)
        self.register_outputs({"urls": self.urls, "releaseId": self.release_id,
                               "venvKey": self.venv_key, "unitApplication": self.unit_name,
                               "appDir": plan.release.app_dir, "tls": self.tls})

    def _certificate(self, name: str, plan: AppPlan, host: DirectAdminHost,
                     tls_material: pulumi.Input[dict[str, str]] | None,
                     unit_name: pulumi.Input[str]) -> UnitCertificate | None:
        if plan.certificate is None:
            return None
        props: dict[str, Any] = {
            **_props(plan.certificate), "unitName": unit_name,
            # On a DirectAdmin server the front server serves HTTPS: refused there.
            "daMode": host.da_mode}
        if plan.certificate.source == "config":
            material = pulumi.Output.secret(tls_material or {})
            chain = material.apply(lambda m: (m or {}).get("chain"))
            props["chain"] = chain
            props["key"] = material.apply(lambda m: (m or {}).get("key"))
            # The chain is public (every client is sent it) and its hash says
            # nothing about the key: shown in the preview, it names a rotation.
            props["chainSha256"] = pulumi.Output.unsecret(
                chain.apply(lambda c: chain_sha256(c) if isinstance(c, str) else None))
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


def _props(inputs: Any) -> dict[str, Any]:
    """A planned resource's inputs as the engine takes them (camelCase; no
    None, as the component never passed one)."""
    props: dict[str, Any] = inputs.wire(exclude_none=True)
    return props


def _joined(inputs: pulumi.Output[Any], keys: tuple[str, ...]) -> dict[str, pulumi.Output[Any]]:
    """The inputs `keys` of planned inputs known only when the engine runs, one
    output each: the others stay plain values, known in every preview (an unknown
    connection would read as a replace)."""
    def pick(key: str) -> pulumi.Output[Any]:
        return inputs.apply(lambda model: _wire_of(model).get(key))
    return {key: pick(key) for key in keys}


def _wire_of(model: Wire) -> dict[str, Any]:
    return model.wire(exclude_none=True)
