"""UnitApplication: PUT /config/applications/<name> with canonical JSON.

The switch to a new release or venv is this one PUT (Unit replaces the
workers gracefully). When the app is already routed, a health check through
Unit follows; if it fails, the previous application object goes back in the
same operation and the update fails with the status, a body snippet and the
tail of unit.log. After a good switch, `current` points at the live release
and releases/venvs beyond the kept number are pruned.

The object is this stack's (daunit.ownership): before any change or delete
the live object's DAFLASK_OWNER is checked, and an object of another stack
is refused with an error naming it. A change of `name` (the previous
release named apps by the bare app name) is an update, not a replace: the
new object is made beside the old one, the route switches to it
(UnitRoute), and the route removes the old one after the switch.

On a DirectAdmin server (`storage` given, daunit.directadmin) the object is
also stored where DirectAdmin re-fills Unit from (DOMAIN.unit/N.json), after
the PUT and in the same form; a failed health check puts both back. `read`
compares the stored file with the live object: a difference is drift.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any, Protocol

from daunit import hostops
from daunit.errors import ConfigError, HealthCheckError, UnitAPIError
from daunit.ownership import app_claim_problem, dir_sharing_problem
from daunit.providers import da_storage
from daunit.providers.base import Health, Provider, SiteInputs, UnitInputs, Wire

if TYPE_CHECKING:
    from daunit.remote.ssh import SSHSession


def app_path(name: str) -> list[str]:
    return ["config", "applications", name]


class SwitchInputs(SiteInputs):
    """What a switch to a new release reads, in root and in user mode (providers/da_unit.py)."""

    # The application's name (in Unit, daunit.ownership; in DirectAdmin in user mode).
    name: str
    # The application object, as Unit's control API takes it.
    config: dict[str, Any]
    release_id: str
    venv_key: str
    # Releases and venvs kept after a switch.
    keep: int = 5

    def label(self) -> str:
        return self.name


class UnitApplicationInputs(SwitchInputs, UnitInputs):
    health: Health | None = None
    # On a DirectAdmin server: where DirectAdmin stores the app ({user, domain, name,
    # route}; daunit.directadmin); refresh adds inSync.
    storage: dict[str, Any] | None = None


class UnitApplicationOutputs(Wire):
    health_checked: bool


class Owned(Protocol):
    """What ownership checks read from the inputs of an application or route."""

    @property
    def owner(self) -> str: ...


class OwnedDir(Owned, Protocol):
    """Inputs that also name the app's directory."""

    @property
    def app_dir(self) -> str: ...


def owners_of(inputs: Owned, olds: Owned | None = None) -> set[str]:
    """The owner marks this resource answers to: its own, and the one its state
    recorded (a renamed stack still owns what it made under the old name)."""
    return {o for o in (inputs.owner, olds.owner if olds else "") if o}


def app_dirs_of(inputs: OwnedDir, olds: OwnedDir | None = None) -> list[str]:
    """The app's directories: its own, and the one its state recorded."""
    return list(dict.fromkeys(d for d in (inputs.app_dir, olds.app_dir if olds else "") if d))


