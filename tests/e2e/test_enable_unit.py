"""A host without Unit: with enableUnit the deploy enables it through
DirectAdmin's CustomBuild (`build set unit yes`, `build unit`) first."""
from __future__ import annotations

from typing import Any

import pytest

from tests.e2e.conftest import app_config, host_config

pytestmark = [pytest.mark.root, pytest.mark.engine]


def test_enable_unit_through_custombuild(lab_factory: Any, deployment_factory: Any) -> None:
    lab = lab_factory("nounit", unit="absent", front="none")
    d = deployment_factory("nounit")
    app = app_config("flask_app", "lab", "example.com", d.app_sources["flask_app"],
                     healthCheck=False, environment={"FLASK_CONFIG": "development"})

    d.write_config({"lab": host_config(lab)}, [app])
    refused = d.stack.up(check=False)
    assert refused.returncode != 0
    assert "control socket /var/run/unit/control.sock unavailable" in refused.stdout

    d.write_config({"lab": {**host_config(lab), "enableUnit": True}}, [app])
    d.stack.up()
    calls = lab.host_path("/usr/local/directadmin/custombuild/calls.log").read_text()
    assert "set unit yes" in calls and calls.strip().splitlines()[-1].endswith("unit")
    host = d.stack.outputs()["hosts"]["lab"]
    assert host["unitVersion"] and host["pythonModules"]
    assert lab.host_path(lab.unit_socket).exists()
