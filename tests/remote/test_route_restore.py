"""UnitRoute's revert after a failed health check, against the lab's Unit.

The check runs outside the host lock, so other apps may change the shared
dispatch route meanwhile: the revert puts back this app's entry only.
"""
from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from daunit.providers.unit_route import UnitRouteProvider
from daunit.remote.unit import UnitClient

DISPATCH = "da-flask-hosts"


def entry(app: str, host: str) -> dict[str, Any]:
    return {"match": {"host": host}, "action": {"pass": f"routes/{app}"}}


@pytest.fixture
def clean_unit(unit: UnitClient) -> Iterator[UnitClient]:
    before = unit.get("/config")
    yield unit
    unit.put("/config", before)


def test_revert_restores_own_entry_and_keeps_what_others_changed(clean_unit: UnitClient) -> None:
    unit = clean_unit
    old_steps = [{"action": {"return": 204}}]
    new_steps = [{"action": {"return": 205}}]
    unit.put("/config/routes", {
        "a": new_steps, "b": [{"action": {"return": 200}}],
        # Ours as the failed deploy left it, then app b joined while we checked.
        DISPATCH: [entry("a", "new.example"), entry("b", "b.example")],
    })
    UnitRouteProvider._restore(unit, "a", DISPATCH, old_steps, [entry("a", "old.example")])
    routes = unit.get("/config/routes")
    assert routes["a"] == old_steps
    assert routes[DISPATCH] == [entry("a", "old.example"), entry("b", "b.example")]


def test_revert_of_a_first_deploy_drops_own_entry_only(clean_unit: UnitClient) -> None:
    unit = clean_unit
    unit.put("/config/routes", {
        "a": [{"action": {"return": 205}}], "b": [{"action": {"return": 200}}],
        DISPATCH: [entry("b", "b.example"), entry("a", "a.example")],
    })
    UnitRouteProvider._restore(unit, "a", DISPATCH, None, [entry("b", "b.example")])
    assert unit.get("/config/routes")[DISPATCH] == [entry("b", "b.example")]
