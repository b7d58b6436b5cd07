"""UnitRoute writes only what differs from the live config (against the lab's Unit).

A code change keeps the app's dispatch entry, and often its route: writing
them again costs a request (a round trip) and a Unit reconfiguration each.
What the provider sends is recorded at the client, the config read back
from Unit.
"""
from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import pytest

from daunit.providers.unit_route import UnitRouteInputs, UnitRouteProvider
from daunit.remote.ssh import SSHSession
from daunit.remote.unit import Answer, UnitClient
from tests.remote.conftest import lab_socket
from tests.remote.test_unit import LAZY_APP

pytestmark = pytest.mark.root


class RecordingUnit(UnitClient):
    """A UnitClient that notes every request it sends."""

    sent: list[tuple[str, str]]

    def _send(self, method: str, target: str, content: bytes | None, content_type: str | None,
              fresh: bool = False) -> Answer:
        self.sent.append((method, target))
        return super()._send(method, target, content, content_type, fresh)

    def writes(self) -> list[str]:
        return [target for method, target in self.sent if method != "GET"]


@pytest.fixture
def recording(session: SSHSession, lab_host: Any) -> Iterator[RecordingUnit]:
    with RecordingUnit(session, lab_socket(lab_host)) as unit:
        unit.sent = []
        before = unit.get("/config")
        yield unit
        unit.put("/config", before)


def test_an_unchanged_route_and_dispatch_entry_are_not_written_again(recording: RecordingUnit,
                                                                     session: SSHSession, lab_host: Any) -> None:
    unit, tag = recording, os.urandom(3).hex()
    app, route, dispatch = f"daunit-t.{tag}", f"daunit-t-{tag}", f"daunit-t-hosts-{tag}"
    unit.put(["config", "applications", app], LAZY_APP)
    listener = f"*:{20000 + int(tag, 16) % 20000}"
    wire = {"connection": {"host": session.target.host, "knownHosts": "unused"},
            "socket": lab_socket(lab_host), "name": route, "listener": listener,
            "steps": [{"action": {"pass": f"applications/{app}"}}], "dispatchRoute": dispatch,
            "dispatchEntry": {"match": {"host": f"{tag}.example"}, "action": {"pass": f"routes/{route}"}}}
    inputs = UnitRouteInputs.model_validate(wire)
    provider = UnitRouteProvider()

    def switch(inputs: UnitRouteInputs) -> list[str]:
        unit.sent.clear()
        provider._switch(session, unit, inputs, None, set(), [])
        return unit.writes()

    # (first on a fresh Unit, whose `routes` is an array: made an object, /config/routes)
    assert switch(inputs)[-3:] == [f"/config/routes/{route}", f"/config/routes/{dispatch}",
                                   f"/config/listeners/%2A%3A{listener.split(':')[1]}"]
    assert switch(inputs) == []  # all live already: nothing written
    # A new step (another static URL, say): the route only.
    changed = UnitRouteInputs.model_validate(
        {**wire, "steps": [{"match": {"uri": "/x"}, "action": {"return": 204}}, *wire["steps"]]})
    assert switch(changed) == [f"/config/routes/{route}"]
    routes = unit.get("/config/routes")
    assert routes[route] == changed.steps
    assert routes[dispatch] == [wire["dispatchEntry"]]
