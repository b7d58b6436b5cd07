"""Root mode on a DirectAdmin server (issue 13 B), under the real engine and a real unitd,
on a lab with nginx in front and on one with Apache in front.

The app is deployed the DirectAdmin way: stored in DirectAdmin's Unit storage under
DirectAdmin's names, Unit on 127.0.0.1:unit_port, the front server wired by DirectAdmin's
vhost rewrite. It must keep serving through the front server on :80 and :443 across
DirectAdmin's re-fill, a unitd restart and `da build rewrite_confs`, with no `pulumi up`.
"""
from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from daunit import directadmin
from daunit.ownership import Owner
from lab.dactl import DirectAdmin, unit_config
from tests.e2e.conftest import Deployment, app_config, host_config
from tests.lab.test_directadmin_lab import api, http_get, https_get, unit
from tests.support.load import RequestLoop

pytestmark = [pytest.mark.root, pytest.mark.engine, pytest.mark.real_unitd]

APP, DOMAIN, STACK = "flask_app", "example.com", "dar"
STORED = directadmin.stored_name(Owner("da-flask", STACK), APP)
UNIT_APP = directadmin.unit_app_name(DOMAIN, STORED)


@pytest.fixture(scope="module", params=["nginx", "apache"])
def lab(request: pytest.FixtureRequest, lab_factory: Any) -> Any:
    return lab_factory(f"dar-{request.param}", front=request.param)


@pytest.fixture(scope="module")
def deployed(lab: Any, deployment_factory: Any) -> Iterator[Deployment]:
    d = deployment_factory(STACK)
    d.write_config({"lab": host_config(lab)},
                   [app_config(APP, "lab", DOMAIN, d.app_sources[APP],
                               secretEnvironmentKeys=["SECRET_KEY"])])
    d.stack.set_config("appSecrets.flask_app.SECRET_KEY", d.secret_key, secret=True, path=True)
    yield d
    d.stack.destroy(check=False)


def da_tree(lab: Any) -> DirectAdmin:
    return DirectAdmin(root=lab.host_path(directadmin.DA_ROOT))


def assert_serves(lab: Any, text: str = "Hello from da-flask") -> None:
    """Through the front server on :80, and on :443 with the domain's certificate: Unit
    listens on loopback only, so whatever answers on the lab's address is the front server
    (Apache passes Unit's own Server header on, nginx puts its own)."""
    assert list(unit(lab, "GET", "/config/listeners")) == [f"127.0.0.1:{lab.unit_port}"]
    for get in (http_get, https_get):
        page = get(lab, "/")
        assert page.status_code == 200, (get.__name__, page.status_code, page.text[:300])
        assert text in page.text
    css = http_get(lab, "/static/style.css")
    assert css.status_code == 200 and css.headers["content-type"].startswith("text/css")


def assert_no_changes(d: Deployment) -> None:
    d.stack.preview("--expect-no-changes")


def test_1_deploys_the_directadmin_way(lab: Any, deployed: Deployment) -> None:
    deployed.stack.up()
    assert_serves(lab)
    live = unit(lab, "GET", "/config")
    # Unit behind the front server: only DirectAdmin's loopback listener, no *:80.
    assert list(live["listeners"]) == [f"127.0.0.1:{lab.unit_port}"]
    assert not [name for name in live["applications"] if name.startswith("daflask:")]
    # What is stored is what a re-fill makes, and exactly what we applied.
    da = da_tree(lab)
    assert da.apps(lab.da_user, DOMAIN) == {STORED: live["applications"][UNIT_APP]}
    assert da.routes(lab.da_user, DOMAIN)[DOMAIN]["/"] == live["routes"][DOMAIN]
    assert unit_config(da) == live
    stored = lab.host_path(f"{directadmin.DA_ROOT}/data/users/{lab.da_user}/domains/"
                           f"{DOMAIN}.unit/{STORED}.json")
    assert stored.stat().st_uid == 0 and oct(stored.stat().st_mode & 0o777) == "0o600"
    assert stored.read_text() == directadmin.stored_text(live["applications"][UNIT_APP])
    assert_no_changes(deployed)


def test_2_panel_lists_the_app(lab: Any, deployed: Deployment) -> None:
    listing = api(lab, "GET", {"domain": DOMAIN, "json": "yes"})
    assert listing.status_code == 200, listing.text
    body = listing.json()
    assert STORED in body["applications"]
    assert body["applications"][STORED]["environment"]["DAFLASK_OWNER"] == f"da-flask/{STACK}"
    assert "/" in body["routes"][DOMAIN]


