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

from typing import TYPE_CHECKING, Any

from pulumi.dynamic import CreateResult, ReadResult, UpdateResult

from daunit import hostops
from daunit.errors import ConfigError, HealthCheckError, UnitAPIError
from daunit.ownership import app_claim_problem, dir_sharing_problem
from daunit.providers import da_storage
from daunit.providers.base import Provider, plain

if TYPE_CHECKING:
    from daunit.remote.ssh import SSHSession


def app_path(name: str) -> list[str]:
    return ["config", "applications", name]


def owners_of(props: dict[str, Any], olds: dict[str, Any] | None = None) -> set[str]:
    """The owner marks this resource answers to: its own, and the one its state
    recorded (a renamed stack still owns what it made under the old name)."""
    return {o for o in (props.get("owner"), (olds or {}).get("owner")) if o}


def app_dirs_of(props: dict[str, Any], olds: dict[str, Any] | None = None) -> list[str]:
    """The app's directories: its own, and the one its state recorded."""
    return list(dict.fromkeys(d for d in (props.get("appDir"), (olds or {}).get("appDir")) if d))


class UnitApplicationProvider(Provider):
    kind = "UnitApplication"
    required = ("connection", "name", "config", "socket", "appDir", "releaseId", "venvKey", "owner")
    # Not `name`: a new name (new naming scheme, renamed stack) is switched
    # to in place by update, with no moment where the app is missing.
    replace_on = ("connection.host", "connection.port", "socket")
    outputs = ("healthChecked",)

    def create(self, props: dict[str, Any]) -> CreateResult:
        props = plain(props)
        return CreateResult(id_=props["name"], outs=self._apply(props, None))

    def update(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> UpdateResult:
        return UpdateResult(outs=self._apply(plain(news), plain(olds)))

    def _apply(self, props: dict[str, Any], olds: dict[str, Any] | None) -> dict[str, Any]:
        name = props["name"]
        with self.unit_api(props) as (s, unit):
            # Under the host lock: a route provider may rewrite shared config
            # (once, when Unit's `routes` is still an array) at the same time.
            with self.host_lock(s, f"UnitApplication {name}"):
                # All applications in one request: ours, and any other that
                # runs from our app directory.
                apps = unit.get_or(["config", "applications"]) or {}
                before = apps.get(name)
                ours = owners_of(props, olds)
                problem = (app_claim_problem(name, before, ours, app_dirs_of(props, olds))
                           or dir_sharing_problem(name, apps, ours, props["appDir"]))
                if problem:
                    raise ConfigError(problem, host=s.target.host)
                stored = self._stored_app(s, props, name, ours, app_dirs_of(props, olds))
                if before != props["config"]:
                    unit.put(app_path(name), props["config"])
                if props.get("storage") and stored != props["config"]:
                    da_storage.write_app(s, props["storage"], props["config"])
            health = props.get("health")
            # On DirectAdmin the route is named after the domain (daunit.directadmin).
            route = (props.get("storage") or {}).get("route") or name
            routed = bool(health) and unit.exists(["config", "routes", route])
            if routed and health:
                from daunit.remote.health import check_health

                try:
                    check_health(s, health, log_tail=unit.log_tail)
                except HealthCheckError:
                    # Put the previous application back before failing: the
                    # previous release keeps serving.
                    if before is not None:
                        unit.put(app_path(name), before)
                    if props.get("storage") and stored != props["config"]:
                        da_storage.write_app(s, props["storage"], stored)
                    raise
            site = hostops.Site.of(props, olds)
            s.run(hostops.switch_and_prune(site, props["releaseId"], int(props.get("keep", 5)),
                                           [props["releaseId"], props["venvKey"]]))
        return {**props, "healthChecked": routed}

    @staticmethod
    def _stored_app(s: SSHSession, props: dict[str, Any], name: str, ours: set[str],
                    app_dirs: list[str]) -> dict[str, Any] | None:
        """On a DirectAdmin server: the app DirectAdmin has stored under our N, refused
        when it is another stack's (or nobody's) as the live object would be."""
        if not props.get("storage"):
            return None
        stored = da_storage.read(s, props["storage"]).app
        problem = app_claim_problem(f"{name} (stored by DirectAdmin)", stored, ours, app_dirs)
        if problem:
            raise ConfigError(problem, host=s.target.host)
        return stored

    def read(self, id_: str, props: dict[str, Any]) -> ReadResult:
        props = plain(props)
        # The id is the name at create; after a rename only `name` is current.
        name = props.get("name") or id_
        with self.unit_api(props) as (s, unit):
            live = unit.get_or(app_path(name))
            stored = da_storage.read(s, props["storage"]).app if props.get("storage") else None
        if live is None:
            return ReadResult(id_=None, outs={})
        outs = {**props, "config": live}
        if props.get("storage"):
            # A stored file edited or removed by hand is drift: the next re-fill would
            # put that into Unit. Shown as storage.inSync false; `up` writes it again.
            outs["storage"] = {**props["storage"], "inSync": stored == live}
        return ReadResult(id_=id_, outs=outs)

    def delete(self, id_: str, props: dict[str, Any]) -> None:
        props = plain(props)
        name = props.get("name") or id_
        with self.unit_api(props) as (s, unit), self.host_lock(s, f"UnitApplication {name} (delete)"):
            live = unit.get_or(app_path(name))
            problem = app_claim_problem(name, live, owners_of(props), app_dirs_of(props))
            if problem:
                raise ConfigError(problem, host=s.target.host)
            if props.get("storage"):
                self._stored_app(s, props, name, owners_of(props), app_dirs_of(props))
                # First out of storage: a re-fill in between must not bring it back.
                da_storage.write_app(s, props["storage"], None)
            if live is None:
                return  # already gone is what we wanted
            try:
                unit.delete(app_path(name))
            except UnitAPIError as exc:
                if exc.status != 404:
                    raise
