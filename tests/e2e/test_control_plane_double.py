"""The provider's control-plane half against the Unit control-API test double.

Runs on every machine (no real unitd needed): the same deploy, no-op and
destroy as tests/e2e/test_deploy.py, checked through the Unit config the
double holds. The double runs no Python, so the health check is off.
"""
from __future__ import annotations

import re
from typing import Any

import httpx
import pytest

from tests.e2e.conftest import app_config, host_config
from tests.e2e.test_ownership import unit_name

pytestmark = [pytest.mark.root, pytest.mark.engine]


def unit_config(lab: Any) -> dict[str, Any]:
    sock = lab.host_path(lab.unit_socket)
    with httpx.Client(transport=httpx.HTTPTransport(uds=str(sock)), base_url="http://unit") as c:
        return c.get("/config").json()


def test_deploy_noop_destroy_against_the_double(lab_factory: Any,
                                                deployment_factory: Any) -> None:
    lab = lab_factory("double", unit="double", front="none")
    assert lab.unit_kind == "double"
    d = deployment_factory("double")
    d.write_config({"lab": host_config(lab)},
                   [app_config("flask_app", "lab", "example.com", d.app_sources["flask_app"],
                               healthCheck=False, secretEnvironmentKeys=["SECRET_KEY"])])
    d.stack.set_config("appSecrets.flask_app.SECRET_KEY", d.secret_key, secret=True, path=True)
    d.stack.up()

    config = unit_config(lab)
    name = unit_name("double", "flask_app")
    app = config["applications"][name]
    assert app["type"] == "python 3.11" and app["user"] == lab.da_user
    assert app["path"].startswith(f"/home/{lab.da_user}/domains/example.com/public_html/"
                                  "flask_app/releases/")
    assert d.secret_key not in str(config)  # secrets go to .env only
    assert config["routes"][name][-1]["action"]["pass"] == f"applications/{name}"
    assert config["routes"]["da-flask-hosts"] == [
        {"match": {"host": ["example.com", "www.example.com"]},
         "action": {"pass": f"routes/{name}"}}]
    assert config["listeners"]["*:80"] == {"pass": "routes/da-flask-hosts"}

    noop = d.stack.up()
    assert re.search(r"\b9 unchanged\b", noop.stdout), noop.stdout[-1500:]

    d.stack.destroy()
    config = unit_config(lab)
    assert config["applications"] == {} and config["listeners"] == {}
    assert name not in config["routes"]
