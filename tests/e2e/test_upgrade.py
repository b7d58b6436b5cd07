"""A stack deployed by the release before the naming scheme (commit 0c59465,
Unit objects named after the bare app name) upgrades on the next `pulumi up`
with this code: no engine replacement, no failed request, the new names made,
the dispatch entry and the TLS listener switched, the old objects removed,
then a no-op preview (issue 9, Trust).

A stack deployed by the release before the resources were typed (commit
6bb877b, every resource `pulumi-python:dynamic:Resource`) upgrades with one
change only: the aliases match every resource, the preview under the real
engine updates the app's route alone (its static share moved from the release's
directory to `current`, 2026-11-30), `pulumi up` changes nothing else on the
host, and the state then holds the typed names (issue 11, Architecture)."""
from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path
from typing import Any

import httpx
import pytest

from daunit.render import certificate_name, chain_sha256
from tests.e2e.conftest import PROGRAM_PARTS, Deployment, app_config, host_config
from tests.e2e.test_ownership import OWNER_ENV, unit_config, unit_name, unit_request
from tests.support.certs import TestCA, https_get
from tests.support.engine import REPO
from tests.support.load import RequestLoop

pytestmark = [pytest.mark.root, pytest.mark.engine, pytest.mark.real_unitd]

# The last commit of main that named Unit objects after the bare app name.
PREVIOUS_RELEASE = "0c59465"
# The last commit of main whose resources were all `pulumi-python:dynamic:Resource`.
UNTYPED_RELEASE = "5f822d0"
UNTYPED = "pulumi-python:dynamic:Resource"
APP = "flask_app"
DOMAIN = "example.com"


def previous_program(root: Path, commit: str = PREVIOUS_RELEASE) -> Path:
    """The program parts (__main__.py, components, daunit) as a previous release had them."""
    out = root / f"release-{commit}"
    out.mkdir()
    archive = subprocess.run(["git", "-C", str(REPO), "archive", commit, *PROGRAM_PARTS],
                             capture_output=True, check=True).stdout
    subprocess.run(["tar", "-x", "-C", str(out)], input=archive, check=True)
    return out


def run_program_from(project: Path, source: Path) -> None:
    for part in PROGRAM_PARTS:
        (project / part).unlink()
        (project / part).symlink_to(source / part)


def get(lab: Any, path: str = "/") -> httpx.Response:
    return httpx.get(f"http://{lab.address}{path}", headers={"Host": DOMAIN}, timeout=10)


def configure_tls_app(d: Deployment, lab: Any, **extra: Any) -> tuple[TestCA, Any]:
    """One app with a secret and a certificate from the stack config; the CA
    and the certificate."""
    ca = TestCA()
    leaf = ca.issue(DOMAIN, f"www.{DOMAIN}", days=30)
    d.stack.set_config(f"appSecrets.{APP}.SECRET_KEY", d.secret_key, secret=True, path=True)
    d.stack.set_config(f"tlsCertificates.{APP}.chain", leaf.chain_pem, secret=True, path=True)
    d.stack.set_config(f"tlsCertificates.{APP}.key", leaf.key_pem, secret=True, path=True)
    d.write_config({"lab": host_config(lab)}, [app_config(
        APP, "lab", DOMAIN, d.app_sources[APP], secretEnvironmentKeys=["SECRET_KEY"],
        tls={"source": "config"}, **extra)])
    return ca, leaf


def preview_ops(d: Deployment) -> dict[str, str]:
    steps = json.loads(d.stack.preview("--json").stdout).get("steps") or []
    return {s["urn"].rsplit("::", 1)[-1]: s["op"] for s in steps}


def test_previous_release_upgrades_in_place(lab_factory: Any, deployment_factory: Any,
                                            tmp_path: Path) -> None:
    lab = lab_factory("upgrade", front="none")
    d = deployment_factory("upg")
    ca, leaf = configure_tls_app(d, lab)

    run_program_from(d.project, previous_program(tmp_path))
    d.stack.up()
    old_bundle = certificate_name(APP, chain_sha256(leaf.chain_pem))
    config = unit_config(lab)
    assert set(config["applications"]) == {APP}  # the previous naming, unmarked
    assert OWNER_ENV not in config["applications"][APP]["environment"]
    assert config["listeners"]["*:443"]["tls"]["certificate"] == [old_bundle]

    run_program_from(d.project, REPO)
    ops = preview_ops(d)
    assert not any("replace" in op for op in ops.values()), ops
    assert ops[f"{APP}-unit-app"] == ops[f"{APP}-unit-route"] == ops[f"{APP}-cert"] == "update"

    with RequestLoop([lambda: get(lab), lambda: https_get(lab.address, DOMAIN, "/", ca)],
                     warmup=0.5) as load:
        up = d.stack.up()
    assert load.failures == [], load.results
    assert sum(load.results.values()) > 0
    assert "replaced" not in up.stdout

    name = unit_name("upg", APP)
    new_bundle = certificate_name(name, chain_sha256(leaf.chain_pem))
    config = unit_config(lab)
    assert set(config["applications"]) == {name}
    assert config["applications"][name]["environment"][OWNER_ENV] == "da-flask/upg"
    assert set(config["routes"]) == {name, "da-flask-hosts"}
    assert config["routes"]["da-flask-hosts"] == [
        {"match": {"host": [DOMAIN, f"www.{DOMAIN}"]}, "action": {"pass": f"routes/{name}"}}]
    assert config["listeners"]["*:443"]["tls"]["certificate"] == [new_bundle]
    assert set(unit_request(lab, "GET", "/certificates").json()) == {new_bundle}

    # Nothing left to do, and the app answers over both schemes.
    d.stack.preview("--expect-no-changes")
    assert get(lab).status_code == 200
    assert https_get(lab.address, DOMAIN, "/", ca).status_code == 200
    d.stack.destroy()
    config = unit_config(lab)
    assert config["applications"] == {} and config["listeners"] == {}
    assert unit_request(lab, "GET", "/certificates").json() == {}


