"""What the bench gives its pyinfra deploy (bench/pyinfra_world.py): pure, no pyinfra needed."""
from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest

from bench import pyinfra_world
from daunit.render import unit_application
from daunit.spec import parse_stack

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "flask_app"
HOST_KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIDy4Qs8tlLm0nYSYwtCosXds4lLOHyT0u8X3IMfw8U8T"
SECRET = "sk-test-" + "ab" * 16
APP_DIR = "/home/username/domains/app01.example.com/public_html/app01"


def stack(tmp_path: Path, count: int = 1) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    key = tmp_path / "id_ed25519"
    key.write_text("not read here\n")
    hosts = {"lab": {"address": "127.0.0.1", "port": 40022, "sshUser": "root", "hostKey": HOST_KEY,
                     "keyFile": str(key), "daUser": "username", "publicAddress": "10.77.2.2"}}
    apps = []
    for i in range(1, count + 1):
        source = tmp_path / f"app{i:02d}"
        shutil.copytree(EXAMPLE, source, ignore=shutil.ignore_patterns("__pycache__", "instance", "logs"))
        apps.append({"name": f"app{i:02d}", "host": "lab", "domain": f"app{i:02d}.example.com",
                     "source": str(source), "environment": {"FLASK_CONFIG": "production"},
                     "secretEnvironmentKeys": ["SECRET_KEY"]})
    return hosts, apps


def test_unit_application_is_the_providers_shape_with_in_place_paths(tmp_path: Path) -> None:
    hosts, apps = stack(tmp_path)
    data = pyinfra_world.host_data(hosts, apps, {"app01": "/x/app01.env"})
    (app,) = data["apps"]
    sent = json.loads(app["application_json"])
    spec = parse_stack(hosts, apps)
    ours = unit_application(spec.apps[0], spec.hosts["lab"], "0" * 16, "py3.11-" + "0" * 16,
                            pyinfra_world.OWNER)
    assert set(sent) == set(ours)
    differ = ("path", "home", "working_directory", "environment", "module", "callable")
    assert {k: v for k, v in sent.items() if k not in differ} == {k: v for k, v in ours.items() if k not in differ}
    assert (sent["module"], sent["callable"]) == (spec.apps[0].module, spec.apps[0].callable)
    assert not any(k.startswith("DAFLASK_") for k in sent["environment"])
    assert sent["path"] == sent["working_directory"] == sent["environment"]["PYTHONPATH"] == f"{APP_DIR}/code"
    assert sent["home"] == f"{APP_DIR}/venv"
    assert "SECRET_KEY" not in app["application_json"]
    assert app["code_dir"] == f"{APP_DIR}/code" and app["venv_dir"] == f"{APP_DIR}/venv"


def test_route_serves_static_from_the_synced_code_then_passes_to_the_app(tmp_path: Path) -> None:
    hosts, apps = stack(tmp_path)
    (app,) = pyinfra_world.host_data(hosts, apps, {"app01": "/x/app01.env"})["apps"]
    static, rest = json.loads(app["route_json"])
    assert static["match"] == {"uri": "/static/*"}
    assert static["action"]["share"] == f"{APP_DIR}/code/app$uri"
    assert rest["action"]["pass"] == "applications/" + app["unit_name"]
    assert app["unit_name"] == "daflask:da-flask-bench:pyinfra:app01"
    assert "releases/" not in app["route_json"] and "venvs/" not in app["application_json"]


def test_dispatch_has_one_entry_per_app_and_one_listener(tmp_path: Path) -> None:
    hosts, apps = stack(tmp_path, count=2)
    data = pyinfra_world.host_data(hosts, apps, {"app01": "/x/1.env", "app02": "/x/2.env"})
    dispatch = json.loads(data["dispatch_json"])
    assert [e["action"]["pass"] for e in dispatch] == [
        "routes/daflask:da-flask-bench:pyinfra:app01", "routes/daflask:da-flask-bench:pyinfra:app02"]
    assert dispatch[1]["match"]["host"][0] == "app02.example.com"
    assert data["listener"] == "*:80" and data["dispatch_route"] == "da-flask-hosts"
    assert data["conf_dir"].startswith("/root/")


def test_env_file_holds_environment_and_secret_and_names_a_missing_secret(tmp_path: Path) -> None:
    hosts, apps = stack(tmp_path)
    env = pyinfra_world.env_file_bytes(hosts, apps, {"app01": {"SECRET_KEY": SECRET}})["app01"].decode()
    assert f'SECRET_KEY="{SECRET}"' in env and 'FLASK_CONFIG="production"' in env
    with pytest.raises(ValueError, match="SECRET_KEY"):
        pyinfra_world.env_file_bytes(hosts, apps, {})


def test_connection_pins_the_host_key_strictly() -> None:
    data = pyinfra_world.connection_data("127.0.0.1", 40022, "/k/id", "/w/known_hosts")
    assert data["ssh_strict_host_key_checking"] == "yes"
    assert data["ssh_known_hosts_file"] == "/w/known_hosts"
    assert data["ssh_allow_agent"] is False and data["ssh_look_for_keys"] is False
    assert pyinfra_world.known_hosts_line("127.0.0.1", 40022, HOST_KEY) == f"[127.0.0.1]:40022 {HOST_KEY}\n"
    assert pyinfra_world.known_hosts_line("10.77.2.2", 22, HOST_KEY) == f"10.77.2.2 {HOST_KEY}\n"


def test_world_files_keep_the_secret_out_of_the_host_json(tmp_path: Path) -> None:
    hosts, apps = stack(tmp_path)

    class Lab:
        host_public_key = HOST_KEY
        client_key_path = hosts["lab"]["keyFile"]

    host_json = pyinfra_world.write_world(tmp_path / "w", Lab(), "127.0.0.1", 40022, hosts, apps,
                                          {"app01": {"SECRET_KEY": SECRET}})
    text = host_json.read_text()
    assert SECRET not in text
    env_file = Path(json.loads(text)["data"]["apps"][0]["env_file"])
    assert SECRET in env_file.read_text()
    assert env_file.stat().st_mode & 0o777 == 0o600
    assert (tmp_path / "w" / "known_hosts").read_text() == f"[127.0.0.1]:40022 {HOST_KEY}\n"
