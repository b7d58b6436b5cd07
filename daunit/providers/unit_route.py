"""UnitRoute: the app's own named route, joined to a shared listener.

Unit config shared by every app on a host (the listener and the host-dispatch
route) is changed by read-modify-write of just the entry this app owns, under
a host-wide lock, so parallel resources and concurrent stacks lose nothing.

Ownership (daunit.ownership): the route is ours when it passes to our
application (marked DAFLASK_OWNER); the dispatch entry is ours when it
passes to our route. A domain another entry already routes is refused with
the owner named; entries of others, DirectAdmin's objects and listeners we
did not make are never changed. When the route's name changes (the previous
release named it after the bare app name), the new route is made, the
dispatch entry switches to it in place, and after the health check the old
route and the old application are removed.

On a DirectAdmin server (`storage` given, daunit.directadmin) the route is
DirectAdmin's for the domain's location, its dispatch entry goes where the
re-fill puts it, and the steps are stored in DOMAIN.routes/DOMAIN; when the
stored locations change, DirectAdmin rewrites the user's vhosts, which wires
the front server to Unit. `read` compares the stored steps with the live ones.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

from pulumi.dynamic import DiffResult

from daunit import directadmin
from daunit.errors import ConfigError, HealthCheckError, UnitAPIError
from daunit.layout import app_dir_of
from daunit.ownership import app_claim_problem, app_owner_mark, name_owner, passes_to_app
from daunit.providers import da_storage
from daunit.providers.base import Health, Provider, UnitInputs, Wire, is_unknown
from daunit.providers.unit_app import app_dirs_of, app_path, owners_of
from daunit.routing import (
    dispatch_with,
    dispatch_without,
    entry_hosts,
    host_conflicts,
    normalized_routes_config,
    own_dispatch_entry,
)

if TYPE_CHECKING:
    from daunit.remote.ssh import SSHSession
    from daunit.remote.unit import UnitClient


class UnitRouteInputs(UnitInputs):
    # The app's own route (daunit.ownership) and its steps.
    name: str
    steps: list[dict[str, Any]]
    # This app's entry in the host-dispatch route, and that shared route's name.
    dispatch_entry: dict[str, Any]
    dispatch_route: str
    listener: str
    # Both empty in state of the release before the naming scheme (see _app_dirs).
    owner: str = ""
    app_dir: str = ""
    health: Health | None = None
    # On a DirectAdmin server: where DirectAdmin stores the domain's routes ({user,
    # domain, location}; daunit.directadmin); refresh adds inSync.
    storage: dict[str, Any] | None = None

    def label(self) -> str:
        return self.name


class UnitRouteOutputs(Wire):
    health_checked: bool


class UnitRouteProvider(Provider[UnitRouteInputs, UnitRouteOutputs]):
    # Not `name`: a renamed route is switched to in place (see the docstring).
    replace_on = ("connection.host", "connection.port", "socket", "dispatchRoute")
    required_news = ("owner", "appDir")

    def id_of(self, inputs: UnitRouteInputs) -> str:
        return inputs.name

    def diff(self, id_: str, olds: dict[str, Any], news: dict[str, Any]) -> DiffResult:
        result = super().diff(id_, olds, news)
        # A dispatch route not known at preview: the host's mode (UnitHost's daMode) is
        # read again in this run, as in the first run after an upgrade. Nearly always it
        # is the one in state; when it really changed, `up` sees that and replaces then.
        if "dispatchRoute" in (result.replaces or []) and is_unknown(news.get("dispatchRoute")):
            return DiffResult(changes=True, replaces=[], stables=result.stables,
                              delete_before_replace=False)
        return result

    def apply(self, inputs: UnitRouteInputs, olds: UnitRouteInputs | None) -> UnitRouteOutputs:
        name, dispatch = inputs.name, inputs.dispatch_route
        previous = olds.name if olds and olds.name != name else None
        ours, dirs = owners_of(inputs, olds), _app_dirs(inputs, olds)
        with self.unit_api(inputs) as (s, unit):
            # The channels of _switch's first reads open while the lock is taken.
            unit.open_ahead(2 + len(passes_to_app(inputs.steps)))
            with self.host_lock(s, f"UnitRoute {name}"):
                old_steps, old_dispatch, own, stored = self._switch(s, unit, inputs, previous,
                                                                    ours, dirs)
            # The check waits for the app to start: outside the lock, or every
            # other app on the host would wait for this one's start-up too.
            health = inputs.health
            if health:
                from daunit.remote.health import check_health

                try:
                    check_health(s, health.wire(), log_tail=unit.log_tail)
                except HealthCheckError:
                    with self.host_lock(s, f"UnitRoute {name} (revert)"):
                        self._restore(unit, name, dispatch, old_steps, old_dispatch, own)
                        if stored is not None and inputs.storage:
                            self._store(s, inputs.storage,
                                        {**stored, _location(inputs): inputs.steps}, old_steps)
                    raise
            if previous or passes_to_app(olds.steps if olds else None) - passes_to_app(inputs.steps):
                with self.host_lock(s, f"UnitRoute {name} (old names)"):
                    self._remove_previous(unit, own - {name}, inputs, olds, ours, dirs)
        return UnitRouteOutputs(health_checked=inputs.health is not None)

    def _switch(self, s: SSHSession, unit: UnitClient, inputs: UnitRouteInputs,
                previous: str | None, ours: set[str], dirs: list[str],
                ) -> tuple[Any, list[dict[str, Any]] | None, set[str], dict[str, Any] | None]:
        """Under the host lock: our route, our dispatch entry and the listener (and on
        DirectAdmin the stored routes) as the inputs say. Returns what a revert needs:
        the old steps, the old dispatch route, the route's names, the stored routes."""
        name, dispatch = inputs.name, inputs.dispatch_route
        # Only the two parts we touch (the whole /config holds every app on the
        # host and grows with them), and the applications our steps pass to (for
        # the ownership check): all read at once.
        apps = sorted(passes_to_app(inputs.steps))
        routes, listeners, *live_apps = unit.get_or_many(
            ["/config/routes", "/config/listeners", *(app_path(app) for app in apps)])
        if isinstance(routes, dict):
            listeners = listeners or {}
        else:
            routes, listeners = self._named_routes(unit)
        known = dict(zip(apps, live_apps, strict=True))
        self._check_claim(unit, routes, name, inputs, ours, dirs, s.target.host, known)
        stored = self._stored_routes(s, unit, inputs, ours, dirs)
        own = {name}
        if previous and self._route_is_ours(unit, routes, previous, inputs, ours, dirs):
            own.add(previous)
        old_dispatch = routes.get(dispatch)
        new_dispatch = self._new_dispatch(unit, old_dispatch or [], inputs, own,
                                          stored is not None, s.target.host)
        old_steps = routes.get(name)
        # What is live already (a code change keeps the dispatch entry, often the
        # route too) is not written again: one request, and one Unit reconfiguration, fewer.
        if old_steps != inputs.steps:
            unit.put(["config", "routes", name], inputs.steps)
        if old_dispatch != new_dispatch:
            unit.put(["config", "routes", dispatch], new_dispatch)
        self._ensure_listener(unit, listeners, inputs.listener, dispatch)
        if stored is not None and inputs.storage:
            self._store(s, inputs.storage, stored, inputs.steps)
        return old_steps, old_dispatch, own, stored

    def _new_dispatch(self, unit: UnitClient, old: list[dict[str, Any]], inputs: UnitRouteInputs,
                      own: set[str], directadmin_way: bool, host: str) -> list[Any]:
        """The dispatch route with our entry: DirectAdmin's (one route per host and
        location, in the re-fill's order), or ours (a domain another entry serves refused)."""
        if directadmin_way:
            return directadmin.dispatch_with(old, inputs.dispatch_entry)
        self._check_hosts(unit, old, inputs, own, host)
        return dispatch_with(old, own, inputs.dispatch_entry)

    # -- DirectAdmin's storage (daunit.directadmin) ---------------------------
    def _stored_routes(self, s: SSHSession, unit: UnitClient, inputs: UnitRouteInputs,
                       ours: set[str], app_dirs: list[str]) -> dict[str, Any] | None:
        """On a DirectAdmin server: the domain's stored routes ({location: steps});
        refused when our location there passes to an application not ours. None
        when the host is not run the DirectAdmin way."""
        if not inputs.storage:
            return None
        stored = da_storage.read(s, inputs.storage).routes or {}
        location = _location(inputs)
        if location in stored:
            problem = self._route_problem(unit, {inputs.name: stored[location]}, inputs.name,
                                          inputs, ours, app_dirs)
            if problem:
                raise ConfigError(f"DirectAdmin's stored routes of {inputs.storage['domain']} "
                                  f"for {location}: {problem} They are not changed.",
                                  host=s.target.host)
        return dict(stored)

    @staticmethod
    def _store(s: SSHSession, storage: dict[str, Any], stored: dict[str, Any],
               steps: list[Any] | None) -> None:
        """Our location's steps into the routes file (None: out of it); when the set of
        locations changes, DirectAdmin rewrites the user's vhosts so the front server
        proxies exactly the locations with Unit routes."""
        location = storage.get("location") or directadmin.ROOT_LOCATION
        new = {k: v for k, v in stored.items() if k != location}
        if steps is not None:
            new[location] = steps
        if new != stored:
            da_storage.write_routes(s, storage, new, rewrite=set(new) != set(stored))

    # -- ownership ----------------------------------------------------------
    @staticmethod
    def _route_problem(unit: UnitClient, routes: dict[str, Any], route: str,
                       inputs: UnitRouteInputs, ours: set[str], app_dirs: list[str],
                       known: dict[str, Any] | None = None) -> str | None:
        """Why the live route `route` is not ours (it passes to an application
        that is not ours), or None. A missing route is nobody's: None. `known`:
        live applications already read (name -> object, None when missing)."""
        steps = routes.get(route)
        if steps is None:
            return None
        apps = passes_to_app(steps)
        if not apps:
            return f"Unit route {route!r} passes to no application: it was not made by da-flask."
        if not app_dirs:
            # State of the previous release without a static share to tell the
            # app dir: ours when it still passes where that state says.
            if apps <= passes_to_app(inputs.steps):
                return None
            return f"Unit route {route!r} passes to {sorted(apps)}, not to this stack's app."
        for app in sorted(apps):
            live = known[app] if known is not None and app in known else unit.get_or(app_path(app))
            problem = app_claim_problem(app, live, ours, app_dirs)
            if problem:
                return f"Unit route {route!r} passes to an application that is not ours: {problem}"
        return None

    def _route_is_ours(self, unit: UnitClient, routes: dict[str, Any], route: str,
                       inputs: UnitRouteInputs, ours: set[str], app_dirs: list[str]) -> bool:
        return route in routes and \
            self._route_problem(unit, routes, route, inputs, ours, app_dirs) is None

    def _check_claim(self, unit: UnitClient, routes: dict[str, Any], name: str,
                     inputs: UnitRouteInputs, ours: set[str], app_dirs: list[str],
                     host: str, known: dict[str, Any] | None = None) -> None:
        """Refuse when a route of our name exists and passes to someone else's app."""
        problem = self._route_problem(unit, routes, name, inputs, ours, app_dirs, known)
        if problem:
            raise ConfigError(problem + " It is not changed.", host=host)

    @staticmethod
    def _check_hosts(unit: UnitClient, dispatch: list[dict[str, Any]], inputs: UnitRouteInputs,
                     own: set[str], host: str) -> None:
        """Refuse a domain that another entry of the dispatch route already serves."""
        wanted = entry_hosts(inputs.dispatch_entry)
        for route, names in host_conflicts(dispatch, wanted, own):
            owner = _route_owner(unit, route)
            raise ConfigError(
                f"{', '.join(names)} is already served on this host through Unit route "
                f"{route!r} ({owner}): this stack does not take a domain from another. Remove the "
                f"app from its stack first, or choose another domain.", host=host)

    def _remove_previous(self, unit: UnitClient, previous_routes: set[str],
                         inputs: UnitRouteInputs, olds: UnitRouteInputs | None, ours: set[str],
                         app_dirs: list[str]) -> None:
        """After a switch: the route under its previous name, and applications the
        previous steps passed to that ours no longer do, when they are ours."""
        routes = unit.get_or("/config/routes") or {}
        for route in sorted(previous_routes):
            if route in routes and self._route_is_ours(unit, routes, route, inputs, ours, app_dirs):
                _delete_quietly(unit, ["config", "routes", route])
        for app in sorted(passes_to_app(olds.steps if olds else None) - passes_to_app(inputs.steps)):
            live = unit.get_or(app_path(app))
            if live is not None and app_claim_problem(app, live, ours, app_dirs) is None:
                # Unit refuses (400) while something else still passes to it:
                # then it is in use by config that is not ours, and stays.
                _delete_quietly(unit, app_path(app), also=(400,))

    # -- shared config ------------------------------------------------------
    @staticmethod
    def _restore(unit: UnitClient, name: str, dispatch: str, old_steps: Any,
                 old_dispatch: list[dict[str, Any]] | None, own: set[str] | None = None) -> None:
        """Put this app's route and dispatch entry back as they were; entries of
        other apps, which may have changed since, are left as they are now.
        `own` are the route's names (the current one, and the previous one
        during a rename)."""
        own = own or {name}
        if old_steps is not None:
            unit.put(["config", "routes", name], old_steps)
        if old_dispatch is not None:
            current = unit.get_or(["config", "routes", dispatch]) or []
            old_entry = own_dispatch_entry(old_dispatch, own)
            unit.put(["config", "routes", dispatch],
                     dispatch_with(current, own, old_entry) if old_entry is not None
                     else dispatch_without(current, own))
        if old_steps is None and own != {name}:
            # A new name that nothing passes to any more: the old one serves.
            _delete_quietly(unit, ["config", "routes", name], also=(400,))

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

    def refresh(self, id_: str, inputs: UnitRouteInputs,
                recorded: UnitRouteOutputs | None) -> dict[str, object] | None:
        name, dispatch = inputs.name or id_, inputs.dispatch_route
        with self.unit_api(inputs, ahead=False) as (s, unit):
            routes = unit.get("/config/routes")
            stored = da_storage.read(s, inputs.storage).routes if inputs.storage else None
        if not isinstance(routes, dict) or name not in routes:
            return None
        entry = own_dispatch_entry(routes.get(dispatch) or [], name)
        found: dict[str, object] = {"steps": routes[name], "dispatchEntry": entry}
        if inputs.storage:
            # The stored steps edited or removed by hand: drift (a re-fill would serve them).
            in_sync = (stored or {}).get(_location(inputs)) == routes[name]
            found["storage"] = {**inputs.storage, "inSync": in_sync}
        return found

    def remove(self, id_: str, inputs: UnitRouteInputs) -> None:
        name, dispatch = inputs.name or id_, inputs.dispatch_route
        with self.unit_api(inputs) as (s, unit), self.host_lock(s, f"UnitRoute {name} (delete)"):
            routes = unit.get("/config/routes")
            if not isinstance(routes, dict):
                return
            problem = self._route_problem(unit, routes, name, inputs, owners_of(inputs),
                                          _app_dirs(inputs))
            if problem:
                raise ConfigError(
                    f"{problem} The route is left as it is; forget it with `pulumi state "
                    "delete` if this stack no longer has it.", host=s.target.host)
            stored = self._stored_routes(s, unit, inputs, owners_of(inputs), _app_dirs(inputs))
            if stored is not None and inputs.storage:
                # Out of storage first: a re-fill in between must not bring it back.
                self._store(s, inputs.storage, stored, None)
            self._drop_entry(unit, routes, name, dispatch)
            if name in routes:
                _delete_quietly(unit, ["config", "routes", name])

    @staticmethod
    def _drop_entry(unit: UnitClient, routes: dict[str, Any], name: str, dispatch: str) -> None:
        """This app's dispatch entry out; with the last entry, the dispatch route
        and the listeners leading to it go too."""
        remaining = dispatch_without(routes.get(dispatch) or [], name)
        if remaining:
            unit.put(["config", "routes", dispatch], remaining)
            return
        listeners = unit.get("/config/listeners") or {}
        for lname, lconf in listeners.items():
            if lconf.get("pass") == f"routes/{dispatch}":
                unit.delete(["config", "listeners", lname])
        if dispatch in routes:
            unit.delete(["config", "routes", dispatch])


