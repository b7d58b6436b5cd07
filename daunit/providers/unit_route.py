"""UnitRoute: the app's own named route, joined to a shared listener.

Unit config shared by every app on a host (the listener and the host-dispatch
route) is changed by read-modify-write of just the entry this app owns, under
a host-wide lock, so parallel resources and concurrent stacks lose nothing.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

from pulumi.dynamic import CreateResult, ReadResult, UpdateResult

from daunit.errors import ConfigError, HealthCheckError, UnitAPIError
from daunit.providers.base import Provider, plain
from daunit.routing import (dispatch_without, dispatch_with, normalized_routes_config,
                            own_dispatch_entry)

if TYPE_CHECKING:
    from daunit.remote.unit import UnitClient


class UnitRouteProvider(Provider):
    kind = "UnitRoute"
    required = ("connection", "name", "steps", "dispatchEntry", "listener", "dispatchRoute",
                "socket")
    replace_on = ("connection.host", "connection.port", "name", "socket", "dispatchRoute")
    outputs = ("healthChecked",)

    def create(self, props: dict[str, Any]) -> CreateResult:
        props = plain(props)
        return CreateResult(id_=props["name"], outs=self._apply(props))

    def update(self, _id: str, _olds: dict[str, Any], news: dict[str, Any]) -> UpdateResult:
        return UpdateResult(outs=self._apply(plain(news)))

    def _apply(self, props: dict[str, Any]) -> dict[str, Any]:
        name, dispatch, listener = props["name"], props["dispatchRoute"], props["listener"]
        with self.unit_api(props) as (s, unit):
            with self.host_lock(s, f"UnitRoute {name}"):
                # Only the two parts we touch: the whole /config holds every
                # app on the host and grows with them.
                routes = unit.get_or("/config/routes")
                if isinstance(routes, dict):
                    listeners = unit.get_or("/config/listeners") or {}
                else:
                    routes, listeners = self._named_routes(unit)
                old_steps = routes.get(name)
                old_dispatch = routes.get(dispatch)
                unit.put(["config", "routes", name], props["steps"])
                unit.put(["config", "routes", dispatch],
                         dispatch_with(old_dispatch or [], name, props["dispatchEntry"]))
                self._ensure_listener(unit, listeners, listener, dispatch)
            # The check waits for the app to start: outside the lock, or every
            # other app on the host would wait for this one's start-up too.
            health = props.get("health")
            if health:
                from daunit.remote.health import check_health

                try:
                    check_health(s, health, log_tail=unit.log_tail)
                except HealthCheckError:
                    with self.host_lock(s, f"UnitRoute {name} (revert)"):
                        self._restore(unit, name, dispatch, old_steps, old_dispatch)
                    raise
        return {**props, "healthChecked": bool(props.get("health"))}

    @staticmethod
    def _restore(unit: UnitClient, name: str, dispatch: str, old_steps: Any,
                 old_dispatch: list[dict[str, Any]] | None) -> None:
        """Put this app's route and dispatch entry back as they were; entries of
        other apps, which may have changed since, are left as they are now."""
        if old_steps is not None:
            unit.put(["config", "routes", name], old_steps)
        if old_dispatch is not None:
            current = unit.get_or(["config", "routes", dispatch]) or []
            old_entry = own_dispatch_entry(old_dispatch, name)
            unit.put(["config", "routes", dispatch],
                     dispatch_with(current, name, old_entry) if old_entry is not None
                     else dispatch_without(current, name))

    @staticmethod
    def _named_routes(unit: UnitClient) -> tuple[dict[str, Any], dict[str, Any]]:
        """Turn Unit's initial `routes` array into an object (named routes need
        one); the routes and listeners as they are afterwards."""
        config = unit.get("/config")
        fixed = normalized_routes_config(config) or config
        if fixed.get("listeners") == config.get("listeners"):
            # Only `routes` changes: never write back more than that.
            unit.put(["config", "routes"], fixed["routes"])
        else:
            unit.put("/config", fixed)
        return fixed.get("routes") or {}, fixed.get("listeners") or {}

    @staticmethod
    def _ensure_listener(unit: UnitClient, listeners: dict[str, Any], listener: str,
                         dispatch: str) -> None:
        want = f"routes/{dispatch}"
        current = listeners.get(listener)
        if current is None:
            unit.put(["config", "listeners", listener], {"pass": want})
        elif current.get("pass") != want:
            raise ConfigError(
                f"listener {listener!r} already passes requests to {current.get('pass')!r}, "
                f"not to {want!r}. Choose another `listener` for this app, or point that "
                f"listener at {want!r} by hand once (`PUT /config/listeners/{listener}/pass`).")

    def read(self, id_: str, props: dict[str, Any]) -> ReadResult:
        props = plain(props)
        name, dispatch = id_, props["dispatchRoute"]
        with self.unit_api(props) as (s, unit):
            routes = unit.get("/config/routes")
        if not isinstance(routes, dict) or name not in routes:
            return ReadResult(id_=None, outs={})
        entry = own_dispatch_entry(routes.get(dispatch) or [], name)
        return ReadResult(id_=id_, outs={**props, "steps": routes[name],
                                         "dispatchEntry": entry})

    def delete(self, id_: str, props: dict[str, Any]) -> None:
        props = plain(props)
        name, dispatch = id_, props["dispatchRoute"]
        with self.unit_api(props) as (s, unit):
            with self.host_lock(s, f"UnitRoute {name} (delete)"):
                routes = unit.get("/config/routes")
                if not isinstance(routes, dict):
                    return
                remaining = dispatch_without(routes.get(dispatch) or [], name)
                if remaining:
                    unit.put(["config", "routes", dispatch], remaining)
                else:
                    # Last app on this dispatch route: drop the listeners that
                    # lead to it, then the route itself.
                    listeners = unit.get("/config/listeners") or {}
                    for lname, lconf in listeners.items():
                        if lconf.get("pass") == f"routes/{dispatch}":
                            unit.delete(["config", "listeners", lname])
                    if dispatch in routes:
                        unit.delete(["config", "routes", dispatch])
                if name in routes:
                    try:
                        unit.delete(["config", "routes", name])
                    except UnitAPIError as exc:
                        if exc.status != 404:
                            raise
