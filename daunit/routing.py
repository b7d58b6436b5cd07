"""Pure edits of Unit's shared routing config (no I/O)."""
from __future__ import annotations

import copy
from collections.abc import Callable, Iterable
from typing import Any

Names = str | Iterable[str]


def _route_names(names: Names) -> set[str]:
    return {names} if isinstance(names, str) else set(names)


def _passes_to(entry: dict[str, Any], names: Names) -> bool:
    route = entry_route(entry)
    return route is not None and route in _route_names(names)


def entry_route(entry: Any) -> str | None:
    """The route a dispatch entry passes to, or None when it passes elsewhere."""
    target = (entry.get("action") or {}).get("pass") if isinstance(entry, dict) else None
    if isinstance(target, str) and target.startswith("routes/"):
        return target.removeprefix("routes/")
    return None


def entry_hosts(entry: Any) -> set[str]:
    """The exact host names an entry matches (patterns and negations left out)."""
    hosts = ((entry.get("match") or {}).get("host") if isinstance(entry, dict) else None) or []
    hosts = [hosts] if isinstance(hosts, str) else hosts
    return {h.lower() for h in hosts
            if isinstance(h, str) and h and not any(c in h for c in "*!")}


def host_conflicts(dispatch: list[dict[str, Any]], hosts: Iterable[str],
                   own: Names) -> list[tuple[str | None, list[str]]]:
    """Entries of other routes that already match one of `hosts`: (route, hosts).

    Unit takes the first matching entry, so adding ours after such an entry
    would silently serve the other app, and putting ours first would take
    the domain from it: either way the domain is someone else's.
    """
    wanted = {h.lower() for h in hosts}
    out = []
    for entry in dispatch:
        if _passes_to(entry, own):
            continue
        overlap = sorted(entry_hosts(entry) & wanted)
        if overlap:
            out.append((entry_route(entry), overlap))
    return out


def own_dispatch_entry(dispatch: list[dict[str, Any]], name: Names) -> dict[str, Any] | None:
    for entry in dispatch:
        if _passes_to(entry, name):
            return entry
    return None


def _with_own(items: list[Any], own: Callable[[Any], bool], entry: Any) -> list[Any]:
    """`items` with the entry `own` picks set to `entry`: in the place of the first
    such item (the others dropped), or appended; other entries untouched and in order."""
    out, placed = [], False
    for existing in items:
        if own(existing):
            if not placed:
                out.append(entry)
                placed = True
        else:
            out.append(existing)
    if not placed:
        out.append(entry)
    return out


def dispatch_with(dispatch: list[dict[str, Any]], name: Names,
                  entry: dict[str, Any]) -> list[dict[str, Any]]:
    """The dispatch route with this app's entry set, others untouched and in order.

    `name` may be several route names (the app's route under its current and
    its previous name): the entry takes the place of the first one found.
    """
    return _with_own(dispatch, lambda e: _passes_to(e, name), entry)


def dispatch_without(dispatch: list[dict[str, Any]], name: Names) -> list[dict[str, Any]]:
    return [e for e in dispatch if not _passes_to(e, name)]


def normalized_routes_config(config: dict[str, Any]) -> dict[str, Any] | None:
    """A config whose `routes` is an object, or None when it already is.

    Unit's initial `routes` is an array (one unnamed route). Named routes need
    an object; a non-empty array is kept as the route "default" and listeners
    or actions that passed to "routes" are pointed at "routes/default".
    """
    routes = config.get("routes")
    if isinstance(routes, dict):
        return None
    fixed = copy.deepcopy(config)
    if not routes:
        fixed["routes"] = {}
        # A listener passing to the (empty) unnamed route served nothing anyway.
        return fixed
    fixed["routes"] = {"default": routes}
    for listener in (fixed.get("listeners") or {}).values():
        if listener.get("pass") == "routes":
            listener["pass"] = "routes/default"
    for step in routes:
        action = step.get("action") or {}
        if action.get("pass") == "routes":
            action["pass"] = "routes/default"
    return fixed


# --- TLS listeners: one app's entry in `tls.certificate` ---------------------------------


def listener_certificates(listener: dict[str, Any]) -> list[str]:
    """A listener's `tls.certificate` as a list (Unit takes a string or an array)."""
    names = (listener.get("tls") or {}).get("certificate") or []
    return [names] if isinstance(names, str) else list(names)


def certificates_with(names: list[str], owned: Callable[[str], bool], name: str) -> list[str]:
    """The list with this app's bundle set to `name`: it takes the place of the
    app's first old entry (so Unit's default certificate, the first, stays
    where it was), other apps' entries untouched and in order."""
    return _with_own(names, lambda n: owned(n) or n == name, name)


def certificates_without(names: list[str], owned: Callable[[str], bool]) -> list[str]:
    return [n for n in names if not owned(n)]
