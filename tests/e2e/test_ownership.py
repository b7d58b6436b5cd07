"""Unit objects a stack makes are its own (issue 9, Trust), under the real engine.

Two stacks with an app of one name on one host both serve; a stack refuses to
change or remove what another stack (or DirectAdmin, or an admin) made, and
says whose it is; DirectAdmin's `DOMAIN_APP` apps, an admin's routes and
Unit's pre-existing unnamed route (which becomes `default`) are left exactly
as they were through create, update and destroy.
"""
from __future__ import annotations

import json
import os
from typing import Any

import httpx
import pytest

from tests.e2e.conftest import Deployment, app_config, host_config

pytestmark = [pytest.mark.root, pytest.mark.engine, pytest.mark.real_unitd]

PROJECT = "da-flask"  # tests/e2e/conftest.make_project
# daunit.ownership's names, spelled out: what a reader of Unit's config sees.
OWNER_ENV = "DAFLASK_OWNER"


def unit_name(stack: str, app: str) -> str:
    return f"daflask:{PROJECT}:{stack}:{app}"


def unit_request(lab: Any, method: str, path: str, value: Any = None) -> httpx.Response:
    sock = lab.host_path(lab.unit_socket)
    with httpx.Client(transport=httpx.HTTPTransport(uds=str(sock)), base_url="http://unit",
                      timeout=30) as c:
        content = None if value is None else json.dumps(value)
        return c.request(method, path, content=content)


def unit_config(lab: Any) -> dict[str, Any]:
    return unit_request(lab, "GET", "/config").json()


def unit_put(lab: Any, path: str, value: Any) -> None:
    answer = unit_request(lab, "PUT", path, value)
    assert answer.status_code == 200, answer.text


def get(lab: Any, host: str, port: int = 80) -> httpx.Response:
    return httpx.get(f"http://{lab.address}:{port}/", headers={"Host": host}, timeout=10)


def deploy_app(d: Deployment, lab: Any, name: str, domain: str, greeting: str,
               **extra: Any) -> None:
    """Write the stack's config: one app `name` on `domain` saying `greeting`."""
    d.stack.set_config(f"appSecrets.{name}.SECRET_KEY", d.secret_key, secret=True, path=True)
    d.write_config({"lab": host_config(lab)}, [app_config(
        name, "lab", domain, d.app_sources[name], secretEnvironmentKeys=["SECRET_KEY"],
        environment={"FLASK_CONFIG": "production", "GREETING": greeting}, **extra)])


def not_routed(lab: Any, host: str) -> bool:
    try:
        return get(lab, host).status_code == 404
    except httpx.ConnectError:
        return True  # no listener at all: nothing serves the domain either


# --- two stacks, one app name, one host -----------------------------------------------------


def test_two_stacks_with_one_app_name_both_serve(lab_factory: Any,
                                                 deployment_factory: Any) -> None:
    lab = lab_factory("own-two", front="none")
    alpha = deployment_factory("alpha", apps=("shop",))
    beta = deployment_factory("beta", apps=("shop",))
    deploy_app(alpha, lab, "shop", "alpha.example.com", "alpha shop")
    deploy_app(beta, lab, "shop", "beta.example.com", "beta shop")
    alpha.stack.up()
    beta.stack.up()

    assert "alpha shop" in get(lab, "alpha.example.com").text
    assert "beta shop" in get(lab, "beta.example.com").text
    config = unit_config(lab)
    apps = config["applications"]
    assert apps[unit_name("alpha", "shop")]["environment"][OWNER_ENV] == f"{PROJECT}/alpha"
    assert apps[unit_name("beta", "shop")]["environment"][OWNER_ENV] == f"{PROJECT}/beta"
    assert apps[unit_name("alpha", "shop")]["path"].startswith(
        f"/home/{lab.da_user}/domains/alpha.example.com/")
    assert [e["action"]["pass"] for e in config["routes"]["da-flask-hosts"]] == [
        f"routes/{unit_name('alpha', 'shop')}", f"routes/{unit_name('beta', 'shop')}"]

    # An update of one leaves the other as it was; a destroy of one too.
    before = unit_config(lab)["applications"][unit_name("alpha", "shop")]
    deploy_app(beta, lab, "shop", "beta.example.com", "beta shop, second edition")
    beta.stack.up()
    assert "beta shop, second edition" in get(lab, "beta.example.com").text
    assert unit_config(lab)["applications"][unit_name("alpha", "shop")] == before
    beta.stack.destroy()
    assert "alpha shop" in get(lab, "alpha.example.com").text
    assert not_routed(lab, "beta.example.com")
    assert set(unit_config(lab)["applications"]) == {unit_name("alpha", "shop")}
    alpha.stack.destroy()
    config = unit_config(lab)
    assert config["applications"] == {} and config["listeners"] == {}


