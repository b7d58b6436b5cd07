"""Issue-3 behaviours under the real Pulumi engine, on a lab host.

One deployment is walked through its life in order (deploy, no-op, code
edit, env change, venv change, failed venv, drift, destroy), because each
step starts from the state the previous one left, as a user's would.
"""
from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.e2e.conftest import Deployment, app_config, host_config
from tests.e2e.test_ownership import unit_name

pytestmark = [pytest.mark.root, pytest.mark.engine, pytest.mark.real_unitd]

APP = "flask_app"
UNIT_APP = unit_name("e2e", APP)  # its name in Unit (daunit.ownership)
DOMAIN = "example.com"


def get(lab: Any, path: str, host: str = DOMAIN) -> httpx.Response:
    return httpx.get(f"http://{lab.address}{path}", headers={"Host": host}, timeout=10)


def app_dir(lab: Any, domain: str = DOMAIN, name: str = APP) -> Path:
    return lab.host_path(f"/home/{lab.da_user}/domains/{domain}/public_html/{name}")


def worker_pids(lab: Any, name: str = UNIT_APP) -> set[int]:
    """PIDs of this lab's workers of app `name` (other labs may run one too)."""
    def lines(argv: list[str]) -> set[int]:
        out = subprocess.run(argv, capture_output=True, text=True).stdout
        return {int(p) for p in out.split()}
    in_lab = lines(["ip", "netns", "pids", lab.netns])
    return lines(["pgrep", "-f", f'unit: "{name}" application']) & in_lab


def unit_config(lab: Any) -> dict[str, Any]:
    sock = lab.host_path(lab.unit_socket)
    with httpx.Client(transport=httpx.HTTPTransport(uds=str(sock)), base_url="http://unit") as c:
        return c.get("/config").json()


def unit_put(lab: Any, path: str, value: Any) -> httpx.Response:
    sock = lab.host_path(lab.unit_socket)
    with httpx.Client(transport=httpx.HTTPTransport(uds=str(sock)), base_url="http://unit") as c:
        return c.put(path, content=json.dumps(value))


def resource_outputs(d: Deployment, suffix: str) -> dict[str, Any]:
    for r in d.stack.export()["deployment"]["resources"]:
        if r["urn"].endswith(f"::{suffix}"):
            return r.get("outputs", {})
    raise AssertionError(f"no resource {suffix} in state")


@pytest.fixture(scope="module")
def lab(lab_factory: Any) -> Any:
    return lab_factory("e2e", front="none")


@pytest.fixture(scope="module")
def deployed(lab: Any, deployment_factory: Any) -> Deployment:
    d = deployment_factory("e2e")
    d.write_config({"lab": host_config(lab)},
                   [app_config(APP, "lab", DOMAIN, d.app_sources[APP],
                               secretEnvironmentKeys=["SECRET_KEY"])])
    d.stack.set_config("appSecrets.flask_app.SECRET_KEY", d.secret_key, secret=True, path=True)
    return d


