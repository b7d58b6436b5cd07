"""`python -m daunit.doctor` (issue 13, part D) against lab hosts that are DirectAdmin servers
with nginx or Apache in front of a real unitd, and against a plain lab: one line per
assumption, one SSH connection per host, nothing changed."""
from __future__ import annotations

import json
import ssl
import subprocess
import sys
from typing import Any

import httpx
import pytest

from tests.e2e.conftest import Deployment, app_config, host_config
from tests.support.engine import REPO

pytestmark = [pytest.mark.root, pytest.mark.engine, pytest.mark.real_unitd]

APP = "flask_app"


def doctor(d: Deployment, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in d.stack.env().items() if not k.startswith("DAFLASK_DA_")}
    full = {**base, "DAFLASK_PULUMI": str(REPO / "scripts" / "pulumi"), **(env or {})}
    return subprocess.run([sys.executable, "-m", "daunit.doctor", "--stack", d.stack.name,
                           "--cwd", str(d.project), *args],
                          cwd=REPO, env=full, capture_output=True, text=True, timeout=180)


def checks(proc: subprocess.CompletedProcess[str], host: str = "lab") -> dict[str, list[dict[str, Any]]]:
    assert proc.stdout.startswith("{"), proc.stderr
    report = json.loads(proc.stdout)["hosts"][host]
    assert report["error"] is None, report["error"]
    by_name: dict[str, list[dict[str, Any]]] = {}
    for check in report["checks"]:
        by_name.setdefault(check["name"], []).append(check)
    return by_name


def one(found: dict[str, list[dict[str, Any]]], name: str) -> dict[str, Any]:
    assert len(found[name]) == 1, found[name]
    return found[name][0]


def api_env(lab: Any, key: str) -> dict[str, str]:
    return {"DAFLASK_DA_URL": lab.da_api_url, "DAFLASK_DA_LOGIN": f"{lab.da_user}:{key}",
            "DAFLASK_DA_CA": lab.ca_cert_path}


def store_app_with_directadmin(lab: Any) -> None:
    """An app created through CMD_UNIT, so DirectAdmin's storage for the domain exists."""
    context = ssl.create_default_context(cafile=lab.ca_cert_path)
    app = {"type": "python 3.11", "path": f"/home/{lab.da_user}/domains/{lab.domain}/public_html",
           "module": "wsgi", "processes": {"max": 1, "spare": 0}}
    with httpx.Client(verify=context, timeout=30, auth=(lab.da_user, lab.da_login_key(lab.da_user))) as c:
        answer = c.post(f"{lab.da_api_url}/CMD_API_UNIT",
                        data={"domain": lab.domain, "action": "create", "name": "panel_app",
                              "json": json.dumps(app)})
    assert answer.status_code == 200, answer.text


# -- DirectAdmin servers: nginx or Apache in front ------------------------------------------

@pytest.fixture(scope="module", params=["nginx", "apache"])
def front_lab(request: pytest.FixtureRequest, lab_factory: Any) -> Any:
    lab = lab_factory(f"doctor-{request.param}", front=request.param)
    store_app_with_directadmin(lab)
    return lab


@pytest.fixture(scope="module")
def front_stack(front_lab: Any, deployment_factory: Any) -> Deployment:
    d = deployment_factory(f"doctor-{front_lab.front}")
    # Behind the front server the app's listener is Unit's loopback port (unit_port).
    d.write_config({"lab": host_config(front_lab)},
                   [app_config(APP, "lab", front_lab.domain, d.app_sources[APP],
                               listener=f"127.0.0.1:{front_lab.unit_port}")])
    return d


