"""Issue-4 behaviours: health-checked switches that revert, no failed request
under load across code, environment and venv changes, interrupted deploys
that converge."""
from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.e2e.conftest import Deployment, app_config, broken_release, host_config
from tests.e2e.test_deploy import app_dir, get, unit_config
from tests.e2e.test_ownership import unit_name
from tests.support.engine import PULUMI_WRAPPER
from tests.support.load import RequestLoop

pytestmark = [pytest.mark.root, pytest.mark.engine, pytest.mark.real_unitd]
APP = "flask_app"
UNIT_APP = unit_name("day2", APP)  # its name in Unit (daunit.ownership)


@pytest.fixture(scope="module")
def lab(lab_factory: Any) -> Any:
    return lab_factory("day2", front="none")


@pytest.fixture(scope="module")
def d(lab: Any, deployment_factory: Any) -> Deployment:
    d = deployment_factory("day2")
    configure(d, lab, greeting="one")
    d.stack.set_config("appSecrets.flask_app.SECRET_KEY", d.secret_key, secret=True, path=True)
    d.stack.up()
    return d


def configure(d: Deployment, lab: Any, greeting: str, **extra: Any) -> None:
    d.write_config({"lab": host_config(lab)},
                   [app_config(APP, "lab", "example.com", d.app_sources[APP],
                               secretEnvironmentKeys=["SECRET_KEY"],
                               environment={"FLASK_CONFIG": "production", "GREETING": greeting},
                               **extra)])


def test_no_failed_request_across_code_env_and_venv_changes(lab: Any, d: Deployment) -> None:
    src = d.app_sources[APP]
    client = httpx.Client(base_url=f"http://{lab.address}", headers={"Host": "example.com"},
                          timeout=10)
    with RequestLoop([lambda: client.get("/healthz")], cleanup=client.close) as load:
        template = src / "app" / "templates" / "about.html"
        template.write_text(template.read_text() + "\n<!-- code change -->\n")
        d.stack.up()
        configure(d, lab, greeting="two")
        d.stack.up()
        reqs = src / "requirements.txt"
        reqs.write_text(reqs.read_text() + "six==1.16.0\n")
        d.stack.up()
    total = sum(load.results.values())
    print(f"requests during three updates: {dict(load.results)}")
    assert total > 50, load.results
    assert load.failures == [], load.failures[:5]
    assert "two" in get(lab, "/").text


def test_failed_health_check_reverts_to_previous_release(lab: Any, d: Deployment) -> None:
    before = unit_config(lab)["applications"][UNIT_APP]
    with broken_release(d.app_sources[APP]):  # answers 500 on its health path
        result = d.stack.up(check=False)
    out = result.stdout + result.stderr
    assert result.returncode != 0
    assert "health check http://example.com/" in out and "got HTTP 500" in out
    assert "unit.log" in out
    assert unit_config(lab)["applications"][UNIT_APP] == before
    assert get(lab, "/").status_code == 200
    # `current` still names the release that serves.
    assert (app_dir(lab) / "current").resolve().name in before["path"]
    d.stack.up()  # converges back onto the good source


def test_killed_deploy_keeps_serving_and_next_up_converges(lab: Any, d: Deployment) -> None:
    src = d.app_sources[APP]
    big = src / "app" / "static" / "big.bin"
    big.write_bytes(os.urandom(64 * 1024 * 1024))
    releases = app_dir(lab) / "releases"
    proc = subprocess.Popen([str(PULUMI_WRAPPER), "up", "--yes", "--skip-preview",
                             "--non-interactive", "--stack", d.stack.name],
                            cwd=d.project, env=d.stack.env(), start_new_session=True,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and not list(releases.glob(".incoming-*")):
        time.sleep(0.05)
    assert list(releases.glob(".incoming-*")), "the upload never started"
    time.sleep(0.3)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    # The engine starts its plugins in process groups of their own: a real
    # SIGKILL of `pulumi` orphans them too, so end those (all run in the project dir).
    for entry in Path("/proc").iterdir():
        try:
            if entry.name.isdigit() and os.readlink(entry / "cwd") == str(d.project):
                os.kill(int(entry.name), signal.SIGKILL)
        except OSError:
            pass
    assert get(lab, "/").status_code == 200  # the live release never stopped serving

    # The file backend keeps the dead update's lock; removing it is the
    # documented recovery for a killed `pulumi up` on a self-managed backend.
    for lock in (d.stack.state_dir / ".pulumi" / "locks").rglob("*.json"):
        lock.unlink()
    # Running the same deploy again converges: the half-made tree is replaced.
    d.stack.up()
    assert not list(releases.glob(".incoming-*"))
    assert get(lab, "/static/big.bin").status_code == 200
    big.unlink()
    d.stack.up()
    assert get(lab, "/").status_code == 200


def test_rollback_to_a_kept_release_uploads_nothing(lab: Any, d: Deployment) -> None:
    from tests.e2e.test_deploy import resource_outputs

    index = d.app_sources[APP] / "app" / "templates" / "index.html"
    good = index.read_text()
    good_release = unit_config(lab)["applications"][UNIT_APP]["path"]
    index.write_text(good.replace("Hello from da-flask", "Hello from the new release"))
    d.stack.up()
    assert "Hello from the new release" in get(lab, "/").text

    # Rolling back is deploying the old source again: its release is still on
    # the host (content-addressed), so nothing is uploaded and the venv is reused.
    index.write_text(good)
    started = time.monotonic()
    d.stack.up()
    elapsed = time.monotonic() - started
    print(f"rollback took {elapsed:.1f} s")
    assert resource_outputs(d, "flask_app-release")["filesSent"] == 0
    assert resource_outputs(d, "flask_app-release")["bytesSent"] == 0
    assert unit_config(lab)["applications"][UNIT_APP]["path"] == good_release
    assert "Hello from the new release" not in get(lab, "/").text


def test_old_releases_are_pruned_beyond_keep(lab: Any, d: Deployment) -> None:
    configure(d, lab, greeting="two", keepReleases=2)
    about = d.app_sources[APP] / "app" / "templates" / "about.html"
    original = about.read_text()
    for n in range(3):
        about.write_text(original + f"\n<!-- release {n} -->\n")
        d.stack.up()
    live = Path(unit_config(lab)["applications"][UNIT_APP]["path"]).name
    kept = sorted(p.name for p in (app_dir(lab) / "releases").iterdir())
    assert live in kept and len(kept) == 2, kept
    venvs = [p.name for p in (app_dir(lab) / "venvs").iterdir()]
    assert 1 <= len(venvs) <= 2, venvs
