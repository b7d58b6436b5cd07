"""Issue 9 (Trust), input, under the real engine on a lab host.

Ordinary config that main refused at `up` deploys (an environment value "1",
a SERVER_NAME, a secret "1"). Then config a hostile or careless user writes is
refused by `pulumi preview` and `pulumi up` with the field named, before any
SSH connection: the lab's sshd accepts none, the app already deployed keeps
serving, and no key or token material shows in the output or the state.
"""
from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.e2e.conftest import Deployment, app_config, host_config

pytestmark = [pytest.mark.root, pytest.mark.engine, pytest.mark.real_unitd]

APP = "flask_app"
DOMAIN = "example.com"
TOKEN = "ghp_e2eTokenValue4711"


@pytest.fixture(scope="module")
def lab(lab_factory: Any) -> Any:
    return lab_factory("e2e-hostile", front="none")


@pytest.fixture(scope="module")
def d(deployment_factory: Any) -> Deployment:
    return deployment_factory("hostile")


def good_app(d: Deployment, **extra: Any) -> dict[str, Any]:
    app = app_config(APP, "lab", DOMAIN, d.app_sources[APP], secretEnvironmentKeys=["SECRET_KEY"])
    app["environment"] = {**app["environment"], "FLASK_DEBUG": "1", "SERVER_NAME": "shop.example.org"}
    return {**app, **extra}


def env_file(lab: Any) -> Path:
    return lab.host_path(f"/home/{lab.da_user}/domains/{DOMAIN}/public_html/{APP}/instance/.env")


def page(lab: Any) -> httpx.Response:
    return httpx.get(f"http://{lab.address}/", headers={"Host": DOMAIN}, timeout=10)


def test_1_ordinary_values_and_a_one_character_secret_deploy(lab: Any, d: Deployment) -> None:
    d.write_config({"lab": host_config(lab)}, [good_app(d)])
    d.stack.set_config(f"appSecrets.{APP}.SECRET_KEY", "1", secret=True, path=True)
    d.stack.up()
    env = env_file(lab).read_text()
    assert 'FLASK_DEBUG="1"' in env and 'SERVER_NAME="shop.example.org"' in env
    assert 'SECRET_KEY="1"' in env
    response = page(lab)
    assert response.status_code == 200 and "first greeting" in response.text


def private_key_lines(lab: Any) -> list[str]:
    return [line for line in Path(lab.client_key_path).read_text().splitlines()
            if line and not line.startswith("-----")]


def copy_source(d: Deployment, tmp_path: Path, change: Callable[[Path], None]) -> str:
    src = tmp_path / "src"
    shutil.copytree(d.app_sources[APP], src, symlinks=True)
    change(src)
    return str(src)


def with_token(src: Path) -> None:
    path = src / "requirements.txt"
    path.write_text(path.read_text() + f"--extra-index-url https://deploy:{TOKEN}@pypi.example.org/simple\n")


# (id, hosts + apps from (lab, d, tmp_path), the field path, words of its message)
Config = Callable[[Any, Deployment, Path], tuple[dict[str, Any], list[dict[str, Any]]]]
REFUSED: list[tuple[str, Config, str, str]] = [
    ("app-dir-outside-site-tree",
     lambda lab, d, t: ({"lab": host_config(lab)}, [good_app(d, appDir="/etc")]),
     "apps[0].appDir", "outside daUser"),
    ("da-user-root",
     lambda lab, d, t: ({"lab": {**host_config(lab), "daUser": "root"}}, [good_app(d)]),
     "hosts.lab.daUser", "system account"),
    ("host-key-file-is-a-private-key",
     lambda lab, d, t: ({"lab": {**{k: v for k, v in host_config(lab).items() if k != "hostKey"},
                                 "hostKeyFile": lab.client_key_path}}, [good_app(d)]),
     "hosts.lab.hostKeyFile", "is a private key"),
    ("token-in-requirements",
     lambda lab, d, t: ({"lab": host_config(lab)}, [good_app(d, source=copy_source(d, t, with_token))]),
     "apps[0].requirements", "has credentials in a URL"),
    ("newline-in-app-name",
     lambda lab, d, t: ({"lab": host_config(lab)}, [good_app(d, name="flask_app\n")]),
     "apps[0].name", "not valid"),
    ("static-url-against-default-dir",
     lambda lab, d, t: ({"lab": host_config(lab)}, [good_app(d, staticUrl="/assets/")]),
     "apps[0].staticUrl", "default staticDir"),
    ("symlink-in-source",
     lambda lab, d, t: ({"lab": host_config(lab)}, [good_app(d, source=copy_source(
         d, t, lambda src: (src / "app" / "passwd.txt").symlink_to("/etc/passwd")))]),
     "apps[0].source", "is a symlink"),
    ("missing-host-key-file",
     lambda lab, d, t: ({"lab": {**{k: v for k, v in host_config(lab).items() if k != "hostKey"},
                                 "hostKeyFile": str(t / "no_such_known_hosts")}}, [good_app(d)]),
     "hosts.lab.hostKeyFile", "cannot be read on this machine"),
    ("newline-in-python-version",
     lambda lab, d, t: ({"lab": host_config(lab)}, [good_app(d, pythonVersion="3.11\n")]),
     "apps[0].pythonVersion", "like 3.11"),
    ("undeclared-secret",
     lambda lab, d, t: ({"lab": host_config(lab)}, [good_app(d, secretEnvironmentKeys=[])]),
     "appSecrets.flask_app.SECRET_KEY", "not listed in apps[0].secretEnvironmentKeys"),
]


@pytest.mark.parametrize(("config", "path", "words"), [c[1:] for c in REFUSED], ids=[c[0] for c in REFUSED])
def test_2_refused_at_preview_with_no_ssh_connection(lab: Any, d: Deployment, tmp_path: Path,
                                                     config: Config, path: str, words: str) -> None:
    hosts, apps = config(lab, d, tmp_path)
    d.write_config(hosts, apps)
    connections = lab.ssh_connections_accepted()
    env_before = env_file(lab).read_bytes()
    hidden = [TOKEN, *private_key_lines(lab)]
    for run in (d.stack.preview, d.stack.up):
        result = run(check=False)
        out = result.stdout + result.stderr
        assert result.returncode != 0
        assert "the stack config is not valid" in out and f"{path}: " in out and words in out, out[-3000:]
        assert "Traceback" not in out, out[-3000:]
        assert not [h for h in hidden if h in out]
    assert lab.ssh_connections_accepted() == connections
    assert not [h for h in hidden if h in d.stack.state_text()]
    # The deployed app is untouched and still serves.
    assert env_file(lab).read_bytes() == env_before
    assert page(lab).status_code == 200


def test_3_a_secret_stored_as_a_number_is_named_not_a_traceback(lab: Any, d: Deployment) -> None:
    d.write_config({"lab": host_config(lab)}, [good_app(d)])
    # Without --secret, `config set --path` stores "5" as the number 5.
    d.stack.set_config(f"appSecrets.{APP}.SECRET_KEY", "5", path=True)
    try:
        connections = lab.ssh_connections_accepted()
        result = d.stack.preview(check=False)
        out = result.stdout + result.stderr
        assert result.returncode != 0 and "Traceback" not in out, out[-3000:]
        assert f"appSecrets.{APP}.SECRET_KEY: appSecrets.{APP}.SECRET_KEY is a number, not text" in out
        assert lab.ssh_connections_accepted() == connections
    finally:
        d.stack.set_config(f"appSecrets.{APP}.SECRET_KEY", "1", secret=True, path=True)
    assert d.stack.preview().returncode == 0
