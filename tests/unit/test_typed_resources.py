"""Typed resources: what crosses the dynamic-provider boundary (issue 11).

Each resource's outputs are the fields of its provider's `Outputs`, under the
keys state held before the models (a stack deployed earlier must see no
diff); `check` is validation of `Inputs`, reported per field; every resource
registers under its own type with an alias from the untyped one.
"""
from __future__ import annotations

from typing import Any

import pulumi
import pytest
from pulumi.output import Unknown

from daunit.da_resources import DaUnitApplication, DaUnitRoute
from daunit.providers.base import UNKNOWN, connection_input
from daunit.providers.da_unit import DaUnitApplicationProvider, DaUnitRouteProvider
from daunit.providers.release import ReleaseProvider
from daunit.providers.unit_app import UnitApplicationProvider
from daunit.resources import (
    UNTYPED,
    InstanceConfig,
    Release,
    ReleaseCommands,
    TypedResource,
    UnitApplication,
    UnitCertificate,
    UnitHost,
    UnitRoute,
    Virtualenv,
)

# The output keys each resource had in state before the models (commit 6bb877b).
STATE_OUTPUTS: dict[type[TypedResource], tuple[str, ...]] = {
    Release: ("releaseDir", "filesSent", "bytesSent"),
    Virtualenv: ("venvDir", "built"),
    InstanceConfig: ("envFile", "keys", "revision"),
    ReleaseCommands: ("ran",),
    UnitApplication: ("healthChecked",),
    UnitRoute: ("healthChecked",),
    UnitHost: ("unitVersion", "pythonModules", "enabledByUs", "daMode"),
    UnitCertificate: ("name", "sourceSha256", "installedSha256", "subjectNames", "issuer",
                      "notBefore", "notAfter", "keyType", "chainLength"),
    # User mode (access: user), added in the same cycle: state as main's untyped providers wrote it.
    DaUnitApplication: ("healthChecked",),
    DaUnitRoute: ("healthChecked",),
}


def release_props(**changes: Any) -> dict[str, Any]:
    props: dict[str, Any] = {
        "connection": connection_input("203.0.113.10", 22, "root", "pin", None),
        "appDir": "/home/u/domains/d/public_html/a", "user": "u", "domain": "d",
        "owner": "da-flask/dev", "releaseId": "r1", "files": {"wsgi.py": "a" * 64},
        "source": "/src/a", "entryPoint": "wsgi.py",
    }
    props.update(changes)
    return props


@pytest.mark.parametrize("resource", list(STATE_OUTPUTS), ids=lambda r: r.__name__)
def test_outputs_keep_the_state_keys(resource: type[TypedResource]) -> None:
    assert set(resource.provider_type.outputs) == set(STATE_OUTPUTS[resource])


def test_check_names_each_bad_field_in_the_project_words() -> None:
    failures = ReleaseProvider().check({}, release_props(files=None, releaseId=7)).failures
    reasons = {f.property: f.reason for f in failures}
    assert set(reasons) == {"files", "releaseId"}
    assert reasons["files"].startswith("files must be a map of names to values")
    assert reasons["releaseId"].startswith("releaseId must be text")
    assert "(Release)" in reasons["files"]
    missing = ReleaseProvider().check({}, {k: v for k, v in release_props().items()
                                           if k != "entryPoint"}).failures
    assert [(f.property, f.reason) for f in missing] == [
        ("entryPoint", "entryPoint is required: add it (Release)")]


def test_check_leaves_values_known_only_later_to_the_update() -> None:
    provider = UnitApplicationProvider()
    props = {**release_props(), "name": "daflask:x", "socket": "/s", "venvKey": "v",
             "keep": 5.0, "health": None}
    # The SDK hands check an Unknown object, diff the sentinel string.
    assert provider.check({}, {**props, "config": Unknown()}).failures == []
    assert provider.check({}, {**props, "config": UNKNOWN}).failures == []
    assert [f.property for f in provider.check({}, {**props, "config": "x"}).failures] == ["config"]


def test_state_keeps_the_inputs_as_the_engine_gave_them() -> None:
    """A float the engine sent for an int stays a float: a re-serialized
    model would be a diff for every stack already deployed."""
    provider = UnitApplicationProvider()
    props = {**release_props(), "name": "daflask:x", "socket": "/s", "venvKey": "v",
             "keep": 5.0, "config": {"type": "python 3.11"}, "healthChecked": None,
             "__provider": "pickled"}
    inputs = provider.parse(props)
    assert inputs.keep == 5 and inputs.health is None
    state = provider.state(props, provider.outputs_type(health_checked=False))
    assert state == {**{k: v for k, v in props.items() if k != "__provider"},
                     "healthChecked": False}


class _Mocks(pulumi.runtime.Mocks):
    def new_resource(self, args: pulumi.runtime.MockResourceArgs) -> tuple[str, dict[str, Any]]:
        return f"{args.name}-id", dict(args.inputs)

    def call(self, args: pulumi.runtime.MockCallArgs) -> tuple[dict[str, Any], list[tuple[str, str]]]:
        return {}, []


