"""The acting half of `python -m daunit.status`: one SSH connection per host,
kept across `--watch` refreshes, only reads."""
from __future__ import annotations

import time
from types import TracebackType
from typing import Any, Self

from daunit import facts
from daunit.errors import DeployError
from daunit.layout import AppLayout
from daunit.providers.base import local_key_file
from daunit.providers.site import read_fact
from daunit.remote.health import probe
from daunit.remote.ssh import SSHSession, SSHTarget
from daunit.remote.unit import UnitClient
from daunit.spec import AppSpec, HostSpec, StackSpec
from daunit.spec.local import known_hosts_text
from daunit.status import AppStatus, HostStatus, app_status


def target_for(host: HostSpec) -> SSHTarget:
    key_file, use_agent = local_key_file(host.key_file)
    return SSHTarget(host=host.address, port=host.port, user=host.ssh_user,
                     known_hosts=known_hosts_text(host), key_file=key_file, use_agent=use_agent)


class Observer:
    """Reads every host of a stack; sessions live as long as the observer."""

    def __init__(self, spec: StackSpec, outputs: dict[str, Any]) -> None:
        self.spec = spec
        self.outputs = outputs
        self.sessions = {name: SSHSession(target_for(h)) for name, h in spec.hosts.items()}

    def __enter__(self) -> Self:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        for session in self.sessions.values():
            session.close()

    def observe(self) -> list[HostStatus]:
        return [self._host(name, h) for name, h in self.spec.hosts.items()]

    def _host(self, name: str, host: HostSpec) -> HostStatus:
        out = HostStatus(host=name, address=host.address)
        apps = [a for a in self.spec.apps if a.host == name]
        session = self.sessions[name]
        try:
            with UnitClient(session, host.unit_socket, host.unit_log) as unit:
                status = unit.get("/status")
                applications = unit.get("/config/applications")
                out.unit_version = unit.server.partition("/")[2]
        except DeployError as exc:
            out.error = str(exc).splitlines()[0]
            return out
        out.connections = {k: int(v) for k, v in (status.get("connections") or {}).items()}
        out.requests_total = (status.get("requests") or {}).get("total")
        out.apps = [app_status(name, a, a.app_dir_on(host), status, applications, self.outputs)
                    for a in apps]
        self._ages(session, host, apps, out.apps)
        for spec, app in zip(apps, out.apps, strict=True):
            if app.unit_name is not None:
                self._health(session, spec, app)
        return out

    @staticmethod
    def _ages(session: SSHSession, host: HostSpec, specs: list[AppSpec], apps: list[AppStatus]) -> None:
        dirs = {a.app: AppLayout.of(s, host).release_dir(a.release)
                for s, a in zip(specs, apps, strict=True) if a.release}
        if not dirs:
            return
        ages = read_fact(session, facts.ages(list(dirs.values())))
        for app in apps:
            app.release_age_s = ages.get(dirs.get(app.app, ""))

    @staticmethod
    def _health(session: SSHSession, spec: AppSpec, app: AppStatus) -> None:
        started = time.monotonic()
        try:
            response = probe(session, spec.listener, spec.domain, spec.health_path, timeout=5)
        except DeployError as exc:
            app.health = f"no answer ({str(exc).splitlines()[0][:80]})"
            return
        app.health_ms = round((time.monotonic() - started) * 1000)
        app.health = f"{response.status} {response.reason}".strip()
