"""The app's tree on the host, as daunit.layout writes it for every host script (pure)."""
from __future__ import annotations

import os
from typing import Any

import pytest

from daunit.layout import RELEASE_LINKS, AppLayout, app_dir_of, links_arg
from daunit.spec import AppSpec, HostSpec
from tests.unit.conftest import app_raw, host_raw

RELEASE = "0123456789abcdef"
VENV = "py3.11-fedcba9876543210"
APP_DIR = "/home/username/domains/example.com/public_html/flask_app"


def specs(**app: Any) -> tuple[AppSpec, HostSpec]:
    return AppSpec.model_validate(app_raw(**app)), HostSpec.model_validate(host_raw())


def test_layout_paths() -> None:
    app, host = specs()
    layout = AppLayout.of(app, host)
    assert layout.app_dir == APP_DIR
    assert layout.owner_file == f"{APP_DIR}/.daflask-owner"
    assert layout.releases_dir == f"{APP_DIR}/releases"
    assert layout.release_dir(RELEASE) == f"{APP_DIR}/releases/{RELEASE}"
    assert layout.incoming_dir(RELEASE) == f"{APP_DIR}/releases/.incoming-{RELEASE}"
    assert layout.incoming_manifest(RELEASE) == f"{APP_DIR}/releases/.incoming-{RELEASE}.manifest"
    assert layout.stale_dir(RELEASE) == f"{APP_DIR}/releases/.stale-{RELEASE}"
    assert layout.venvs_dir == f"{APP_DIR}/venvs"
    assert layout.venv_dir(VENV) == f"{APP_DIR}/venvs/{VENV}"
    assert layout.current_link == f"{APP_DIR}/current"
    assert layout.current_target(RELEASE) == f"releases/{RELEASE}"
    assert layout.instance_dir == f"{APP_DIR}/instance"
    assert layout.env_file == f"{APP_DIR}/instance/.env"
    assert layout.logs_dir == f"{APP_DIR}/logs"
    assert layout.in_root(layout.release_dir(RELEASE)) == f"/releases/{RELEASE}"
    assert layout.in_root(APP_DIR) == "/"
    with pytest.raises(ValueError, match="outside the app directory"):
        layout.in_root(APP_DIR + "-other/x")


def test_a_deploys_work_is_hidden_in_releases() -> None:
    """Prune and the next deploy's clean-up tell work in progress by its leading dot."""
    layout = AppLayout(APP_DIR)
    for path in (layout.incoming_dir(RELEASE), layout.incoming_manifest(RELEASE), layout.stale_dir(RELEASE)):
        assert os.path.dirname(path) == layout.releases_dir and os.path.basename(path).startswith(".")


def test_release_links_resolve_to_the_shared_dirs() -> None:
    layout = AppLayout(APP_DIR)
    release = layout.release_dir(RELEASE)
    for name, target in RELEASE_LINKS.items():
        assert os.path.normpath(os.path.join(release, target)) == f"{APP_DIR}/{name}"
    assert links_arg() == "instance=../../instance logs=../../logs"


def test_paths_in_unit_config_lead_back_to_the_release() -> None:
    layout = AppLayout(APP_DIR)
    share = f"{layout.release_dir(RELEASE)}/app/static$uri"
    assert layout.release_of(share) == RELEASE
    assert layout.release_of(f"{APP_DIR}-other/releases/{RELEASE}") is None
    assert app_dir_of(share) == APP_DIR
    assert app_dir_of("/var/www/html$uri") is None


def test_app_dir_from_spec_wins() -> None:
    app, host = specs(appDir="/srv/apps/shop")
    assert AppLayout.of(app, host).app_dir == "/srv/apps/shop"


@pytest.mark.parametrize("bad", ["../../../etc", "0123456789ABCDEF", "abc", "0123456789abcdef/.."])
def test_release_ids_are_checked(bad: str) -> None:
    with pytest.raises(ValueError, match="release id"):
        AppLayout(APP_DIR).release_dir(bad)
    with pytest.raises(ValueError, match="release id"):
        AppLayout(APP_DIR).incoming_dir(bad)


@pytest.mark.parametrize("bad", ["py3.11-../../x", "3.11-0123456789abcdef", "py3.11-0123"])
def test_venv_keys_are_checked(bad: str) -> None:
    with pytest.raises(ValueError, match="venv key"):
        AppLayout(APP_DIR).venv_dir(bad)