def test_2_another_stack_does_not_take_the_domain(lab: Any, deployed: Deployment,
                                                  deployment_factory: Any) -> None:
    """DirectAdmin's route for the domain passes to our (marked) app: another stack's
    deploy onto the same domain is refused, and neither Unit nor the stored files change."""
    routes_file = lab.host_path(f"{directadmin.DA_ROOT}/data/users/{lab.da_user}/domains/"
                                f"{DOMAIN}.routes/{DOMAIN}")
    before_routes, before_unit = routes_file.read_text(), unit(lab, "GET", "/config/routes")
    other = deployment_factory("darother", apps=("other_app",))
    other.write_config({"lab": host_config(lab)},
                       [app_config("other_app", "lab", DOMAIN, other.app_sources["other_app"],
                                   secretEnvironmentKeys=["SECRET_KEY"])])
    other.stack.set_config("appSecrets.other_app.SECRET_KEY", other.secret_key, secret=True, path=True)
    try:
        result = other.stack.up(check=False)
        assert result.returncode != 0
        out = result.stdout + result.stderr
        assert f"belongs to the stack da-flask/{STACK}" in out, out[-3000:]
        assert routes_file.read_text() == before_routes
        assert unit(lab, "GET", "/config/routes") == before_unit
        assert_serves(lab)
    finally:
        other.stack.destroy()
    # Its own app (made before its route was refused) went with it; ours stayed.
    assert list(da_tree(lab).apps(lab.da_user, DOMAIN)) == [STORED]
    assert_serves(lab)


def test_3_refill_restart_and_rewrite_leave_it_serving(lab: Any, deployed: Deployment) -> None:
    before = unit(lab, "GET", "/config")
    lab.refill()
    assert_serves(lab)
    assert unit(lab, "GET", "/config") == before
    lab.stop_unit()
    lab.start_unit()
    assert_serves(lab)
    lab.rewrite_confs()
    assert_serves(lab)
    assert unit(lab, "GET", "/config") == before
    assert_no_changes(deployed)


def test_4_refill_from_empty_unit_brings_it_back(lab: Any, deployed: Deployment) -> None:
    """Unit emptied (its state lost): the start check re-fills it from our stored files."""
    unit(lab, "PUT", "/config", {"listeners": {}, "applications": {}})
    lab.stop_unit()
    lab.start_unit()
    assert_serves(lab)
    assert_no_changes(deployed)


def test_5_update_switches_with_no_failed_request(lab: Any, deployed: Deployment) -> None:
    client = httpx.Client(base_url=f"http://{lab.address}", headers={"Host": DOMAIN}, timeout=10)
    with RequestLoop([lambda: client.get("/healthz")], cleanup=client.close) as load:
        template = deployed.app_sources[APP] / "app" / "templates" / "index.html"
        template.write_text(template.read_text().replace("Hello from da-flask",
                                                         "Hello again from da-flask"))
        deployed.stack.up()
    assert sum(load.results.values()) > 20, load.results
    assert load.failures == [], load.failures[:5]
    assert_serves(lab, "Hello again from da-flask")
    lab.refill()
    assert_serves(lab, "Hello again from da-flask")
    assert_no_changes(deployed)


def test_6_stored_file_drift_is_seen_by_refresh(lab: Any, deployed: Deployment) -> None:
    path = lab.host_path(f"{directadmin.DA_ROOT}/data/users/{lab.da_user}/domains/"
                         f"{DOMAIN}.unit/{STORED}.json")
    edited = json.loads(path.read_text())
    edited["processes"] = {"max": 9, "spare": 0}
    path.write_text(json.dumps(edited))
    routes = lab.host_path(f"{directadmin.DA_ROOT}/data/users/{lab.da_user}/domains/"
                           f"{DOMAIN}.routes/{DOMAIN}")
    routes.unlink()
    refresh = deployed.stack.refresh("--diff")
    assert "inSync" in refresh.stdout, refresh.stdout[-3000:]
    deployed.stack.up()
    live = unit(lab, "GET", "/config")
    assert json.loads(path.read_text()) == live["applications"][UNIT_APP]
    assert unit_config(da_tree(lab)) == live
    assert_no_changes(deployed)


def test_7_destroy_removes_stored_files_and_unit_objects(lab: Any, deployed: Deployment) -> None:
    deployed.stack.destroy()
    da = da_tree(lab)
    assert da.apps(lab.da_user, DOMAIN) == {}
    assert DOMAIN not in da.routes(lab.da_user, DOMAIN)
    live = unit(lab, "GET", "/config")
    assert UNIT_APP not in live["applications"] and DOMAIN not in live.get("routes", {})
    # The vhost no longer proxies to Unit: the docroot answers, not the app.
    assert "Hello" not in http_get(lab, "/").text
