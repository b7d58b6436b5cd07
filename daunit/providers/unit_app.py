"""UnitApplication: PUT /config/applications/<name> with canonical JSON.

The switch to a new release or venv is this one PUT (Unit replaces the
workers gracefully). When the app is already routed, a health check through
Unit follows; if it fails, the previous application object goes back in the
same operation and the update fails with the status, a body snippet and the
tail of unit.log. After a good switch, `current` points at the live release
and releases/venvs beyond the kept number are pruned.
"""
from __future__ import annotations

from typing import Any

from pulumi.dynamic import CreateResult, ReadResult, UpdateResult

from daunit import hostops
from daunit.errors import HealthCheckError, UnitAPIError
from daunit.providers.base import Provider, plain


def app_path(name: str) -> list[str]:
    return ["config", "applications", name]


class UnitApplicationProvider(Provider):
    kind = "UnitApplication"
    required = ("connection", "name", "config", "socket", "appDir", "releaseId", "venvKey")
    replace_on = ("connection.host", "connection.port", "name", "socket")
    outputs = ("healthChecked",)

    def create(self, props: dict[str, Any]) -> CreateResult:
        props = plain(props)
        return CreateResult(id_=props["name"], outs=self._apply(props))

    def update(self, _id: str, _olds: dict[str, Any], news: dict[str, Any]) -> UpdateResult:
        return UpdateResult(outs=self._apply(plain(news)))

    def _apply(self, props: dict[str, Any]) -> dict[str, Any]:
        name = props["name"]
        with self.unit_api(props) as (s, unit):
            # Under the host lock: a route provider may rewrite shared config
            # (once, when Unit's `routes` is still an array) at the same time.
            with self.host_lock(s, f"UnitApplication {name}"):
                before = unit.get_or(app_path(name))
                if before != props["config"]:
                    unit.put(app_path(name), props["config"])
            health = props.get("health")
            routed = bool(health) and unit.exists(["config", "routes", name])
            if routed:
                from daunit.remote.health import check_health

                try:
                    check_health(s, health, log_tail=unit.log_tail)
                except HealthCheckError:
                    # Put the previous application back before failing: the
                    # previous release keeps serving.
                    if before is not None:
                        unit.put(app_path(name), before)
                    raise
            site = hostops.Site.of(props)
            s.run(hostops.switch_current(site, props["releaseId"]))
            s.run(hostops.prune(site, int(props.get("keep", 5)), [props["releaseId"], props["venvKey"]]))
        return {**props, "healthChecked": routed}

    def read(self, id_: str, props: dict[str, Any]) -> ReadResult:
        props = plain(props)
        with self.unit_api(props) as (s, unit):
            live = unit.get_or(app_path(id_))
        if live is None:
            return ReadResult(id_=None, outs={})
        return ReadResult(id_=id_, outs={**props, "config": live})

    def delete(self, id_: str, props: dict[str, Any]) -> None:
        props = plain(props)
        with self.unit_api(props) as (s, unit):
            try:
                unit.delete(app_path(id_))
            except UnitAPIError as exc:
                if exc.status != 404:  # already gone is what we wanted
                    raise
