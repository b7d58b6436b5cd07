"""User mode (`access: user`, issue 13 part C) on a lab that is a DirectAdmin server with
nginx in front of a real unitd: no root credential anywhere in the deploy. Files go over
SSH as the DirectAdmin user, Unit's app and route only through CMD_UNIT (the lab's API
stand-in on 2222, TLS from the lab CA, the user's login key as a Pulumi secret)."""
from __future__ import annotations

import os
import shutil
import ssl
import subprocess
from pathlib import Path
from typing import Any

import httpx
import paramiko
import pytest
import yaml

from tests.e2e.conftest import Deployment, app_config, broken_release
from tests.support.load import RequestLoop

pytestmark = [pytest.mark.root, pytest.mark.engine, pytest.mark.real_unitd]
APP = "flask_app"


@pytest.fixture(scope="module")
def lab(lab_factory: Any) -> Any:
    return lab_factory("usermode", front="nginx")


@pytest.fixture(scope="module")
def user_key(lab: Any, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The only SSH credential the deploy gets: the DirectAdmin user's own key, copied
    out of the lab's files (root's key stays where the lab keeps it)."""
    key = tmp_path_factory.mktemp("userkey") / "id_ed25519"
    shutil.copyfile(lab.user_key_path, key)
    os.chmod(key, 0o600)
    return key


def user_host(lab: Any, key: Path, **extra: Any) -> dict[str, Any]:
    return {"address": lab.address, "port": lab.port, "hostKey": lab.host_key_line,
            "keyFile": str(key), "daUser": lab.da_user, "access": "user",
            "directadmin": {"url": lab.da_api_url, "user": lab.da_user, "caFile": lab.ca_cert_path},
            **extra}


def configure(d: Deployment, lab: Any, key: Path, greeting: str, host_extra: dict[str, Any] | None = None,
              **app_extra: Any) -> None:
    host = user_host(lab, key, **(host_extra or {}))
    path = d.project / "stacks" / f"Pulumi.{d.stack.name}.yaml"
    if path.exists():  # keep the login key, set (encrypted) with `pulumi config set --secret`
        hosts = (yaml.safe_load(path.read_text()).get("config") or {}).get("da-flask:hosts") or {}
        secure = ((hosts.get("lab") or {}).get("directadmin") or {}).get("loginKey")
        if secure is not None:
            host["directadmin"]["loginKey"] = secure
    d.write_config({"lab": host},
                   [app_config(APP, "lab", lab.domain, d.app_sources[APP],
                               secretEnvironmentKeys=["SECRET_KEY"],
                               environment={"FLASK_CONFIG": "production", "GREETING": greeting},
                               **app_extra)])


@pytest.fixture(scope="module")
def d(lab: Any, user_key: Path, deployment_factory: Any) -> Deployment:
    d = deployment_factory("usermode")
    configure(d, lab, user_key, greeting="first greeting")
    d.stack.set_config("appSecrets.flask_app.SECRET_KEY", d.secret_key, secret=True, path=True)
    d.stack.set_config("hosts.lab.directadmin.loginKey", lab.da_login_key(lab.da_user), secret=True,
                       path=True)
    # No ssh-agent and no key override: the stack's key file is all there is.
    os.environ.pop("SSH_AUTH_SOCK", None)
    os.environ.pop("DAFLASK_SSH_KEY_FILE", None)
    d.stack.up()
    return d


def cmd_unit(lab: Any) -> dict[str, Any]:
    context = ssl.create_default_context(cafile=lab.ca_cert_path)
    with httpx.Client(verify=context, timeout=30,
                      auth=(lab.da_user, lab.da_login_key(lab.da_user))) as client:
        answer = client.get(f"{lab.da_api_url}/CMD_API_UNIT", params={"domain": lab.domain, "json": "yes"})
    assert answer.status_code == 200, answer.text
    return dict(answer.json())


def through_nginx(lab: Any, path: str = "/") -> httpx.Response:
    return httpx.get(f"http://{lab.address}{path}", headers={"Host": lab.domain}, timeout=10)


def test_no_root_credential_in_the_stack(lab: Any, user_key: Path, d: Deployment) -> None:
    config = yaml.safe_load((d.project / "stacks" / f"Pulumi.{d.stack.name}.yaml").read_text())
    host = config["config"]["da-flask:hosts"]["lab"]
    assert "sshUser" not in host and host["keyFile"] == str(user_key)  # sshUser defaults to daUser
    assert str(lab.client_key_path) not in d.stack.state_text()
    state = d.stack.export()  # what the deploy used: every SSH login is the user's
    users = [r["inputs"]["connection"]["user"] for r in state["deployment"]["resources"]
             if "connection" in (r.get("inputs") or {})]
    assert len(users) >= 5 and set(users) == {lab.da_user}
    # The deploys' lock is the user's own, in their home; root's /run/daunit is never made.
    lock = lab.host_path(f"/home/{lab.da_user}/.daflask")
    assert lock.is_dir() and lock.stat().st_uid == lab.da_uid and lock.stat().st_mode & 0o777 == 0o700
    assert (lock / "unit.lock").exists() and not lab.host_path("/run/daunit").exists()
    # The key the stack holds is the user's only: root does not accept it.
    client = paramiko.SSHClient()
    client.load_host_keys(lab.known_hosts_path)  # the lab's pinned key; any other is refused
    client.set_missing_host_key_policy(paramiko.RejectPolicy())
    with pytest.raises(paramiko.AuthenticationException):
        client.connect(lab.address, lab.port, username="root", key_filename=str(user_key),
                       allow_agent=False, look_for_keys=False, timeout=10)
    client.close()


def test_cmd_unit_lists_the_app_and_nginx_serves_it(lab: Any, d: Deployment) -> None:
    listing = cmd_unit(lab)
    app = listing["applications"][APP]
    assert app["user"] == lab.da_user and app["environment"]["DAFLASK_OWNER"] == "da-flask/usermode"
    assert listing["routes"][lab.domain]["/"][-1]["action"]["pass"] == f"applications/{lab.domain}_{APP}"
    page = through_nginx(lab)
    assert page.status_code == 200 and "first greeting" in page.text
    assert page.headers.get("server", "").startswith("nginx")
    # Static files: Unit's share (from `current`), behind nginx too.
    css = through_nginx(lab, "/static/style.css")
    assert css.status_code == 200 and css.content == (d.app_sources[APP] / "app/static/style.css").read_bytes()
    # The files are the user's, in the user's tree; nothing of the deploy is root's.
    app_dir = lab.host_path(f"/home/{lab.da_user}/domains/{lab.domain}/public_html/{APP}")
    owners = {p.lstat().st_uid for p in [app_dir, *app_dir.rglob("*")] if "venvs" not in p.parts}
    assert owners == {lab.da_uid}


def api_requests(lab: Any) -> int:
    """Requests the lab's DirectAdmin API has answered (its log: one line each)."""
    return len((Path(lab.state_dir) / "directadmin-api.log").read_text().splitlines())


