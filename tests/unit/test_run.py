"""`python -m daunit.run`: which app, which live release and venv (pure parts)."""
from __future__ import annotations

from typing import Any

import pytest

from daunit.run import RunError, find_app, live_release, main
from daunit.spec import AppSpec, StackSpec, parse_stack
from tests.unit.conftest import app_raw, host_raw

APP_DIR = "/home/username/domains/example.com/public_html/flask_app"
RID, VKEY = "0123456789abcdef", "py3.11-fedcba9876543210"


def spec() -> StackSpec:
    host = host_raw()
    return parse_stack({host.pop("name"): host}, [app_raw()], check_source=False)


def app(**changes: Any) -> AppSpec:
    return AppSpec.model_validate(app_raw(**changes))


def test_find_app_names_the_apps_there_are() -> None:
    assert find_app(spec(), "flask_app").name == "flask_app"
    with pytest.raises(RunError, match=r"no app 'shop' \(its apps: flask_app\)"):
        find_app(spec(), "shop")


def test_live_release_is_what_unit_runs() -> None:
    apps = {"other": {"path": "/home/x/releases/aaaaaaaaaaaaaaaa", "home": "/home/x/venvs/py3.11-aaaa"},
            "daflask:p:s:flask_app": {"path": f"{APP_DIR}/releases/{RID}", "home": f"{APP_DIR}/venvs/{VKEY}"}}
    assert live_release(apps, app(), APP_DIR) == (RID, VKEY)


def test_live_release_of_an_isolated_app_reads_paths_inside_its_rootfs() -> None:
    apps = {"a": {"path": f"/releases/{RID}", "home": f"/venvs/{VKEY}", "isolation": {"rootfs": APP_DIR}}}
    assert live_release(apps, app(isolation=True), APP_DIR) == (RID, VKEY)


@pytest.mark.parametrize("apps", [
    {},
    {"a": {"path": f"{APP_DIR}/releases/{RID}", "home": "/opt/someone-elses-venv"}},
    {"a": {"path": f"{APP_DIR}/releases/../../x", "home": f"{APP_DIR}/venvs/{VKEY}"}},
])
def test_anything_else_is_refused_before_a_command_runs(apps: dict[str, Any]) -> None:
    with pytest.raises(RunError):
        live_release(apps, app(), APP_DIR)


def test_a_command_is_required(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["--stack", "prod", "flask_app", "--"])
    assert "give the command after --" in capsys.readouterr().err