def _location(inputs: UnitRouteInputs) -> str:
    return str((inputs.storage or {}).get("location") or directadmin.ROOT_LOCATION)


def _app_dirs(inputs: UnitRouteInputs, olds: UnitRouteInputs | None = None) -> list[str]:
    """The app's directories: an input since the naming scheme (with the one its
    state recorded); for state of the previous release, read from its static
    share (`<appDir>/releases/...`)."""
    if inputs.app_dir:
        return app_dirs_of(inputs, olds)
    for step in inputs.steps:
        share = (step.get("action") or {}).get("share")
        app_dir = app_dir_of(share) if isinstance(share, str) else None
        if app_dir is not None:
            return [app_dir]
    return []


def _route_owner(unit: UnitClient, route: str | None) -> str:
    """Who a route belongs to, in words, for error messages."""
    if route is None:
        return "not a route"
    owner = name_owner(route)
    if owner:
        return f"stack {owner}"
    steps = unit.get_or(["config", "routes", route])
    marks = sorted({m for app in passes_to_app(steps)
                    if (m := app_owner_mark(unit.get_or(app_path(app)))) is not None})
    if marks:
        return "stack " + ", ".join(marks)
    return "not made by this version of da-flask: an earlier release, DirectAdmin or by hand"


def _delete_quietly(unit: UnitClient, path: list[str], also: tuple[int, ...] = ()) -> None:
    """Delete; already gone (404), or a status in `also`, is not an error."""
    try:
        unit.delete(path)
    except UnitAPIError as exc:
        if exc.status != 404 and exc.status not in also:
            raise
