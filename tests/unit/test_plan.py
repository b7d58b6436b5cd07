"""One plan per app (daunit.plan): every resource's inputs from the spec in
one call, and a component that only turns the plan into resources."""
from __future__ import annotations

from typing import Any

import pulumi
import pytest

from components.flask_app import FlaskApp
from components.host import DirectAdminHost
from daunit.ownership import Owner
from daunit.plan import AppPlan, plan_app
from daunit.providers.base import connection_input
from daunit.spec import StackSpec, validate_stack
from daunit.spec.local import known_hosts_text
from tests.support.engine import REPO
from tests.unit.conftest import app_raw, host_raw

OWNER = Owner("da-flask", "dev")
SECRETS = {"SECRET_KEY": "sk-not-a-real-one"}
# How the SDK marks a secret value it hands the engine (pulumi.runtime.rpc).
SECRET_SIG = "4dabf18193072939515e22adb298388d"
SECRET_VALUE_SIG = "1b47061264138c4ac30d75fd1eb44270"


def spec_of(**app: Any) -> StackSpec:
    raw = app_raw(source=str(REPO / "examples" / "flask_app"), **app)
    return validate_stack([host_raw()], [raw], {"flask_app": SECRETS}, check_source=False)


def plan_of(**app: Any) -> AppPlan:
    spec = spec_of(**app)
    h = spec.hosts["web1"]
    return plan_app(spec.apps[0], h, OWNER,
                    connection_input(h.address, h.port, h.ssh_user, known_hosts_text(h), None))


def test_one_release_and_venv_for_every_resource() -> None:
    plan = plan_of(releaseCommands=["flask --version"])
    assert plan.release_commands is not None
    rid, vkey = plan.release.release_id, plan.venv.key
    assert plan.release_commands.release_id == plan.unit_app.release_id == rid
    assert plan.release_commands.venv_key == plan.unit_app.venv_key == vkey
    assert f"/releases/{rid}" in plan.unit_app.config["environment"]["PYTHONPATH"]
    assert plan.route.dispatch_entry["action"]["pass"] == f"routes/{plan.route.name}"
    assert plan.certificate is None


def test_the_health_check_is_one_setting() -> None:
    plan = plan_of(healthPath="/up")
    assert plan.unit_app.health == plan.route.health
    assert plan.unit_app.health is not None and plan.unit_app.health.path == "/up"
    assert plan_of(healthCheck=False).unit_app.health is None


def test_secrets_join_only_through_the_plan() -> None:
    plan = plan_of()
    # No secret value is in the plan: the environment joins at run time.
    assert "SECRET_KEY" not in plan.instance.environment
    assert plan.environment(SECRETS) == {"FLASK_CONFIG": "production", **SECRETS}
    with pytest.raises(ValueError, match="SECRET_KEY"):
        plan.environment({})
    config = plan.unit_config("rev1")
    assert config["environment"]["DAFLASK_ENV_REVISION"] == "rev1"
    assert "DAFLASK_ENV_REVISION" not in plan.unit_app.config["environment"]


def test_certificate_inputs_by_source() -> None:
    from_config = plan_of(tls={"source": "config"}).certificate
    assert from_config is not None and from_config.chain is None and from_config.cert_file is None
    from_da = plan_of(tls={"source": "directadmin"}).certificate
    assert from_da is not None and from_da.cert_file and from_da.key_file


class _Mocks(pulumi.runtime.Mocks):
    def __init__(self) -> None:
        self.inputs: dict[str, dict[str, Any]] = {}

    def new_resource(self, args: pulumi.runtime.MockResourceArgs) -> tuple[str, dict[str, Any]]:
        self.inputs[args.name] = {k: v for k, v in args.inputs.items() if k != "__provider"}
        outs = dict(args.inputs)
        if args.name.endswith("-instance"):
            outs["revision"] = "rev1"
        return f"{args.name}-id", outs

    def call(self, args: pulumi.runtime.MockCallArgs) -> tuple[dict[str, Any], list[tuple[str, str]]]:
        return {}, []


def test_the_component_registers_the_plan() -> None:
    mocks = _Mocks()
    pulumi.runtime.set_mocks(mocks, project="da-flask", stack="dev", preview=False)
    spec = spec_of(releaseCommands=["flask --version"])
    h, app = spec.hosts["web1"], spec.apps[0]

    @pulumi.runtime.test
    def deploy() -> pulumi.Output[Any]:
        host = DirectAdminHost("web1", address=h.address, port=h.port, ssh_user=h.ssh_user,
                               known_hosts=known_hosts_text(h), key_file=None,
                               da_user=h.da_user, unit_socket=h.unit_socket,
                               unit_log=h.unit_log, python=h.python, enable_unit=False)
        return FlaskApp("flask_app", app=app, host_spec=h, host=host, secret_env=SECRETS).urn

    deploy()
    plan = plan_of(releaseCommands=["flask --version"])
    made = mocks.inputs
    for name, inputs in (("release", plan.release), ("venv", plan.venv),
                         ("unit-route", plan.route)):
        registered = {k: v for k, v in made[f"flask_app-{name}"].items() if v is not None}
        assert registered == inputs.wire(exclude_none=True), name
    registered = {k: v for k, v in made["flask_app-unit-app"].items() if v is not None}
    assert registered == {**plan.unit_app.wire(exclude_none=True),
                          "config": plan.unit_config("rev1")}
    # The environment is a secret: the engine gets it wrapped as one.
    for name in ("instance", "release-commands"):
        environment = made[f"flask_app-{name}"]["environment"]
        assert environment[SECRET_SIG] == SECRET_VALUE_SIG
        assert environment["value"] == plan.environment(SECRETS)
