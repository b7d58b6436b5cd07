"""Two apps on two domains on one host, and one app on each of two hosts, in
one stack (issue 3, behaviour 8)."""
from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.e2e.conftest import app_config, host_config

pytestmark = [pytest.mark.root, pytest.mark.engine, pytest.mark.real_unitd]


def get(address: str, host: str) -> httpx.Response:
    return httpx.get(f"http://{address}/", headers={"Host": host}, timeout=10)


def test_two_domains_on_one_host_and_a_second_host(lab_factory: Any,
                                                    deployment_factory: Any) -> None:
    one, two = lab_factory("multi-a", front="none"), lab_factory("multi-b", front="none")
    d = deployment_factory("multi", apps=("shop", "blog", "docs"))
    apps = [
        app_config("shop", "one", "shop.example.com", d.app_sources["shop"],
                   environment={"FLASK_CONFIG": "production", "GREETING": "shop here"}),
        app_config("blog", "one", "blog.example.com", d.app_sources["blog"],
                   environment={"FLASK_CONFIG": "production", "GREETING": "blog here"}),
        app_config("docs", "two", "docs.example.com", d.app_sources["docs"],
                   environment={"FLASK_CONFIG": "production", "GREETING": "docs here"}),
    ]
    secrets = {"shop": "k1", "blog": "k2", "docs": "k3"}
    for app in apps:
        app["secretEnvironmentKeys"] = ["SECRET_KEY"]
        d.stack.set_config(f"appSecrets.{app['name']}.SECRET_KEY",
                           f"secret-{secrets[app['name']]}-0123456789", secret=True, path=True)
    d.write_config({"one": host_config(one), "two": host_config(two)}, apps)
    d.stack.up("--parallel", "8")

    assert "shop here" in get(one.address, "shop.example.com").text
    assert "blog here" in get(one.address, "blog.example.com").text
    assert "docs here" in get(two.address, "docs.example.com").text
    # Each host answers only for its own domains.
    assert get(two.address, "shop.example.com").status_code == 404
    assert get(one.address, "docs.example.com").status_code == 404

    # Removing one app leaves its neighbour serving.
    d.write_config({"one": host_config(one), "two": host_config(two)},
                   [a for a in apps if a["name"] != "blog"])
    d.stack.up()
    assert get(one.address, "blog.example.com").status_code == 404
    assert "shop here" in get(one.address, "shop.example.com").text
    d.stack.destroy()
    # The last app gone, its listener went too: nothing answers on port 80.
    with pytest.raises(httpx.ConnectError):
        get(one.address, "shop.example.com")