@pytest.fixture
def mocks() -> None:
    pulumi.runtime.set_mocks(_Mocks(), preview=False)


@pytest.mark.parametrize("resource", list(STATE_OUTPUTS), ids=lambda r: r.__name__)
@pulumi.runtime.test
def test_each_resource_registers_its_own_type(mocks: None,
                                              resource: type[TypedResource]) -> pulumi.Output[None]:
    made = resource("r", {"connection": {"host": "h", "knownHosts": "k"}})

    def check(urn: str) -> None:
        assert urn.endswith(f"$pulumi-python:dynamic/daflask:{resource.__name__}::r"), urn
        assert UNTYPED not in urn
    return made.urn.apply(check)


@pulumi.runtime.test
def test_output_reads_a_field_of_outputs(mocks: None) -> None:
    cert = UnitCertificate("c", {"connection": {"host": "h", "knownHosts": "k"}})
    assert isinstance(cert.output("not_after"), pulumi.Output)
    with pytest.raises(AttributeError, match="no output 'bundle'.*not_after"):
        cert.output("bundle")


def test_state_of_an_earlier_release_parses() -> None:
    """The release before the naming scheme recorded no `owner` and, for a
    route, no `appDir`: its state still parses (the rename is found, refresh
    and delete work), those inputs read as empty as they did before the
    models; a new resource without them is refused by check."""
    from daunit.providers.unit_route import UnitRouteProvider

    news = {"connection": {"host": "h", "knownHosts": "k"}, "socket": "/s",
            "name": "daflask:da-flask:dev:shop", "steps": [], "dispatchEntry": {},
            "dispatchRoute": "da-flask-hosts", "listener": "*:80", "owner": "da-flask/dev",
            "appDir": "/home/u/shop", "healthChecked": None}
    olds = {k: v for k, v in news.items() if k not in ("owner", "appDir")} | {
        "name": "shop", "healthChecked": True}
    provider = UnitRouteProvider()
    recorded = provider.recorded(olds)
    assert recorded is not None
    assert (recorded.name, recorded.owner, recorded.app_dir) == ("shop", "", "")
    assert provider.parse(olds).owner == ""
    assert provider.recorded({}) is None
    failures = provider.check({}, {k: v for k, v in news.items() if k != "owner"}).failures
    assert [f.property for f in failures] == ["owner"]


def user_mode_props() -> dict[str, Any]:
    """What components/flask_app.py gives both user-mode resources (the route its own part)."""
    return {"connection": connection_input("203.0.113.10", 22, "u", "pin", "/k"),
            "api": {"url": "https://203.0.113.10:2222", "user": "u", "caFile": "/ca.pem"},
            "loginKey": "key", "location": "/", "domain": "d", "owner": "da-flask/dev",
            "health": {"listener": "203.0.113.10:80", "host": "d", "path": "/", "status": 200,
                       "timeout": 30}, "healthChecked": None}


def test_user_mode_state_stays_as_the_untyped_providers_wrote_it() -> None:
    """The typed user-mode providers read the state main's dict providers wrote, keep
    it key for key, and diff it as before: the API's CA file is machine-local, the
    API's address and the domain replace, a missing login key is named by check."""
    app_props = {**user_mode_props(), "appDir": "/home/u/domains/d/shop", "user": "u",
                 "access": "user", "name": "shop", "config": {"type": "python 3.11"},
                 "releaseId": "r1", "venvKey": "v1", "keep": 5}
    route_props = {**user_mode_props(), "appName": "shop", "steps": [{"action": {"pass": "x"}}]}
    for provider, props in ((DaUnitApplicationProvider(), app_props),
                            (DaUnitRouteProvider(), route_props)):
        inputs = provider.parse(props)
        assert inputs.directadmin().ca_file == "/ca.pem" and inputs.health is not None
        state = provider.state(props, provider.outputs_type(health_checked=True))
        assert state == {**props, "healthChecked": True}
        assert not provider.diff("id", state, props).changes
        moved = {**props, "api": {**props["api"], "caFile": "/elsewhere/ca.pem"}}
        assert not provider.diff("id", state, moved).changes
        assert provider.diff("id", state, {**props, "domain": "e"}).replaces == ["domain"]
        rekeyed = provider.diff("id", state, {**props, "loginKey": "new"})
        assert rekeyed.changes and not rekeyed.replaces
        failures = provider.check({}, {k: v for k, v in props.items() if k != "loginKey"}).failures
        assert [f.property for f in failures] == ["loginKey"]
    assert DaUnitApplicationProvider().id_of(DaUnitApplicationProvider().parse(app_props)) == "d/shop"
    assert DaUnitRouteProvider().id_of(DaUnitRouteProvider().parse(route_props)) == "d/"