def test_a_renamed_stack_moves_its_objects(lab_factory: Any, deployment_factory: Any) -> None:
    lab = lab_factory("rename", front="none")
    d = deployment_factory("before")
    d.stack.set_config(f"appSecrets.{APP}.SECRET_KEY", d.secret_key, secret=True, path=True)
    d.write_config({"lab": host_config(lab)}, [app_config(
        APP, "lab", DOMAIN, d.app_sources[APP], secretEnvironmentKeys=["SECRET_KEY"])])
    d.stack.up()
    assert set(unit_config(lab)["applications"]) == {unit_name("before", APP)}

    d.stack.run("stack", "rename", "after", "--stack", "before")
    d.stack.name = "after"
    ops = preview_ops(d)
    assert not any("replace" in op for op in ops.values()), ops
    with RequestLoop([lambda: get(lab)], warmup=0.5) as load:
        d.stack.up()
    assert load.failures == [], load.results
    config = unit_config(lab)
    name = unit_name("after", APP)
    assert set(config["applications"]) == {name}
    assert config["applications"][name]["environment"][OWNER_ENV] == "da-flask/after"
    assert set(config["routes"]) == {name, "da-flask-hosts"}
    d.stack.preview("--expect-no-changes")
    assert get(lab).status_code == 200


def state_types(d: Deployment) -> dict[str, str]:
    """Each resource's type in the stack's state, by name."""
    resources = d.stack.export()["deployment"].get("resources") or []
    return {r["urn"].rsplit("::", 1)[-1]: r["type"] for r in resources}


def test_untyped_stack_upgrades_with_no_change(lab_factory: Any, deployment_factory: Any,
                                               tmp_path: Path) -> None:
    lab = lab_factory("typed", front="none")
    d = deployment_factory("typed")
    # Every kind of resource: release, venv, .env, release commands, Unit
    # application, route, certificate and the host's UnitHost.
    ca, _leaf = configure_tls_app(d, lab, releaseCommands=["flask --version"])

    run_program_from(d.project, previous_program(tmp_path, UNTYPED_RELEASE))
    d.stack.up()
    before = state_types(d)
    assert {t for name, t in before.items() if name.startswith(f"{APP}-") or name == "lab-unit"} \
        == {UNTYPED}, before
    config = unit_config(lab)
    bundles = unit_request(lab, "GET", "/certificates").json()

    run_program_from(d.project, REPO)
    steps = json.loads(d.stack.preview("--json", "--show-sames").stdout).get("steps") or []
    ops = {s["urn"].rsplit("::", 1)[-1]: s["op"] for s in steps}
    resources = {name for name, t in before.items() if not t.startswith("pulumi:providers:")}
    route = f"{APP}-unit-route"
    assert set(ops) >= resources and ops.pop(route) == "update" and set(ops.values()) == {"same"}, ops
    (step,) = [s for s in steps if s["urn"].endswith(f"::{route}")]
    olds, news = step["oldState"]["inputs"], step["newState"]["inputs"]
    assert {k for k in olds.keys() | news.keys() if olds.get(k) != news.get(k)} == {"steps"}
    typed = {s["urn"].rsplit("::", 1)[-1]: s["urn"] for s in steps}
    assert "$pulumi-python:dynamic/daflask:UnitApplication::" in typed[f"{APP}-unit-app"]
    assert "$pulumi-python:dynamic/daflask:ReleaseCommands::" in typed[f"{APP}-release-commands"]

    up = d.stack.up()
    assert "replaced" not in up.stdout and re.search(r"\b1 updated\b", up.stdout), up.stdout[-2000:]
    d.stack.preview("--expect-no-changes")
    after = state_types(d)
    assert after[f"{APP}-release"] == "pulumi-python:dynamic/daflask:Release"
    assert after[f"{APP}-cert"] == "pulumi-python:dynamic/daflask:UnitCertificate"
    assert after["lab-unit"] == "pulumi-python:dynamic/daflask:UnitHost"
    assert UNTYPED not in after.values(), after
    assert set(after) == set(before)
    # Nothing else on the host moved, and the app answers over both schemes.
    for steps_ in config["routes"].values():
        for step in steps_:
            if "share" in step["action"]:
                step["action"]["share"] = re.sub(r"/releases/[0-9a-f]{16}", "/current",
                                                 step["action"]["share"])
    assert unit_config(lab) == config
    assert unit_request(lab, "GET", "/certificates").json() == bundles
    assert get(lab).status_code == 200
    assert https_get(lab.address, DOMAIN, "/", ca).status_code == 200

    # A change after the upgrade deploys through the typed resources, and the
    # state the previous release wrote is destroyed by this code.
    index = d.app_sources[APP] / "app" / "templates" / "index.html"
    index.write_text(index.read_text().replace("Hello from da-flask", "Hello from typed resources"))
    d.stack.up()
    assert "Hello from typed resources" in get(lab).text
    d.stack.destroy()
    config = unit_config(lab)
    assert config["applications"] == {} and config["listeners"] == {}