def test_a_no_op_makes_no_connection(lab: Any, d: Deployment) -> None:
    accepted, asked = lab.ssh_connections_accepted(), api_requests(lab)
    cmd_unit(lab)
    assert api_requests(lab) == asked + 1  # the count sees a request
    run = d.stack.preview("--diff", "--expect-no-changes")
    assert run.returncode == 0
    d.stack.up("--expect-no-changes")
    assert lab.ssh_connections_accepted() == accepted
    assert api_requests(lab) == asked + 1


def test_update_of_one_file_has_no_failed_request(lab: Any, user_key: Path, d: Deployment) -> None:
    template = d.app_sources[APP] / "app" / "templates" / "about.html"
    client = httpx.Client(base_url=f"http://{lab.address}", headers={"Host": lab.domain}, timeout=10)
    original = template.read_text()
    with RequestLoop([lambda: client.get("/healthz"), lambda: client.get("/static/style.css")],
                     cleanup=client.close) as load:
        # Three one-file updates in a row, each a new release switched through CMD_UNIT.
        for n in (1, 2, 3):
            template.write_text(original.replace("A Flask app", f"A user-mode Flask app (change {n})"))
            preview = d.stack.preview("--diff")
            d.stack.up()
    total = sum(load.results.values())
    print(f"user mode: requests during three one-file updates: {dict(load.results)}, "
          f"failed: {len(load.failures)}")
    assert "app/templates/about.html" in preview.stdout
    assert total > 20, load.results
    assert load.failures == [], load.failures[:5]
    assert "A user-mode Flask app (change 3)" in through_nginx(lab, "/about").text


def test_failed_health_check_puts_the_previous_application_back(lab: Any, d: Deployment) -> None:
    before = cmd_unit(lab)["applications"][APP]
    with broken_release(d.app_sources[APP]):  # answers 500 on its health path
        result = d.stack.up(check=False)
    out = result.stdout + result.stderr
    assert result.returncode != 0
    assert f"health check http://{lab.domain}/" in out and "got HTTP 500" in out, out[-3000:]
    assert cmd_unit(lab)["applications"][APP] == before
    assert through_nginx(lab).status_code == 200
    app_dir = lab.host_path(f"/home/{lab.da_user}/domains/{lab.domain}/public_html/{APP}")
    assert (app_dir / "current").resolve().name in before["path"]
    d.stack.up()  # converges back onto the good source


def test_refresh_sees_an_app_deleted_through_the_api(lab: Any, d: Deployment) -> None:
    context = ssl.create_default_context(cafile=lab.ca_cert_path)
    with httpx.Client(verify=context, timeout=30,
                      auth=(lab.da_user, lab.da_login_key(lab.da_user))) as client:
        for data in ({"action": "set_route", "location": "/"}, {"delete": "yes", "select0": APP}):
            answer = client.post(f"{lab.da_api_url}/CMD_API_UNIT", data={"domain": lab.domain, **data})
            assert answer.status_code == 200, answer.text
    assert APP not in cmd_unit(lab)["applications"]
    refreshed = d.stack.preview("--refresh", "--diff", check=False)
    assert "unit-app" in refreshed.stdout and "create" in refreshed.stdout, refreshed.stdout
    d.stack.up("--refresh")
    assert APP in cmd_unit(lab)["applications"]
    assert through_nginx(lab).status_code == 200


