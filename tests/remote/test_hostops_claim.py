"""The app dir belongs to one stack: another stack deploying an app to the
same dir (same user, domain and app name) is refused before it writes, and
cannot remove the first stack's tree."""
from __future__ import annotations

import secrets
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from daunit import hostops
from daunit.providers.instance import InstanceConfigProvider
from daunit.providers.release import ReleaseProvider
from daunit.providers.site import RefusedError
from tests.remote.test_hostops_site import props_of, release_props

OURS = "da-flask/prod"
THEIRS = "da-flask/other"


@pytest.fixture
def app_dir(lab_host: Any) -> Iterator[str]:
    path = f"{lab_host.public_html}/c{secrets.token_hex(4)}"
    yield path
    lab_host.run(["rm", "-rf", "--", path])


@pytest.fixture
def source(tmp_path: Path) -> Path:
    (tmp_path / "wsgi.py").write_text("application = None\n")
    return tmp_path


def _release(lab: Any, app_dir: str, owner: str, source: Path) -> dict[str, Any]:
    return {**release_props(lab, hostops.Site(lab.da_user, app_dir), source), "owner": owner}


def test_another_stack_is_refused_before_it_writes(lab_host: Any, app_dir: str, source: Path) -> None:
    ReleaseProvider().create(_release(lab_host, app_dir, OURS, source))
    claim = lab_host.host_path(f"{app_dir}/.daflask-owner")
    assert claim.read_text() == f"{OURS}\n"
    env_file = lab_host.host_path(f"{app_dir}/instance/.env")
    env_props = {**props_of(lab_host, hostops.Site(lab_host.da_user, app_dir)), "owner": THEIRS,
                 "environment": {"A": "theirs"}, "secretKeys": []}
    with pytest.raises(RefusedError, match=f"belongs to da-flask stack {OURS}, not to {THEIRS}"):
        InstanceConfigProvider().create(env_props)
    assert not env_file.exists()
    with pytest.raises(RefusedError, match=f"belongs to da-flask stack {OURS}"):
        ReleaseProvider().delete(app_dir, _release(lab_host, app_dir, THEIRS, source))
    assert lab_host.host_path(f"{app_dir}/releases").is_dir()


def test_the_owner_removes_everything_claim_included(lab_host: Any, app_dir: str, source: Path) -> None:
    props = _release(lab_host, app_dir, OURS, source)
    outs = ReleaseProvider().create(props)
    ReleaseProvider().delete(app_dir, {**props, **outs.outs})
    assert not lab_host.host_path(app_dir).exists()


def test_state_from_before_the_claim_is_not_checked(lab_host: Any, app_dir: str, source: Path) -> None:
    """Old state has no owner: its steps still run (and write no claim)."""
    props = release_props(lab_host, hostops.Site(lab_host.da_user, app_dir), source)
    ReleaseProvider().create(props)
    assert not lab_host.host_path(f"{app_dir}/.daflask-owner").exists()
    ReleaseProvider().create({**props, "owner": OURS})  # the upgrade's update claims it
    assert lab_host.host_path(f"{app_dir}/.daflask-owner").read_text() == f"{OURS}\n"


def test_first_steps_at_once_all_take_the_same_claim(lab_host: Any) -> None:
    """The first deploy's Release, Virtualenv and InstanceConfig claim the new
    dir at the same moment: none may read the others' half-written claim."""
    from concurrent.futures import ThreadPoolExecutor

    from daunit.remote.ssh import SSHSession, SSHTarget

    target = SSHTarget(lab_host.address, 22, "root", lab_host.host_key_line, lab_host.client_key_path)
    with SSHSession(target) as session:
        for round_ in range(30):
            path = f"{lab_host.public_html}/race{round_}{secrets.token_hex(2)}"
            site = hostops.Site(lab_host.da_user, path, owner=OURS)
            session.run(["install", "-d", "-o", lab_host.da_user, "-g", lab_host.da_user, path])
            with ThreadPoolExecutor(6) as pool:
                results = list(pool.map(lambda _, site=site: session.run(
                    hostops.as_site_user(site, hostops._USER_PRELUDE), check=False), range(6)))
            assert [r.exit_status for r in results] == [0] * 6, [r.stderr for r in results]
            assert lab_host.host_path(f"{path}/.daflask-owner").read_text() == f"{OURS}\n"
            session.run(["rm", "-rf", "--", path])
