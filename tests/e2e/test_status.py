"""`python -m daunit.status` against a deployed stack (issue 14, item 2):
what Unit reports live, over one SSH connection per host, touching no state."""
from __future__ import annotations

import json
import subprocess
import sys
from typing import Any

import pytest

from tests.e2e.conftest import Deployment, app_config, host_config
from tests.support.engine import REPO

pytestmark = [pytest.mark.root, pytest.mark.engine, pytest.mark.real_unitd]

APP = "flask_app"


@pytest.fixture(scope="module")
def lab(lab_factory: Any) -> Any:
    return lab_factory("status", front="none")


@pytest.fixture(scope="module")
def deployed(lab: Any, deployment_factory: Any) -> Deployment:
    d = deployment_factory("status")
    d.write_config({"lab": host_config(lab)}, [app_config(APP, "lab", "example.com", d.app_sources[APP],
                                                          secretEnvironmentKeys=["SECRET_KEY"])])
    d.stack.set_config("appSecrets.flask_app.SECRET_KEY", d.secret_key, secret=True, path=True)
    d.stack.up()
    return d


def status(d: Deployment, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**d.stack.env(), "DAFLASK_PULUMI": str(REPO / "scripts" / "pulumi")}
    return subprocess.run([sys.executable, "-m", "daunit.status", "--stack", d.stack.name,
                           "--cwd", str(d.project), *args],
                          cwd=REPO, env=env, capture_output=True, text=True, timeout=120)


def test_json_reports_what_unit_runs(lab: Any, deployed: Deployment) -> None:
    before = deployed.stack.export()
    connections = lab.ssh_connections_accepted()
    proc = status(deployed, "--json")
    assert proc.returncode == 0, proc.stderr
    host = json.loads(proc.stdout)["hosts"]["lab"]
    assert host["error"] is None and host["unit_version"].count(".") == 2
    app = host["apps"][0]
    assert app["app"] == APP and app["unit_name"]
    assert app["release"] == deployed.stack.outputs()["apps"][APP]["releaseId"] == app["deployed_release"]
    assert app["processes"]["running"] >= 1
    assert app["health"] == "200 OK" and app["health_ms"] is not None
    assert 0 <= app["release_age_s"] < 3600
    assert lab.ssh_connections_accepted() - connections == 1
    assert deployed.stack.export() == before  # read-only: no state touched


def test_watch_refreshes_over_the_same_connection(lab: Any, deployed: Deployment) -> None:
    connections = lab.ssh_connections_accepted()
    proc = status(deployed, "--watch", "0.2", "--count", "3")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.count("RUN/START/IDLE") == 3
    assert f"lab ({lab.address}): Unit 1." in proc.stdout
    assert "200 OK" in proc.stdout
    assert lab.ssh_connections_accepted() - connections == 1


def test_a_stack_that_cannot_be_read_is_one_line(deployed: Deployment) -> None:
    bad = status(deployed, "--stack", "nosuchstack")
    assert bad.returncode == 2
    assert bad.stderr.startswith("status: ") and "Traceback" not in bad.stderr
