"""User mode (`access: user`): the Unit application and its route through DirectAdmin's CMD_UNIT.

No root anywhere: DirectAdmin puts the app into Unit (as DOMAIN_NAME) and
keeps it in its own storage, so its re-fill reproduces it and the panel lists
it; `set_route` routes the app's location and has DirectAdmin wire the front
server to Unit. The files around it (release, venv, .env, `current`) are the
user's own, over SSH as that user (hostops.as_site_user in user mode).

As in root mode: the diff is pure (a no-op connects to nothing), read() lists
through CMD_UNIT so a refresh sees an app or route removed or changed in the
panel, an object of another stack (DAFLASK_OWNER) is never changed, and a
failed health check puts the previous application back. The health check goes
through the front server: the domain on port 80 of the host. Each read-modify-write
of CMD_UNIT holds the user's own lock (~/.daflask/unit.lock, no root), so two stacks
of one user routing one domain take turns.
"""
from __future__ import annotations

from typing import Any

from pulumi.dynamic import CreateResult, ReadResult, UpdateResult

from daunit import hostops
from daunit.da_access import da_form
from daunit.da_api import DirectAdminAPI, Listing
from daunit.errors import ConfigError, HealthCheckError
from daunit.ownership import app_claim_problem, app_owner_mark, passes_to_app
from daunit.providers.base import DictProvider, plain
from daunit.providers.site import run_step
from daunit.providers.unit_app import app_dirs_of, owners_of


def unit_name(domain: str, name: str) -> str:
    """The name DirectAdmin gives an app in Unit (documented: DOMAIN_NAME)."""
    return f"{domain}_{name}"


def same(a: Any, b: Any) -> bool:
    """Equal as DirectAdmin lists them (numbers as strings)."""
    return bool(da_form(a) == da_form(b))