def test_1_fresh_up_deploys_and_serves(lab: Any, deployed: Deployment) -> None:
    preview = deployed.stack.preview("--diff")
    assert "app/templates/index.html" in preview.stdout
    assert deployed.secret_key not in preview.stdout + preview.stderr

    deployed.stack.up()
    page = get(lab, "/")
    assert page.status_code == 200
    assert "Hello from da-flask" in page.text and "first greeting" in page.text
    assert page.headers["server"].startswith("Unit/")

    css = get(lab, "/static/style.css")
    assert css.status_code == 200 and css.headers["content-type"].startswith("text/css")
    # Unit's share answers with its own ETag form ("<hex mtime>-<hex size>") and
    # no Cache-Control; Flask's send_file would add "Cache-Control: no-cache".
    assert re.fullmatch(r'"[0-9a-f]+-[0-9a-f]+"', css.headers["etag"])
    assert "cache-control" not in css.headers

    root = app_dir(lab)
    env = root / "instance" / ".env"
    assert oct(env.stat().st_mode & 0o777) == "0o600"
    assert oct((root / "instance").stat().st_mode & 0o777) == "0o700"
    assert oct((root / "logs").stat().st_mode & 0o777) == "0o700"
    assert env.stat().st_uid == lab.da_uid and (root / "instance").stat().st_uid == lab.da_uid
    release = (root / "current").resolve()
    assert oct((release / "wsgi.py").stat().st_mode & 0o777) == "0o755"
    assert oct((release / "app" / "views" / "main.py").stat().st_mode & 0o777) == "0o644"
    assert oct((release / "app").stat().st_mode & 0o777) == "0o755"
    assert deployed.secret_key in env.read_text()

    outputs = deployed.stack.outputs()
    assert outputs["urls"][0] == "http://example.com/"
    # From the Server header of Unit's own answer ("Unit/1.35.0").
    assert re.fullmatch(r"\d+\.\d+\.\d+", outputs["hosts"]["lab"]["unitVersion"])
    assert {"name": "example.com", "type": "A", "value": lab.address, "ttl": 3600} \
        in outputs["dnsRecords"]
    # The secret is in the state file only encrypted.
    assert deployed.secret_key not in deployed.stack.state_text()


def test_2_noop_up_changes_nothing(lab: Any, deployed: Deployment) -> None:
    before = worker_pids(lab)
    assert before
    connections = lab.ssh_connections_accepted()
    result = deployed.stack.up()
    assert re.search(r"\b9 unchanged\b", result.stdout), result.stdout[-2000:]
    assert " updated" not in result.stdout and " created" not in result.stdout
    assert worker_pids(lab) == before
    # Every diff is pure: a no-op up does not touch the host at all.
    assert lab.ssh_connections_accepted() == connections


def test_2_noop_refresh_is_one_connection_per_host(lab: Any, deployed: Deployment) -> None:
    connections = lab.ssh_connections_accepted()
    result = deployed.stack.up("--refresh")
    assert re.search(r"\b9 unchanged\b", result.stdout), result.stdout[-2000:]
    # Six resources read the host (UnitHost and five per app), over one connection.
    assert lab.ssh_connections_accepted() - connections == 1


def test_3_template_edit_moves_one_file(lab: Any, deployed: Deployment) -> None:
    template = deployed.app_sources[APP] / "app" / "templates" / "index.html"
    template.write_text(template.read_text().replace("Hello from da-flask",
                                                     "Hello again from da-flask"))
    preview = deployed.stack.preview("--diff")
    assert "app/templates/index.html" in preview.stdout
    venv_lines = [line for line in preview.stdout.splitlines() if "flask_app-venv" in line]
    assert not any(line.lstrip().startswith("~") for line in venv_lines), venv_lines

    deployed.stack.up()
    assert resource_outputs(deployed, "flask_app-release")["filesSent"] == 1
    assert "Hello again from da-flask" in get(lab, "/").text


def test_3_static_edit_changes_the_application_only(lab: Any, deployed: Deployment) -> None:
    """The route's share goes through `current`: a new release (code or static
    files) updates the release and the application; the route stays as it is,
    and the new file is served once `current` switched."""
    css = deployed.app_sources[APP] / "app" / "static" / "style.css"
    css.write_text(css.read_text() + "\n/* edited for the e2e test */\n")
    route_before = unit_config(lab)["routes"][UNIT_APP]
    live = f"/home/{lab.da_user}/domains/{DOMAIN}/public_html/{APP}/current"
    assert route_before[0]["action"]["share"] == f"{live}/app$uri"

    result = deployed.stack.up()
    assert re.search(r"\b2 updated\b", result.stdout), result.stdout[-2000:]
    assert unit_config(lab)["routes"][UNIT_APP] == route_before
    served = get(lab, "/static/style.css")
    assert served.status_code == 200 and served.content == css.read_bytes()


