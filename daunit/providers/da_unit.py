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

Inputs and outputs are typed (providers/base.py) with the wire names user mode
had from the start, so its state reads as before.
"""
from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from daunit import hostops
from daunit.da_access import da_form
from daunit.da_api import ApiSettings, DirectAdminAPI, Listing
from daunit.errors import ConfigError, HealthCheckError
from daunit.ownership import app_claim_problem, app_owner_mark, passes_to_app
from daunit.providers.base import Health, Inputs, Provider, Wire
from daunit.providers.site import run_step
from daunit.providers.unit_app import SwitchInputs, app_dirs_of, owners_of

if TYPE_CHECKING:
    from daunit.remote.ssh import SSHSession


def unit_name(domain: str, name: str) -> str:
    """The name DirectAdmin gives an app in Unit (documented: DOMAIN_NAME)."""
    return f"{domain}_{name}"


def same(a: Any, b: Any) -> bool:
    """Equal as DirectAdmin lists them (numbers as strings)."""
    return bool(da_form(a) == da_form(b))


class DirectAdminLogin(Wire):
    """The `api` input: DirectAdmin's address and login (the key is `loginKey`, a secret)."""

    url: str
    user: str
    # A path on the deploying machine (machine-local); None: the system's CAs.
    ca_file: str | None = None


class DaUnitInputs(Inputs):
    """What the application and the route share: DirectAdmin's API and the domain."""

    api: DirectAdminLogin
    login_key: str
    domain: str
    owner: str
    # The location DirectAdmin's front server passes to Unit (da_access.DA_LOCATION).
    location: str
    # Through the front server: the domain on port 80 of the host.
    health: Health | None = None

    def directadmin(self) -> DirectAdminAPI:
        return DirectAdminAPI(ApiSettings(self.api.url, self.api.user, self.login_key,
                                          self.api.ca_file or None))


class DaUnitApplicationInputs(DaUnitInputs, SwitchInputs):
    """The app's name in DirectAdmin (Unit's is DOMAIN_NAME), its Unit object and the
    release it switches to; DaUnitInputs first, so `domain` and `owner` are required."""


class DaUnitApplicationOutputs(Wire):
    health_checked: bool


class DaUnitRouteInputs(DaUnitInputs):
    app_name: str
    steps: list[Any]

    def label(self) -> str:
        return f"{self.domain}{self.location}"


class DaUnitRouteOutputs(Wire):
    health_checked: bool


def _checked(s: SSHSession, health: Health, revert: Callable[[], None]) -> None:
    """The health check; when it fails, `revert` puts back what was changed first."""
    from daunit.remote.health import check_health

    try:
        check_health(s, health.wire())
    except HealthCheckError:
        revert()
        raise


def refreshed(key: str, wanted: Any, live: Any) -> dict[str, object] | None:
    """What refresh records: None when DirectAdmin lists nothing, else `key` as listed
    (numbers as strings) only when it really differs, for that is drift."""
    if live is None:
        return None
    return {key: wanted if same(live, wanted) else live}


class DaUnitApplicationProvider(Provider[DaUnitApplicationInputs, DaUnitApplicationOutputs]):
    replace_on = ("connection.host", "connection.port", "api.url", "domain", "name")
    machine_local = ("connection.keyFile", "api.caFile")

    def id_of(self, inputs: DaUnitApplicationInputs) -> str:
        return f"{inputs.domain}/{inputs.name}"

    def apply(self, inputs: DaUnitApplicationInputs,
              olds: DaUnitApplicationInputs | None) -> DaUnitApplicationOutputs:
        api, domain, name, config = inputs.directadmin(), inputs.domain, inputs.name, inputs.config
        with self.session(inputs) as s:
            # Under the user's lock: another stack of this user may route the domain now.
            with self.host_lock(s, f"DaUnitApplication {domain}/{name}", user_mode=True):
                listing = api.listing(domain)
                before = listing.applications.get(name)
                self._claim(inputs, olds, before, s.target.host)
                if before is None or not same(before, config):
                    api.save_app(domain, name, config, create=before is None)
            routed = inputs.health is not None and listing.route(domain, inputs.location) is not None
            if routed and inputs.health:
                # What we last applied goes back (the listing has numbers as strings).
                previous = (olds.config if olds else None) or before

                def put_back() -> None:
                    if previous is not None:
                        api.save_app(domain, name, previous, create=False)
                _checked(s, inputs.health, put_back)
            run_step(s, hostops.switch_and_prune(inputs.site(olds), inputs.release_id, inputs.keep,
                                                 [inputs.release_id, inputs.venv_key]))
        return DaUnitApplicationOutputs(health_checked=routed)

    @staticmethod
    def _claim(inputs: DaUnitApplicationInputs, olds: DaUnitApplicationInputs | None, live: Any,
               host: str) -> None:
        problem = app_claim_problem(unit_name(inputs.domain, inputs.name), live,
                                    owners_of(inputs, olds), app_dirs_of(inputs, olds))
        if problem:
            raise ConfigError(problem + " (DirectAdmin: Advanced Features, Nginx Unit)", host=host)

    def refresh(self, id_: str, inputs: DaUnitApplicationInputs,
                recorded: DaUnitApplicationOutputs | None) -> dict[str, object] | None:
        with self.session(inputs):
            live = inputs.directadmin().listing(inputs.domain).applications.get(inputs.name)
        return refreshed("config", inputs.config, live)

    def remove(self, id_: str, inputs: DaUnitApplicationInputs) -> None:
        api = inputs.directadmin()
        with self.session(inputs) as s, self.host_lock(s, f"DaUnitApplication {inputs.name} (delete)",
                                                       user_mode=True):
            live = api.listing(inputs.domain).applications.get(inputs.name)
            self._claim(inputs, None, live, s.target.host)
            if live is not None:
                api.delete_app(inputs.domain, inputs.name)