# --- refusals that name the owner -----------------------------------------------------------


def test_a_stack_never_takes_another_stacks_objects(lab_factory: Any,
                                                    deployment_factory: Any) -> None:
    lab = lab_factory("own-take", front="none")
    alpha = deployment_factory("alpha", apps=("shop",))
    beta = deployment_factory("beta", apps=("store", "shop"))
    deploy_app(alpha, lab, "shop", "shop.example.com", "alpha shop")
    alpha.stack.up()

    # Another stack's app for the same domain: the domain is alpha's.
    deploy_app(beta, lab, "store", "shop.example.com", "beta store")
    taken = beta.stack.up(check=False)
    assert taken.returncode != 0
    assert f"stack {PROJECT}/alpha" in taken.stdout and "shop.example.com" in taken.stdout
    assert "alpha shop" in get(lab, "shop.example.com").text
    routes = unit_config(lab)["routes"]
    assert [e["action"]["pass"] for e in routes["da-flask-hosts"]] == [
        f"routes/{unit_name('alpha', 'shop')}"]
    beta.stack.destroy()
    assert "alpha shop" in get(lab, "shop.example.com").text

    # An object under beta's name carrying someone else's mark is not beta's to change.
    squatter = {**unit_config(lab)["applications"][unit_name("alpha", "shop")]}
    unit_put(lab, f"/config/applications/{unit_name('beta', 'shop')}", squatter)
    deploy_app(beta, lab, "shop", "beta.example.com", "beta shop")
    refused = beta.stack.up(check=False)
    assert refused.returncode != 0
    assert f"belongs to the stack {PROJECT}/alpha" in refused.stdout
    assert unit_config(lab)["applications"][unit_name("beta", "shop")] == squatter

    # Nor to delete: alpha's own app, marked by another stack since, survives
    # alpha's destroy, which fails naming that stack.
    unit_request(lab, "DELETE", f"/config/applications/{unit_name('beta', 'shop')}")
    beta.stack.destroy()
    app_path = f"/config/applications/{unit_name('alpha', 'shop')}"
    marked = unit_request(lab, "GET", app_path).json()
    marked["environment"][OWNER_ENV] = "other-project/prod"
    unit_put(lab, app_path, marked)
    failed = alpha.stack.destroy(check=False)
    assert failed.returncode != 0
    assert "belongs to the stack other-project/prod" in failed.stdout
    assert unit_request(lab, "GET", app_path).json() == marked
    # Handed back, the destroy finishes.
    marked["environment"][OWNER_ENV] = f"{PROJECT}/alpha"
    unit_put(lab, app_path, marked)
    alpha.stack.destroy()
    assert unit_config(lab)["applications"] == {}


def test_a_stack_never_deploys_into_another_stacks_app_dir(lab_factory: Any,
                                                          deployment_factory: Any) -> None:
    # One app name on one domain: both stacks would use the same app directory.
    lab = lab_factory("own-dir", front="none")
    alpha = deployment_factory("alpha", apps=("shop",))
    beta = deployment_factory("beta", apps=("shop",))
    deploy_app(alpha, lab, "shop", "shop.example.com", "alpha shop")
    alpha.stack.up()
    current = lab.host_path(f"/home/{lab.da_user}/domains/shop.example.com/public_html/shop/current")
    live_release = os.readlink(current)
    before = unit_config(lab)["applications"]
    env_file = lab.host_path(f"/home/{lab.da_user}/domains/shop.example.com/public_html/shop/instance/.env")
    env_before = env_file.read_bytes()

    (beta.app_sources["shop"] / "beta.txt").write_text("a release of beta's own\n")
    deploy_app(beta, lab, "shop", "shop.example.com", "beta shop")
    refused = beta.stack.up(check=False)
    assert refused.returncode != 0
    # Refused by the app dir's claim before beta's tree steps wrote anything.
    assert f"belongs to da-flask stack {PROJECT}/alpha, not to {PROJECT}/beta" in refused.stdout
    assert env_file.read_bytes() == env_before
    assert not list(env_file.parent.parent.glob("releases/*/beta.txt"))
    assert unit_config(lab)["applications"] == before
    assert os.readlink(current) == live_release
    assert "alpha shop" in get(lab, "shop.example.com").text
    alpha.stack.destroy()