def test_5_environment_change_restarts_app(lab: Any, deployed: Deployment) -> None:
    before = worker_pids(lab)
    d = deployed
    d.write_config({"lab": host_config(lab)},
                   [app_config(APP, "lab", DOMAIN, d.app_sources[APP],
                               secretEnvironmentKeys=["SECRET_KEY"],
                               environment={"FLASK_CONFIG": "production",
                                            "GREETING": "second greeting"})])
    d.stack.up()
    assert "second greeting" in get(lab, "/").text
    assert worker_pids(lab).isdisjoint(before)

    # A new secret value: .env rewritten, app restarted, value never shown.
    new_secret = "sk-rotated-" + d.secret_key[-8:]
    d.stack.set_config("appSecrets.flask_app.SECRET_KEY", new_secret, secret=True, path=True)
    before = worker_pids(lab)
    result = d.stack.up()
    assert new_secret not in result.stdout + result.stderr
    assert new_secret in (app_dir(lab) / "instance" / ".env").read_text()
    assert worker_pids(lab).isdisjoint(before)
    assert new_secret not in d.stack.state_text()


def test_4_requirements_change_rebuilds_venv_and_failure_keeps_old(
        lab: Any, deployed: Deployment) -> None:
    reqs = deployed.app_sources[APP] / "requirements.txt"
    original = reqs.read_text()
    reqs.write_text(original + "six==1.16.0\n")
    preview = deployed.stack.preview("--diff")
    assert "six==1.16.0" in preview.stdout
    deployed.stack.up()
    venv_dir = resource_outputs(deployed, "flask_app-venv")["venvDir"]
    assert lab.host_path(venv_dir + "/.complete").exists()
    assert get(lab, "/").status_code == 200

    live_before = unit_config(lab)["applications"][UNIT_APP]
    reqs.write_text(original + "this-package-does-not-exist-da-flask==0.0.1\n")
    failed = deployed.stack.up(check=False)
    assert failed.returncode != 0
    assert "this-package-does-not-exist-da-flask" in failed.stdout + failed.stderr
    # The previous release and venv keep serving.
    assert unit_config(lab)["applications"][UNIT_APP] == live_before
    assert get(lab, "/").status_code == 200
    reqs.write_text(original)
    deployed.stack.up()


def test_6_drift_is_seen_by_refresh_and_repaired_by_up(lab: Any, deployed: Deployment) -> None:
    live = unit_config(lab)["applications"][UNIT_APP]
    edited = {**live, "environment": {**live["environment"], "GREETING": "edited by hand"}}
    assert unit_put(lab, f"/config/applications/{UNIT_APP}", edited).status_code == 200
    assert "edited by hand" in get(lab, "/").text

    refresh = deployed.stack.refresh("--diff")
    assert "edited by hand" in refresh.stdout
    deployed.stack.up()
    assert "edited by hand" not in get(lab, "/").text
    assert unit_config(lab)["applications"][UNIT_APP] == live


def test_7_destroy_removes_only_what_it_made(lab: Any, deployed: Deployment) -> None:
    # Unrelated config a DirectAdmin admin might have: must survive.
    other = {"type": "python", "path": "/tmp", "module": "nothing_here",
             "processes": {"max": 1, "spare": 0}}
    assert unit_put(lab, "/config/applications/other_app", other).status_code == 200
    assert unit_put(lab, "/config/listeners/*:8081",
                    {"pass": "applications/other_app"}).status_code == 200

    deployed.stack.destroy()
    config = unit_config(lab)
    assert UNIT_APP not in config["applications"]
    assert UNIT_APP not in (config.get("routes") or {})
    assert config["applications"]["other_app"] == other
    assert config["listeners"]["*:8081"] == {"pass": "applications/other_app"}
    assert not app_dir(lab).exists()
    assert (app_dir(lab).parent).exists()  # public_html itself stays