def test_a_directadmin_server_passes_with_one_connection(front_lab: Any, front_stack: Deployment) -> None:
    before = front_stack.stack.export()
    connections = front_lab.ssh_connections_accepted()
    key = front_lab.da_login_key(front_lab.da_user)
    proc = doctor(front_stack, "--json", env=api_env(front_lab, key))
    assert front_lab.ssh_connections_accepted() - connections == 1
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert key not in proc.stdout + proc.stderr
    found = checks(proc)
    assert one(found, "webserver")["status"] == "OK"
    assert one(found, "webserver")["detail"].startswith(f"{front_lab.front} ")
    assert one(found, "directadmin")["status"] == "OK"
    assert "/usr/local/directadmin/directadmin" in one(found, "directadmin")["detail"]
    assert one(found, "unit-enabled")["status"] == "OK"
    assert one(found, "unit-port")["status"] == "OK"
    assert f"unit_port={front_lab.unit_port} " in one(found, "unit-port")["detail"]
    assert one(found, "unit-socket")["status"] == "OK"
    assert front_lab.unit_socket in one(found, "unit-socket")["detail"]
    assert one(found, "unit")["status"] == "OK" and "Unit 1." in one(found, "unit")["detail"]
    assert one(found, "python")["status"] == "OK" and "python 3.11" in one(found, "python")["detail"]
    assert one(found, "da-user")["status"] == one(found, "unit-feature")["status"] == "OK"
    assert one(found, "domain")["status"] == one(found, "domain-dir")["status"] == "OK"
    storage = one(found, "unit-storage")
    assert storage["status"] == "OK" and "panel_app" in storage["detail"]
    port = one(found, "port")
    assert port["status"] == "OK" and port["subject"] == f"127.0.0.1:{front_lab.unit_port}"
    assert "unitd" in port["detail"]  # DirectAdmin's re-fill put Unit's listener on unit_port
    api = one(found, "da-api")
    assert api["status"] == "OK" and front_lab.domain in api["detail"]
    assert front_stack.stack.export() == before  # read-only: no state touched


def test_a_wrong_login_key_fails_the_api_line(front_lab: Any, front_stack: Deployment) -> None:
    wrong = "0" * 64
    proc = doctor(front_stack, env=api_env(front_lab, wrong))
    assert proc.returncode == 1, proc.stdout + proc.stderr
    line = next(line for line in proc.stdout.splitlines() if " da-api " in line)
    assert line.startswith("lab  FAIL  da-api") and "refused (HTTP 401)" in line and "->" in line
    assert wrong not in proc.stdout + proc.stderr
    failing = [line for line in proc.stdout.splitlines() if "  FAIL  " in line]
    assert failing == [line]  # everything else still passes


def test_the_admin_acting_as_the_user_is_accepted(front_lab: Any, front_stack: Deployment) -> None:
    admin_key = front_lab.da_login_key("admin")
    env = {**api_env(front_lab, admin_key), "DAFLASK_DA_LOGIN": f"admin|{front_lab.da_user}:{admin_key}"}
    proc = doctor(front_stack, "--json", env=env)
    api = one(checks(proc), "da-api")
    assert api["status"] == "OK" and f"admin|{front_lab.da_user}" in api["detail"]
    assert proc.returncode == 0 and admin_key not in proc.stdout + proc.stderr


def test_the_api_without_the_lab_ca_fails_on_tls(front_lab: Any, front_stack: Deployment) -> None:
    env = api_env(front_lab, front_lab.da_login_key(front_lab.da_user))
    del env["DAFLASK_DA_CA"]
    proc = doctor(front_stack, "--json", env=env)
    api = one(checks(proc), "da-api")
    assert proc.returncode == 1 and api["status"] == "FAIL" and "DAFLASK_DA_CA" in api["fix"]


def test_as_the_directadmin_user_what_root_keeps_is_not_checked(front_lab: Any,
                                                                 deployment_factory: Any) -> None:
    d = deployment_factory(f"doctor-user-{front_lab.front}")
    d.write_config({"lab": {**host_config(front_lab), "sshUser": front_lab.da_user}},
                   [app_config(APP, "lab", front_lab.domain, d.app_sources[APP],
                               listener=f"127.0.0.1:{front_lab.unit_port}")])
    connections = front_lab.ssh_connections_accepted()
    proc = doctor(d, "--json")
    assert front_lab.ssh_connections_accepted() - connections == 1
    found = checks(proc)
    # DirectAdmin's domains.list and user.conf are root's (600): not read, so not judged.
    for name in ("domain", "unit-feature"):
        check = one(found, name)
        assert check["status"] == "WARN" and check["detail"].startswith("not checked: "), check
    assert one(found, "da-user")["status"] == one(found, "domain-dir")["status"] == "OK"
    assert one(found, "webserver")["status"] == "OK"  # options.conf is world-readable
    assert one(found, "unit")["status"] == "WARN" and "root's" in one(found, "unit")["detail"]
    assert proc.returncode == 0, proc.stdout  # nothing it could see is wrong