@pytest.mark.parametrize(("host_extra", "app_extra", "field"), [
    ({}, {"isolation": True}, "apps[0].isolation"),
    ({"unitSocket": "/run/unit/control.sock"}, {}, "hosts.lab.unitSocket"),
    ({}, {"tls": {"source": "directadmin"}}, "apps[0].tls"),
    ({}, {"listener": "*:8080"}, "apps[0].listener"),
    ({"sshUser": "root"}, {}, "hosts.lab.sshUser"),
])
def test_root_only_options_are_refused_at_preview(lab: Any, user_key: Path, d: Deployment,
                                                  host_extra: dict[str, Any], app_extra: dict[str, Any],
                                                  field: str) -> None:
    accepted = lab.ssh_connections_accepted()
    configure(d, lab, user_key, greeting="first greeting", host_extra=host_extra, **app_extra)
    try:
        run = d.stack.preview(check=False)
    finally:
        configure(d, lab, user_key, greeting="first greeting")
    said = run.stdout + run.stderr
    assert run.returncode != 0
    assert f"{field}: " in said and ("needs root" in said or "never root" in said), said
    assert lab.ssh_connections_accepted() == accepted


def test_a_login_key_in_plain_text_is_refused(lab: Any, user_key: Path, d: Deployment) -> None:
    key = lab.da_login_key(lab.da_user)
    host = user_host(lab, user_key)
    host["directadmin"]["loginKey"] = key
    path = d.project / "stacks" / f"Pulumi.{d.stack.name}.yaml"
    original = path.read_text()  # the key set as a secret: put back unchanged afterwards
    d.write_config({"lab": host}, [app_config(APP, "lab", lab.domain, d.app_sources[APP],
                                              secretEnvironmentKeys=["SECRET_KEY"])])
    try:
        run = d.stack.preview(check=False)
    finally:
        path.write_text(original)
    said = run.stdout + run.stderr
    assert run.returncode != 0
    assert "hosts.lab.directadmin.loginKey is in plain text" in said and "--secret" in said, said[-2000:]
    assert key not in said


def test_login_key_is_not_in_plaintext_in_state(lab: Any, d: Deployment) -> None:
    key = lab.da_login_key(lab.da_user)
    state_dir = Path(d.stack.state_dir)
    files = [p for p in state_dir.rglob("*") if p.is_file()]
    assert any(p.suffix == ".json" for p in files)
    for path in files:
        data = path.read_bytes()
        if path.suffix == ".gz":
            data = subprocess.run(["gzip", "-dc", str(path)], capture_output=True).stdout
        assert key.encode() not in data, path
    config = (d.project / "stacks" / f"Pulumi.{d.stack.name}.yaml").read_text()
    assert key not in config and "secure:" in config


def test_destroy_removes_app_route_and_files(lab: Any, d: Deployment) -> None:
    d.stack.destroy()
    listing = cmd_unit(lab)
    assert APP not in listing["applications"]
    assert "/" not in (listing["routes"].get(lab.domain) or {})
    app_dir = lab.host_path(f"/home/{lab.da_user}/domains/{lab.domain}/public_html/{APP}")
    assert not (app_dir / "releases").exists() and not (app_dir / "current").exists()


def test_api_errors_name_the_field_and_never_the_key(lab: Any) -> None:
    from daunit.da_api import ApiSettings, DirectAdminAPI, DirectAdminAPIError
    from daunit.errors import ConfigError

    key = lab.da_login_key(lab.da_user)
    wrong = "wrong-login-key-0123456789"
    with pytest.raises(ConfigError) as refused:
        DirectAdminAPI(ApiSettings(lab.da_api_url, lab.da_user, wrong, lab.ca_cert_path)).listing(lab.domain)
    assert "directadmin.user" in str(refused.value) and "directadmin.loginKey" in str(refused.value)
    assert wrong not in str(refused.value)
    # The lab's CA is in no system store: without caFile the certificate is not trusted.
    with pytest.raises(ConfigError) as untrusted:
        DirectAdminAPI(ApiSettings(lab.da_api_url, lab.da_user, key, None)).listing(lab.domain)
    assert "directadmin.caFile" in str(untrusted.value) and key not in str(untrusted.value)
    api = DirectAdminAPI(ApiSettings(lab.da_api_url, lab.da_user, key, lab.ca_cert_path))
    with pytest.raises(DirectAdminAPIError) as foreign:
        api.listing("not-theirs.example")
    assert "not-theirs.example" in str(foreign.value) and key not in str(foreign.value)