class UnitApplicationProvider(Provider[UnitApplicationInputs, UnitApplicationOutputs]):
    # Not `name`: a new name (new naming scheme, renamed stack) is switched
    # to in place by update, with no moment where the app is missing.
    replace_on = ("connection.host", "connection.port", "socket")
    # State of the release before the naming scheme has no owner (read as "").
    required_news = ("owner",)

    def id_of(self, inputs: UnitApplicationInputs) -> str:
        return inputs.name

    def apply(self, inputs: UnitApplicationInputs,
              olds: UnitApplicationInputs | None) -> UnitApplicationOutputs:
        name = inputs.name
        with self.unit_api(inputs) as (s, unit):
            # Under the host lock: a route provider may rewrite shared config
            # (once, when Unit's `routes` is still an array) at the same time.
            with self.host_lock(s, f"UnitApplication {name}"):
                # All applications in one request: ours, and any other that
                # runs from our app directory.
                apps = unit.get_or(["config", "applications"]) or {}
                before = apps.get(name)
                ours = owners_of(inputs, olds)
                problem = (app_claim_problem(name, before, ours, app_dirs_of(inputs, olds))
                           or dir_sharing_problem(name, apps, ours, inputs.app_dir))
                if problem:
                    raise ConfigError(problem, host=s.target.host)
                stored = self._stored_app(s, inputs, ours, app_dirs_of(inputs, olds))
                if before != inputs.config:
                    unit.put(app_path(name), inputs.config)
                if inputs.storage and stored != inputs.config:
                    da_storage.write_app(s, inputs.storage, inputs.config)
            health = inputs.health
            # On DirectAdmin the route is named after the domain (daunit.directadmin).
            route = (inputs.storage or {}).get("route") or name
            routed = False
            if health is not None:
                from daunit.remote.health import check_health

                try:
                    # Not routed yet (first deploy: the route comes next): nothing to check.
                    routed = check_health(s, health.wire(), log_tail=unit.log_tail,
                                          routed=lambda: unit.exists(["config", "routes", route])
                                          ) is not None
                except HealthCheckError:
                    # Put the previous application back before failing: the
                    # previous release keeps serving.
                    if before is not None:
                        unit.put(app_path(name), before)
                    if inputs.storage and stored != inputs.config:
                        da_storage.write_app(s, inputs.storage, stored)
                    raise
            site = inputs.site(olds)
            s.run(hostops.switch_and_prune(site, inputs.release_id, inputs.keep,
                                           [inputs.release_id, inputs.venv_key]))
        return UnitApplicationOutputs(health_checked=routed)

    @staticmethod
    def _stored_app(s: SSHSession, inputs: UnitApplicationInputs, ours: set[str],
                    app_dirs: list[str]) -> dict[str, Any] | None:
        """On a DirectAdmin server: the app DirectAdmin has stored under our N, refused
        when it is another stack's (or nobody's) as the live object would be."""
        if not inputs.storage:
            return None
        stored = da_storage.read(s, inputs.storage).app
        problem = app_claim_problem(f"{inputs.name} (stored by DirectAdmin)", stored, ours, app_dirs)
        if problem:
            raise ConfigError(problem, host=s.target.host)
        return stored

    def refresh(self, id_: str, inputs: UnitApplicationInputs,
                recorded: UnitApplicationOutputs | None) -> dict[str, object] | None:
        # The id is the name at create; after a rename only `name` is current.
        with self.unit_api(inputs, ahead=False) as (s, unit):
            live = unit.get_or(app_path(inputs.name or id_))
            stored = da_storage.read(s, inputs.storage).app if inputs.storage else None
        if live is None:
            return None
        found: dict[str, object] = {"config": live}
        if inputs.storage:
            # A stored file edited or removed by hand is drift: the next re-fill would
            # put that into Unit. Shown as storage.inSync false; `up` writes it again.
            found["storage"] = {**inputs.storage, "inSync": stored == live}
        return found

    def remove(self, id_: str, inputs: UnitApplicationInputs) -> None:
        name = inputs.name or id_
        with self.unit_api(inputs) as (s, unit), self.host_lock(s, f"UnitApplication {name} (delete)"):
            live = unit.get_or(app_path(name))
            problem = app_claim_problem(name, live, owners_of(inputs), app_dirs_of(inputs))
            if problem:
                raise ConfigError(problem, host=s.target.host)
            if inputs.storage:
                self._stored_app(s, inputs, owners_of(inputs), app_dirs_of(inputs))
                # First out of storage: a re-fill in between must not bring it back.
                da_storage.write_app(s, inputs.storage, None)
            if live is None:
                return  # already gone is what we wanted
            try:
                unit.delete(app_path(name))
            except UnitAPIError as exc:
                if exc.status != 404:
                    raise
