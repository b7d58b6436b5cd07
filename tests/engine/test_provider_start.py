"""daunit.provider_start: the engine starts the dynamic provider as the program starts.

A program calls `start_provider_early()`, then spends a second before it
declares its one dynamic resource (as ours spends its imports and validation).
The real engine's gRPC log (PULUMI_DEBUG_GRPC) shows the provider answering the
invoke during that second, before the stack itself registered; the resource is
then served by that same provider process, the state holds one provider, and
the run says nothing of the invoke.
"""
from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from daunit.provider_start import TOKEN
from tests.support.engine import REPO, Stack, built_engine_available, python_project

pytestmark = [
    pytest.mark.engine,
    pytest.mark.skipif(not built_engine_available(),
                       reason="Pulumi engine not built: run scripts/build-pulumi.sh"),
]

PROGRAM = f'''
import sys
import time
sys.path.insert(0, {str(REPO)!r})

import pulumi
from daunit.provider_start import start_provider_early

if pulumi.Config().get_bool("early"):
    start_provider_early()
time.sleep(1.0)  # the program's own work, before any resource is declared

from pulumi.dynamic import CreateResult, Resource, ResourceProvider


class Marker(ResourceProvider):
    def create(self, props):
        return CreateResult(id_="marker", outs=dict(props))


class Thing(Resource):
    def __init__(self, name, opts=None):
        super().__init__(Marker(), name, {{"value": "one"}}, opts)


pulumi.export("value", Thing("thing").value)
'''


def _calls(log: Path) -> list[dict[str, Any]]:
    """Completed calls, in order: method, kind (resource = a provider), what, when."""
    calls = []
    for line in log.read_text().splitlines():
        entry = json.loads(line)
        if entry.get("progress") != "response_completed":
            continue
        request = entry.get("request") or {}
        calls.append({
            "method": entry["method"].rsplit("/", 1)[-1],
            "kind": (entry.get("metadata") or {}).get("kind"),
            "what": request.get("tok") or request.get("type") or request.get("urn", ""),
            "error": "error" in entry,
            "at": datetime.fromisoformat(entry["timestamp"][:26]).timestamp(),
        })
    return calls


def _up(tmp_path: Path, *, early: bool) -> tuple[list[dict[str, Any]], Stack, str]:
    project = python_project(tmp_path / ("early" if early else "late"), "provider-start", PROGRAM)
    log = tmp_path / f"grpc-{project.name}.log"
    stack = Stack(project, "check", tmp_path / f"state-{project.name}",
                  extra_env={"PULUMI_DEBUG_GRPC": str(log)})
    stack.init()
    stack.set_config("early", "true" if early else "false")
    run = stack.up()
    return _calls(log), stack, run.stdout


def _stack_registered(calls: list[dict[str, Any]]) -> float:
    return next(c["at"] for c in calls
                if c["method"] == "RegisterResource" and c["what"] == "pulumi:pulumi:Stack")


def test_provider_answers_while_the_program_still_works(tmp_path: Path) -> None:
    calls, stack, stdout = _up(tmp_path, early=True)

    invoke = [c for c in calls if c["method"] == "Invoke" and c["kind"] == "resource"]
    assert [c["what"] for c in invoke] == [TOKEN], "the provider itself got the one invoke"
    assert invoke[0]["at"] < _stack_registered(calls), \
        "the provider answered before the program declared anything"
    # One provider process served both the invoke and the resource.
    assert [c["method"] for c in calls if c["method"] == "Handshake"] == ["Handshake"]
    assert any(c["method"] == "Create" and c["kind"] == "resource" and not c["error"]
               for c in calls)

    assert stack.outputs() == {"value": "one"}
    providers = [r["urn"] for r in stack.export()["deployment"]["resources"]
                 if r["type"] == "pulumi:providers:pulumi-python"]
    assert len(providers) == 1 and providers[0].endswith("::default")
    assert TOKEN not in stdout and "error" not in stdout.lower()

    again = stack.up()
    assert "1 unchanged" in again.stdout or "2 unchanged" in again.stdout


def test_without_it_the_provider_starts_after_the_program_declared(tmp_path: Path) -> None:
    """The control: what the engine does on its own (and why the call exists)."""
    calls, _stack, _stdout = _up(tmp_path, early=False)
    handshake = next(c["at"] for c in calls if c["method"] == "Handshake")
    assert not [c for c in calls if c["method"] == "Invoke"]
    assert handshake > _stack_registered(calls)
