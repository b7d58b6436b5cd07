"""FlaskApp: one Flask app on one DirectAdmin host. Wiring only, no I/O
beyond reading the app's source tree to hash it (so the preview can name
every file that changes)."""
from __future__ import annotations

from pathlib import Path
from typing import Any

import pulumi

from components.host import DirectAdminHost
from daunit.manifest import build_manifest, release_id, venv_key
from daunit.models import AppSpec, HostSpec
from daunit.render import (AppLayout, dns_records, host_dispatch_entry, unit_application,
                           unit_route)
from daunit.resources import InstanceConfig, Release, UnitApplication, UnitRoute, Virtualenv

DISPATCH_ROUTE = "daflask_hosts"


class FlaskApp(pulumi.ComponentResource):
    def __init__(self, name: str, *, app: AppSpec, host_spec: HostSpec, host: DirectAdminHost,
                 secret_env: pulumi.Input[dict[str, str]],
                 opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("daflask:index:FlaskApp", name, None, opts)
        child = pulumi.ResourceOptions(parent=self, depends_on=[host.unit])
        layout = AppLayout.for_app(app, host_spec)
        source = Path(app.source).resolve()
        manifest = build_manifest(source, entry_point=app.entry_point)
        rid = release_id(manifest)
        requirements = (source / app.requirements).read_text()
        vkey = venv_key(app.python_version, requirements)
        common = {"connection": host.connection, "appDir": layout.app_dir,
                  "user": host_spec.da_user}

        self.release = Release(f"{name}-release", {
            **common,
            "releaseId": rid,
            "files": {path: entry.sha256 for path, entry in manifest.items()},
            "source": str(source),
            "entryPoint": app.entry_point,
        }, child)
        self.venv = Virtualenv(f"{name}-venv", {
            **common,
            "python": host_spec.python,
            "key": vkey,
            "requirements": requirements,
        }, child)
        environment = pulumi.Output.secret(pulumi.Output.from_input(secret_env).apply(
            lambda secrets: {**app.environment, **(secrets or {})}))
        self.instance = InstanceConfig(f"{name}-instance", {
            **common, "environment": environment}, child)

        health = {"listener": app.listener, "host": app.domain, "path": app.health_path,
                  "status": app.health_status, "timeout": 20}
        unit_config = self.instance.revision.apply(
            lambda revision: _with_revision(unit_application(app, host_spec, rid, vkey),
                                            revision))
        self.unit_app = UnitApplication(f"{name}-unit-app", {
            **common,
            "name": app.name,
            "socket": host.unit_socket,
            "log": host.unit_log,
            "config": unit_config,
            "releaseId": rid,
            "venvKey": vkey,
            "keep": app.keep_releases,
            "health": health,
        }, pulumi.ResourceOptions(parent=self, depends_on=[self.release, self.venv,
                                                           self.instance, host.unit]))
        self.route = UnitRoute(f"{name}-unit-route", {
            "connection": host.connection,
            "name": app.name,
            "socket": host.unit_socket,
            "log": host.unit_log,
            "steps": unit_route(app, host_spec, rid),
            "dispatchEntry": host_dispatch_entry(app),
            "dispatchRoute": DISPATCH_ROUTE,
            "listener": app.listener,
            "health": health,
        }, pulumi.ResourceOptions(parent=self, depends_on=[self.unit_app]))

        self.urls = [f"http://{h}/" for h in [app.domain, *app.aliases]]
        self.dns_records = dns_records(app, host.address)
        self.release_id = rid
        self.register_outputs({"urls": self.urls, "releaseId": rid,
                               "unitApplication": app.name, "appDir": layout.app_dir})


def _with_revision(config: dict[str, Any], revision: str | None) -> dict[str, Any]:
    # A changed .env must restart the app; the random revision says "changed"
    # without saying anything about the secret values.
    env = dict(config.get("environment") or {})
    env["DAFLASK_ENV_REVISION"] = revision or ""
    return {**config, "environment": env}