def test_a_stack_of_the_same_name_from_another_backend_is_refused(
        lab_factory: Any, deployment_factory: Any) -> None:
    # Two people, each with their own state backend and a stack called "prod".
    lab = lab_factory("own-twin", front="none")
    first = deployment_factory("prod", apps=("shop",))
    second = deployment_factory("prod", apps=("shop",))
    assert first.stack.state_dir != second.stack.state_dir
    deploy_app(first, lab, "shop", "first.example.com", "first shop")
    first.stack.up()
    deploy_app(second, lab, "shop", "second.example.com", "second shop")
    refused = second.stack.up(check=False)
    assert refused.returncode != 0
    assert f"marked as the stack {PROJECT}/prod" in refused.stdout
    assert "another deployment" in refused.stdout
    assert "first shop" in get(lab, "first.example.com").text
    assert not_routed(lab, "second.example.com")
    second.stack.destroy()
    assert "first shop" in get(lab, "first.example.com").text
    first.stack.destroy()


# --- DirectAdmin's and an admin's objects -----------------------------------------------------

DA_APP = {"type": "python", "path": "/tmp", "module": "nothing_here",
          "processes": {"max": 1, "spare": 0}}
RETURN_204 = [{"action": {"return": 204}}]


def foreign_objects(config: dict[str, Any]) -> dict[str, Any]:
    """What is not ours in a Unit config: everything not named daflask:... and not
    the shared dispatch route or its listener."""
    routes = config.get("routes") or {}
    return {
        "applications": {k: v for k, v in config["applications"].items()
                         if not k.startswith("daflask:")},
        "routes": {k: v for k, v in routes.items()
                   if not k.startswith("daflask:") and k != "da-flask-hosts"},
        "listeners": {k: v for k, v in config["listeners"].items()
                      if v.get("pass") != "routes/da-flask-hosts"},
    }


def test_directadmin_and_admin_objects_are_left_alone(lab_factory: Any,
                                                      deployment_factory: Any) -> None:
    lab = lab_factory("own-da", front="none")
    # DirectAdmin's app for example.com named "shop" (`DOMAIN_APP`), an admin's own
    # app and route that happen to be called "shop", on their own listener.
    unit_put(lab, "/config", {
        "applications": {"example.com_shop": DA_APP, "shop": DA_APP},
        "routes": {"shop": RETURN_204, "example.com": [
            {"action": {"pass": "applications/example.com_shop"}}]},
        "listeners": {"127.0.0.1:8090": {"pass": "routes/shop"},
                      "127.0.0.1:8091": {"pass": "routes/example.com"}}})
    before = foreign_objects(unit_config(lab))

    d = deployment_factory("da", apps=("shop",))
    deploy_app(d, lab, "shop", "example.com", "our shop")
    d.stack.up()
    assert "our shop" in get(lab, "example.com").text
    assert foreign_objects(unit_config(lab)) == before
    deploy_app(d, lab, "shop", "example.com", "our shop, updated")
    d.stack.up()
    assert "our shop, updated" in get(lab, "example.com").text
    assert foreign_objects(unit_config(lab)) == before
    d.stack.destroy()
    config = unit_config(lab)
    assert foreign_objects(config) == before
    assert not any(k.startswith("daflask:") for k in config["applications"])


def test_an_app_named_default_keeps_units_unnamed_route(lab_factory: Any,
                                                        deployment_factory: Any) -> None:
    lab = lab_factory("own-default", front="none")
    # Unit's initial shape: `routes` an array (one unnamed route), a listener on it.
    unit_put(lab, "/config", {"applications": {}, "routes": RETURN_204,
                              "listeners": {"*:8092": {"pass": "routes"}}})
    d = deployment_factory("dflt", apps=("default",))
    deploy_app(d, lab, "default", "default.example.com", "app called default")
    d.stack.up()

    assert "app called default" in get(lab, "default.example.com").text
    # The unnamed route became `default` and still answers as before.
    assert get(lab, "anything.example", port=8092).status_code == 204
    config = unit_config(lab)
    assert config["routes"]["default"] == RETURN_204
    assert config["listeners"]["*:8092"] == {"pass": "routes/default"}
    d.stack.destroy()
    assert get(lab, "anything.example", port=8092).status_code == 204
    assert unit_config(lab)["routes"] == {"default": RETURN_204}
