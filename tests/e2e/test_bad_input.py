"""Bad input ends with a clear message naming the cause, before anything on
the host changes (issue 3, behaviour 9)."""
from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.e2e.conftest import Deployment, app_config, host_config

pytestmark = [pytest.mark.root, pytest.mark.engine]


@pytest.fixture(scope="module")
def lab(lab_factory: Any) -> Any:
    return lab_factory("e2e-bad", front="none")


@pytest.fixture(scope="module")
def d(deployment_factory: Any) -> Deployment:
    return deployment_factory("bad")


def unit_config(lab: Any) -> dict[str, Any]:
    sock = lab.host_path(lab.unit_socket)
    with httpx.Client(transport=httpx.HTTPTransport(uds=str(sock)), base_url="http://unit") as c:
        return c.get("/config").json()


def app_tree(lab: Any) -> list[str]:
    root = lab.host_path(f"/home/{lab.da_user}/domains")
    return sorted(str(p.relative_to(root)) for p in root.rglob("*"))


@pytest.mark.parametrize(("change", "field", "words"), [
    ({"bogus": 1}, "apps[0].bogus", "unknown field"),
    ({"domain": "exa mple..com"}, "apps[0].domain", "domain"),
    ({"name": "../etc"}, "apps[0].name", "not valid"),
    ({"name": "app;rm -rf /"}, "apps[0].name", "not valid"),
    ({"listener": "*:99999"}, "apps[0].listener", "listener"),
])
def test_invalid_app_config_fails_preview_naming_the_field(
        lab: Any, d: Deployment, change: dict[str, Any], field: str, words: str) -> None:
    before_config, before_tree = unit_config(lab), app_tree(lab)
    app = {**app_config("flask_app", "lab", "example.com", d.app_sources["flask_app"],
                        healthCheck=False), **change}
    d.write_config({"lab": host_config(lab)}, [app])
    result = d.stack.preview(check=False)
    assert result.returncode != 0
    out = result.stdout + result.stderr
    assert "the stack config is not valid" in out
    assert field in out and words in out, out[-3000:]
    assert unit_config(lab) == before_config and app_tree(lab) == before_tree


def test_wrong_host_key_is_rejected_before_anything_runs(lab: Any, d: Deployment) -> None:
    before_config, before_tree = unit_config(lab), app_tree(lab)
    host = host_config(lab)
    # A well-formed key that is not the lab's.
    host["hostKey"] = (f"{lab.address} ssh-ed25519 "
                       "AAAAC3NzaC1lZDI1NTE5AAAAIMRnBYLplMrfT2bXNKeOYmJs0qTBoVZXt+AYl3ElNB3D")
    d.write_config({"lab": host},
                   [app_config("flask_app", "lab", "example.com", d.app_sources["flask_app"],
                               healthCheck=False)])
    result = d.stack.up(check=False)
    out = result.stdout + result.stderr
    assert result.returncode != 0
    assert "host key MISMATCH" in out and lab.address in out
    assert unit_config(lab) == before_config and app_tree(lab) == before_tree


def test_unreachable_host_names_address_and_port(lab: Any, d: Deployment) -> None:
    # Nothing listens on port 2; a bare key line pins the key for any port.
    host = {**host_config(lab), "port": 2, "hostKey": lab.host_public_key}
    d.write_config({"lab": host},
                   [app_config("flask_app", "lab", "example.com", d.app_sources["flask_app"],
                               healthCheck=False)])
    result = d.stack.up(check=False)
    out = result.stdout + result.stderr
    assert result.returncode != 0
    assert f"cannot connect to {lab.address}:2" in out


@pytest.mark.real_unitd
def test_unit_refusing_the_app_shows_its_error_and_unit_log(lab: Any, d: Deployment) -> None:
    src = d.app_sources["flask_app"]
    wsgi = src / "wsgi.py"
    original = wsgi.read_text()
    wsgi.write_text("import module_that_is_not_installed_anywhere\n" + original)
    try:
        d.write_config({"lab": host_config(lab)},
                       [app_config("flask_app", "lab", "example.com", src, healthCheck=False)])
        result = d.stack.up(check=False)
    finally:
        wsgi.write_text(original)
    out = result.stdout + result.stderr
    assert result.returncode != 0
    assert "Failed to apply new configuration." in out, out[-4000:]  # Unit's error body
    # The log's reason:
    assert "unit.log" in out and "module_that_is_not_installed_anywhere" in out, out[-4000:]
    assert not [k for k in unit_config(lab)["applications"] if k.endswith("flask_app")]