class DaUnitRouteProvider(Provider[DaUnitRouteInputs, DaUnitRouteOutputs]):
    replace_on = ("connection.host", "connection.port", "api.url", "domain", "location")
    machine_local = ("connection.keyFile", "api.caFile")

    def id_of(self, inputs: DaUnitRouteInputs) -> str:
        return f"{inputs.domain}{inputs.location}"

    def apply(self, inputs: DaUnitRouteInputs, olds: DaUnitRouteInputs | None) -> DaUnitRouteOutputs:
        api, domain, location, steps = inputs.directadmin(), inputs.domain, inputs.location, inputs.steps
        with self.session(inputs) as s:
            with self.host_lock(s, f"DaUnitRoute {domain}{location}", user_mode=True):
                listing = api.listing(domain)
                current = listing.route(domain, location)
                self._claim(inputs, olds, listing, current, s.target.host)
                if current is None or not same(current, steps):
                    api.set_route(domain, location, steps)
            if inputs.health:
                def put_back() -> None:
                    if current is not None and not same(current, steps):
                        api.set_route(domain, location, (olds.steps if olds else None) or current)
                _checked(s, inputs.health, put_back)
        return DaUnitRouteOutputs(health_checked=inputs.health is not None)

    @staticmethod
    def _claim(inputs: DaUnitRouteInputs, olds: DaUnitRouteInputs | None, listing: Listing,
               current: Any, host: str) -> None:
        """The location is ours to route when nothing routes it yet, or every app it passes
        to is ours (our name, or marked as this stack)."""
        if current is None:
            return
        ours = owners_of(inputs, olds)
        mine = unit_name(inputs.domain, inputs.app_name)
        for target in sorted(passes_to_app(current) - {mine}):
            app = listing.applications.get(target.removeprefix(f"{inputs.domain}_"))
            if app is None or app_owner_mark(app) not in ours:
                raise ConfigError(
                    f"location {inputs.location} of {inputs.domain} is routed by DirectAdmin to "
                    f"Unit application {target!r}, which is not this stack's: this stack does not "
                    "change that route. Remove it in DirectAdmin (Advanced Features, Nginx Unit) "
                    "or deploy the app to another domain.", host=host)

    @staticmethod
    def _mine(inputs: DaUnitRouteInputs, listing: Listing) -> Any:
        current = listing.route(inputs.domain, inputs.location)
        return current if current is not None and \
            passes_to_app(current) <= {unit_name(inputs.domain, inputs.app_name)} else None

    def refresh(self, id_: str, inputs: DaUnitRouteInputs,
                recorded: DaUnitRouteOutputs | None) -> dict[str, object] | None:
        with self.session(inputs):
            current = self._mine(inputs, inputs.directadmin().listing(inputs.domain))
        return refreshed("steps", inputs.steps, current)

    def remove(self, id_: str, inputs: DaUnitRouteInputs) -> None:
        api = inputs.directadmin()
        with self.session(inputs) as s, self.host_lock(s, f"DaUnitRoute {inputs.location} (delete)",
                                                       user_mode=True):
            # Only a route that passes to our app alone is ours to remove.
            if self._mine(inputs, api.listing(inputs.domain)) is not None:
                api.set_route(inputs.domain, inputs.location, None)