class DaUnitApplicationProvider(DictProvider):
    kind = "DaUnitApplication"
    required = ("connection", "api", "loginKey", "domain", "name", "config", "appDir", "user",
                "releaseId", "venvKey", "owner")
    replace_on = ("connection.host", "connection.port", "api.url", "domain", "name")
    outputs = ("healthChecked",)
    machine_local = ("connection.keyFile", "api.caFile")

    def create(self, props: dict[str, Any]) -> CreateResult:
        props = plain(props)
        return CreateResult(id_=f"{props['domain']}/{props['name']}", outs=self._apply(props, None))

    def update(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> UpdateResult:
        return UpdateResult(outs=self._apply(plain(news), plain(olds)))

    def _apply(self, props: dict[str, Any], olds: dict[str, Any] | None) -> dict[str, Any]:
        api, domain, name, config = DirectAdminAPI.of(props), props["domain"], props["name"], props["config"]
        with self.session(props) as s:
            # Under the user's lock: another stack of this user may route the domain now.
            with self.host_lock(s, f"DaUnitApplication {domain}/{name}", user_mode=True):
                listing = api.listing(domain)
                before = listing.applications.get(name)
                self._claim(props, olds, before, s.target.host)
                if before is None or not same(before, config):
                    api.save_app(domain, name, config, create=before is None)
            health = props.get("health")
            routed = bool(health) and listing.route(domain, props.get("location", "/")) is not None
            if routed and health:
                from daunit.remote.health import check_health

                try:
                    check_health(s, health)
                except HealthCheckError:
                    # What we last applied goes back (the listing has numbers as strings).
                    previous = (olds or {}).get("config") or before
                    if previous is not None:
                        api.save_app(domain, name, previous, create=False)
                    raise
            site = hostops.Site.of(props, olds)
            run_step(s, hostops.switch_and_prune(site, props["releaseId"], int(props.get("keep", 5)),
                                                 [props["releaseId"], props["venvKey"]]))
        return {**props, "healthChecked": routed}

    @staticmethod
    def _claim(props: dict[str, Any], olds: dict[str, Any] | None, live: Any, host: str) -> None:
        problem = app_claim_problem(unit_name(props["domain"], props["name"]), live,
                                    owners_of(props, olds), app_dirs_of(props, olds))
        if problem:
            raise ConfigError(problem + " (DirectAdmin: Advanced Features, Nginx Unit)", host=host)

    def read(self, id_: str, props: dict[str, Any]) -> ReadResult:
        props = plain(props)
        with self.session(props):
            live = DirectAdminAPI.of(props).listing(props["domain"]).applications.get(props["name"])
        if live is None:
            return ReadResult(id_=None, outs={})
        # As listed (numbers as strings) only when it really differs: that is drift.
        config = props["config"] if same(live, props["config"]) else live
        return ReadResult(id_=id_, outs={**props, "config": config})

    def delete(self, _id: str, props: dict[str, Any]) -> None:
        props = plain(props)
        api = DirectAdminAPI.of(props)
        with self.session(props) as s, self.host_lock(s, f"DaUnitApplication {props['name']} (delete)",
                                                      user_mode=True):
            live = api.listing(props["domain"]).applications.get(props["name"])
            self._claim(props, None, live, s.target.host)
            if live is not None:
                api.delete_app(props["domain"], props["name"])


class DaUnitRouteProvider(DictProvider):
    kind = "DaUnitRoute"
    required = ("connection", "api", "loginKey", "domain", "location", "steps", "appName", "owner")
    replace_on = ("connection.host", "connection.port", "api.url", "domain", "location")
    outputs = ("healthChecked",)
    machine_local = ("connection.keyFile", "api.caFile")

    def create(self, props: dict[str, Any]) -> CreateResult:
        props = plain(props)
        return CreateResult(id_=f"{props['domain']}{props['location']}", outs=self._apply(props, None))

    def update(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> UpdateResult:
        return UpdateResult(outs=self._apply(plain(news), plain(olds)))

    def _apply(self, props: dict[str, Any], olds: dict[str, Any] | None) -> dict[str, Any]:
        api, domain, location, steps = (DirectAdminAPI.of(props), props["domain"], props["location"],
                                        props["steps"])
        with self.session(props) as s:
            with self.host_lock(s, f"DaUnitRoute {domain}{location}", user_mode=True):
                listing = api.listing(domain)
                current = listing.route(domain, location)
                self._claim(props, olds, listing, current, s.target.host)
                if current is None or not same(current, steps):
                    api.set_route(domain, location, steps)
            health = props.get("health")
            if health:
                from daunit.remote.health import check_health

                try:
                    check_health(s, health)
                except HealthCheckError:
                    if current is not None and not same(current, steps):
                        api.set_route(domain, location, (olds or {}).get("steps") or current)
                    raise
        return {**props, "healthChecked": bool(health)}

    @staticmethod
    def _claim(props: dict[str, Any], olds: dict[str, Any] | None, listing: Listing, current: Any,
               host: str) -> None:
        """The location is ours to route when nothing routes it yet, or every app it passes
        to is ours (our name, or marked as this stack)."""
        if current is None:
            return
        ours = owners_of(props, olds)
        mine = unit_name(props["domain"], props["appName"])
        for target in sorted(passes_to_app(current) - {mine}):
            app = listing.applications.get(target.removeprefix(f"{props['domain']}_"))
            if app is None or app_owner_mark(app) not in ours:
                raise ConfigError(
                    f"location {props['location']} of {props['domain']} is routed by DirectAdmin to "
                    f"Unit application {target!r}, which is not this stack's: this stack does not "
                    "change that route. Remove it in DirectAdmin (Advanced Features, Nginx Unit) "
                    "or deploy the app to another domain.", host=host)

    def _mine(self, props: dict[str, Any], listing: Listing) -> Any:
        current = listing.route(props["domain"], props["location"])
        return current if current is not None and \
            passes_to_app(current) <= {unit_name(props["domain"], props["appName"])} else None

    def read(self, id_: str, props: dict[str, Any]) -> ReadResult:
        props = plain(props)
        with self.session(props):
            current = self._mine(props, DirectAdminAPI.of(props).listing(props["domain"]))
        if current is None:
            return ReadResult(id_=None, outs={})
        steps = props["steps"] if same(current, props["steps"]) else current
        return ReadResult(id_=id_, outs={**props, "steps": steps})

    def delete(self, _id: str, props: dict[str, Any]) -> None:
        props = plain(props)
        api = DirectAdminAPI.of(props)
        with self.session(props) as s, self.host_lock(s, f"DaUnitRoute {props['location']} (delete)",
                                                      user_mode=True):
            # Only a route that passes to our app alone is ours to remove.
            if self._mine(props, api.listing(props["domain"])) is not None:
                api.set_route(props["domain"], props["location"], None)