# -- a server without a front web server (today's default lab) -----------------------------

@pytest.fixture(scope="module")
def plain_lab(lab_factory: Any) -> Any:
    return lab_factory("doctor-plain", front="none")


def test_what_a_plain_server_lacks_is_a_warning_with_what_to_do(plain_lab: Any,
                                                                 deployment_factory: Any) -> None:
    d = deployment_factory("doctor-plain")
    d.write_config({"lab": host_config(plain_lab)},
                   [app_config(APP, "lab", plain_lab.domain, d.app_sources[APP])])
    connections = plain_lab.ssh_connections_accepted()
    proc = doctor(d, "--json")
    assert plain_lab.ssh_connections_accepted() - connections == 1
    assert proc.returncode == 0, proc.stdout + proc.stderr
    found = checks(proc)
    for name in ("webserver", "unit-storage", "da-api"):
        check = one(found, name)
        assert check["status"] == "WARN" and check["fix"], check
    assert "no webserver=" in one(found, "webserver")["detail"]
    assert "not checked" in one(found, "da-api")["detail"]
    assert ".unit is absent" in one(found, "unit-storage")["detail"]
    assert one(found, "unit-socket")["status"] == one(found, "da-user")["status"] == "OK"
    ports = {c["subject"]: c for c in found["port"]}
    assert ports[f"127.0.0.1:{plain_lab.unit_port}"]["status"] == "WARN"  # unit_port: nobody listens
    assert ports["*:80"]["status"] == "OK"


def test_a_domain_of_another_user_fails_naming_it(plain_lab: Any, deployment_factory: Any) -> None:
    d = deployment_factory("doctor-domain")
    d.write_config({"lab": host_config(plain_lab)},
                   [app_config(APP, "lab", "not-theirs.example.org", d.app_sources[APP])])
    proc = doctor(d)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    failing = [line for line in proc.stdout.splitlines() if "  FAIL  " in line]
    assert any(" domain " in line and "not-theirs.example.org is not in username's domains.list" in line
               for line in failing), proc.stdout
    assert any(" domain-dir " in line and "/home/username/domains/not-theirs.example.org does not exist"
               in line for line in failing), proc.stdout


def test_a_unit_socket_other_than_unitds_fails_with_the_field_to_set(plain_lab: Any,
                                                                     deployment_factory: Any) -> None:
    d = deployment_factory("doctor-socket")
    d.write_config({"lab": {**host_config(plain_lab), "unitSocket": "/run/unit/elsewhere.sock"}},
                   [app_config(APP, "lab", plain_lab.domain, d.app_sources[APP])])
    proc = doctor(d, "--json")
    assert proc.returncode == 1
    found = checks(proc)
    socket = one(found, "unit-socket")
    assert socket["status"] == "FAIL"
    assert socket["fix"] == f"set hosts.lab.unitSocket: {plain_lab.unit_socket}"
    # Unit is still asked, on the socket unitd really uses.
    assert one(found, "unit")["status"] == "OK" and plain_lab.unit_socket in one(found, "unit")["detail"]


def test_a_stack_that_cannot_be_read_exits_2(plain_lab: Any, deployment_factory: Any) -> None:
    d = deployment_factory("doctor-nostack")
    proc = doctor(d, "--stack", "nosuchstack")
    assert proc.returncode == 2
    assert proc.stderr.startswith("doctor: ") and "Traceback" not in proc.stderr
