"""Pure edits of Unit's shared routing config (no I/O)."""
from __future__ import annotations

import copy
from typing import Any


def _passes_to(entry: dict[str, Any], name: str) -> bool:
    return (entry.get("action") or {}).get("pass") == f"routes/{name}"


def own_dispatch_entry(dispatch: list[dict[str, Any]], name: str) -> dict[str, Any] | None:
    for entry in dispatch:
        if _passes_to(entry, name):
            return entry
    return None


def dispatch_with(dispatch: list[dict[str, Any]], name: str,
                  entry: dict[str, Any]) -> list[dict[str, Any]]:
    """The dispatch route with this app's entry set, others untouched and in order."""
    out, placed = [], False
    for existing in dispatch:
        if _passes_to(existing, name):
            if not placed:
                out.append(entry)
                placed = True
        else:
            out.append(existing)
    if not placed:
        out.append(entry)
    return out


def dispatch_without(dispatch: list[dict[str, Any]], name: str) -> list[dict[str, Any]]:
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
