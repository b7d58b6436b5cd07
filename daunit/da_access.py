"""User mode (`access: user`): Unit objects in the form DirectAdmin's `CMD_UNIT` takes and lists.

Pure. The config side (the `directadmin:` settings, what user mode refuses) is
daunit.spec.access; the API calls are daunit.da_api.
"""
from __future__ import annotations

from collections.abc import Mapping
from typing import Any

# CMD_UNIT location of an app: the whole domain (DirectAdmin's `location`).
DA_LOCATION = "/"


def da_form(value: Any) -> Any:
    """A JSON value as DirectAdmin's CMD_UNIT list returns it: numbers as strings
    (documented), so what we sent and what it lists compare equal."""
    if isinstance(value, bool) or value is None or isinstance(value, str):
        return value
    if isinstance(value, float) and value.is_integer():
        return str(int(value))  # Pulumi carries every number as a float
    if isinstance(value, (int, float)):
        return str(value)
    if isinstance(value, (list, tuple)):
        return [da_form(v) for v in value]
    if isinstance(value, Mapping):
        return {k: da_form(v) for k, v in value.items()}
    return value


def routed_to(steps: list[dict[str, Any]], unit_app: str) -> list[dict[str, Any]]:
    """Route steps (render.unit_route) for CMD_UNIT: passing to DirectAdmin's name of the
    app (DOMAIN_NAME).

    The static files' share is already `current`'s (render.unit_route), so the route is
    the same for every release: an update changes the application only, with no
    `set_route`, whose vhost rewrite reloads the front server (a reload can reset a
    keep-alive connection a client is reusing). `current` follows the app's switch at
    once (DaUnitApplication switches it right after CMD_UNIT's modify).
    """
    out = []
    for step in steps:
        action = step.get("action")
        if isinstance(action, Mapping) and str(action.get("pass", "")).startswith("applications/"):
            step = {**step, "action": {**action, "pass": f"applications/{unit_app}"}}
        out.append(step)
    return out
