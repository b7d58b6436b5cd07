"""The host steps against a lab host, as a hostile site user would set them up.

Each attack is the site user's own doing (run in the lab as that user)
between two deploys; the next step must refuse with a clear reason or
repair, and nothing outside the app's tree may change (tests/support/hostfs).
These drive the providers' own code over SSH, without the engine.
"""
from __future__ import annotations

import secrets
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from daunit import hostops
from daunit.errors import ConfigError
from daunit.manifest import build_manifest, release_id
from daunit.providers.base import connection_input
from daunit.providers.instance import InstanceConfigProvider
from daunit.providers.release import ReleaseProvider
from daunit.providers.site import RefusedError, run_step
from daunit.providers.virtualenv import VirtualenvProvider
from daunit.remote.ssh import SSHSession
from tests.support.hostfs import changes, snapshot

VICTIM_DIR = "/root/victim-dir"
VICTIM_FILE = "/root/victim-file"


@pytest.fixture
def site(lab_host: Any) -> Iterator[hostops.Site]:
    app = f"{lab_host.public_html}/t{secrets.token_hex(4)}"
    yield hostops.Site(lab_host.da_user, app)
    lab_host.run(["rm", "-rf", "--", app])


@pytest.fixture
def victims(lab_host: Any) -> Iterator[None]:
    """Root's files a planted link points at (in the lab's private /root)."""
    lab_host.run(["sh", "-c", 'mkdir -m 755 "$1" && echo keep > "$1/keep" && chmod 600 "$1/keep" && '
                  'echo "root secret" > "$2" && chmod 600 "$2"', "sh", VICTIM_DIR, VICTIM_FILE])
    yield
    lab_host.run(["rm", "-rf", "--", VICTIM_DIR, VICTIM_FILE])


def as_user(lab: Any, script: str, *args: str) -> str:
    return lab.run(["sh", "-c", script, "sh", *args], user=lab.da_user).stdout


def props_of(lab: Any, site: hostops.Site, **extra: Any) -> dict[str, Any]:
    conn = connection_input(lab.address, 22, "root", lab.host_key_line, lab.client_key_path)
    return {"connection": conn, "appDir": site.app_dir, "user": site.user, **extra}


def release_props(lab: Any, site: hostops.Site, source: Path) -> dict[str, Any]:
    manifest = build_manifest(source)
    return props_of(lab, site, releaseId=release_id(manifest), source=str(source),
                    files={p: e.sha256 for p, e in manifest.items()}, entryPoint="wsgi.py")


@pytest.fixture
def source(tmp_path: Path) -> Path:
    src = tmp_path / "src"
    (src / "app").mkdir(parents=True)
    (src / "wsgi.py").write_text("from app import app\n")
    (src / "app" / "__init__.py").write_text("app = 'one'\n")
    (src / "app" / "big.txt").write_text("x" * 5000)
    return src


def deploy(lab: Any, site: hostops.Site, source: Path, olds: dict[str, Any] | None = None) -> dict[str, Any]:
    props = release_props(lab, site, source)
    if olds is None:
        return ReleaseProvider().create(props).outs
    return ReleaseProvider().update(site.app_dir, olds, props).outs


def live_file(lab: Any, path: str) -> str:
    return lab.run(["cat", "--", path]).stdout


# -- who may be deployed to ------------------------------------------------------

@pytest.mark.parametrize("user, why", [
    ("root", "system account"),
    ("daemon", "system account"),
    ("nosuchuser", "no such account"),
])
def test_system_or_unknown_accounts_are_refused(session: SSHSession, lab_host: Any,
                                                 user: str, why: str) -> None:
    site = hostops.Site(user, f"/home/{user}/domains/{lab_host.domain}/public_html/app")
    with pytest.raises(RefusedError, match=why):
        run_step(session, hostops.write_env(site), stdin=b"A=1\n")


def test_app_dir_outside_the_users_home_is_refused(session: SSHSession, lab_host: Any) -> None:
    for app in ("/etc/app", "/root/app", f"/home/{lab_host.da_user}/../root/app"):
        with pytest.raises(RefusedError, match="appDir"):
            run_step(session, hostops.write_env(hostops.Site(lab_host.da_user, app)), stdin=b"A=1\n")


def domain_check(user: str, domain: str) -> list[str]:
    """A step that only passes root's check that `domain` is the user's."""
    return hostops.as_site_user(hostops.Site(user, f"/home/{user}/domains/{domain}/app", domain), "true")


def test_a_domain_the_user_does_not_own_is_refused(session: SSHSession, lab_host: Any) -> None:
    home = f"/home/{lab_host.da_user}"
    with pytest.raises(RefusedError, match=r"domain other\.org does not belong .*domains\.list"):
        run_step(session, hostops.write_env(hostops.Site(lab_host.da_user, f"{home}/domains/other.org/x")),
                 stdin=b"A=1\n")
    assert not lab_host.host_path(f"{home}/domains/other.org").exists()
    # A subdomain of the user's own domain is the user's.
    run_step(session, domain_check(lab_host.da_user, f"shop.{lab_host.domain}"))


def test_another_users_domain_is_refused_naming_the_owner(session: SSHSession, lab_host: Any) -> None:
    bob = lab_host.host_path("/usr/local/directadmin/data/users/bob")
    bob.mkdir(parents=True, exist_ok=True)
    (bob / "domains.list").write_text("bob.example.net\n")
    try:
        with pytest.raises(RefusedError, match="belongs to DirectAdmin user bob"):
            run_step(session, domain_check(lab_host.da_user, "bob.example.net"))
    finally:
        shutil.rmtree(bob)


def test_without_directadmin_data_the_domain_dir_owner_decides(session: SSHSession, lab_host: Any) -> None:
    data = lab_host.host_path("/usr/local/directadmin/data")
    aside = data.with_name("data.aside")
    data.rename(aside)
    try:
        run_step(session, domain_check(lab_host.da_user, lab_host.domain))
        lab_host.run(["mkdir", "-p", f"/home/{lab_host.da_user}/domains/rootowned.org"])
        with pytest.raises(RefusedError, match="not a directory owned by"):
            run_step(session, domain_check(lab_host.da_user, "rootowned.org"))
    finally:
        lab_host.run(["rm", "-rf", f"/home/{lab_host.da_user}/domains/rootowned.org"])
        aside.rename(data)


# -- instance/ and .env --------------------------------------------------------

def env_props(lab: Any, site: hostops.Site) -> dict[str, Any]:
    return props_of(lab, site, environment={"GREETING": "hello"}, secretKeys=[])


def test_instance_swapped_for_a_link_to_roots_dir_is_refused(lab_host: Any, site: hostops.Site,
                                                              victims: None) -> None:
    InstanceConfigProvider().create(env_props(lab_host, site))
    as_user(lab_host, 'rm -rf "$1/instance" && ln -s "$2" "$1/instance"', site.app_dir, VICTIM_DIR)
    before = snapshot(lab_host)
    with pytest.raises(RefusedError, match="instance is a symbolic link"):
        InstanceConfigProvider().update(site.app_dir, {}, env_props(lab_host, site))
    assert changes(before, snapshot(lab_host)) == []


def test_planted_env_temp_link_is_never_written_through(lab_host: Any, site: hostops.Site,
                                                        victims: None) -> None:
    InstanceConfigProvider().create(env_props(lab_host, site))
    for name in (".env.new", ".env.tmp"):
        as_user(lab_host, 'ln -s "$2" "$1/instance/$3"', site.app_dir, VICTIM_FILE, name)
    before = snapshot(lab_host)
    InstanceConfigProvider().update(site.app_dir, {}, env_props(lab_host, site))
    assert changes(before, snapshot(lab_host)) == []
    env = f"{site.app_dir}/instance/.env"
    assert lab_host.run(["stat", "-c", "%U %a %F", env]).stdout.split() == [site.user, "600", "regular", "file"]
    assert "GREETING" in live_file(lab_host, env)


def test_env_swapped_for_a_link_is_replaced_not_followed(lab_host: Any, site: hostops.Site,
                                                         victims: None) -> None:
    InstanceConfigProvider().create(env_props(lab_host, site))
    as_user(lab_host, 'ln -sfn "$2" "$1/instance/.env"', site.app_dir, VICTIM_FILE)
    before = snapshot(lab_host)
    assert InstanceConfigProvider().read(site.app_dir, env_props(lab_host, site)).id is None
    InstanceConfigProvider().update(site.app_dir, {}, env_props(lab_host, site))
    assert changes(before, snapshot(lab_host)) == []
    assert lab_host.run(["stat", "-c", "%F", f"{site.app_dir}/instance/.env"]).stdout.strip() == "regular file"


# -- releases --------------------------------------------------------------------

def test_entry_point_swapped_for_a_link_is_not_chmodded_and_is_repaired(
        lab_host: Any, site: hostops.Site, source: Path, victims: None) -> None:
    first = deploy(lab_host, site, source)
    live = first["releaseDir"]
    as_user(lab_host, 'rm "$1/wsgi.py" && ln -s "$2" "$1/wsgi.py"', live, VICTIM_FILE)
    before = snapshot(lab_host)
    # The refresh sees it ...
    read = ReleaseProvider().read(site.app_dir, first)
    assert read.outs["files"]["wsgi.py"] == "not-a-regular-file"
    # ... a new release is not seeded from it ...
    (source / "app" / "__init__.py").write_text("app = 'two'\n")
    second = deploy(lab_host, site, source, read.outs)
    assert changes(before, snapshot(lab_host)) == []
    assert lab_host.run(["stat", "-c", "%F %a", f"{second['releaseDir']}/wsgi.py"]).stdout.split() == \
        ["regular", "file", "755"]
    assert second["filesSent"] == 2  # the changed file and the entry point the host no longer had
    # ... and redeploying the first source repairs the damaged release in place.
    (source / "app" / "__init__.py").write_text("app = 'one'\n")
    again = deploy(lab_host, site, source, read.outs)
    assert again["releaseDir"] == live and again["filesSent"] == 1
    assert live_file(lab_host, f"{live}/wsgi.py") == "from app import app\n"
    assert changes(before, snapshot(lab_host)) == []


def test_release_dir_swapped_for_a_link_deletes_nothing_through_it(
        lab_host: Any, site: hostops.Site, source: Path, victims: None) -> None:
    first = deploy(lab_host, site, source)
    # The link's target holds files of the same names the next deploy drops.
    lab_host.run(["sh", "-c", 'mkdir -p "$1/app" && echo x > "$1/app/__init__.py" && echo y > "$1/wsgi.py"',
                  "sh", VICTIM_DIR])
    as_user(lab_host, 'rm -rf "$1" && ln -s "$2" "$1"', first["releaseDir"], VICTIM_DIR)
    before = snapshot(lab_host)
    (source / "app" / "__init__.py").write_text("app = 'two'\n")
    second = deploy(lab_host, site, source, first)
    assert changes(before, snapshot(lab_host)) == []
    assert second["filesSent"] == 3  # nothing seeded from a link: a full upload
    assert live_file(lab_host, f"{second['releaseDir']}/app/__init__.py") == "app = 'two'\n"


def test_hand_edit_of_the_live_release_shows_in_read_and_update_repairs_it(
        lab_host: Any, site: hostops.Site, source: Path) -> None:
    first = deploy(lab_host, site, source)
    init = f"{first['releaseDir']}/app/__init__.py"
    as_user(lab_host, 'echo "app = \'hacked\'" > "$1" && echo planted > "$2/extra.py"', init, first["releaseDir"])
    read = ReleaseProvider().read(site.app_dir, first).outs
    assert read["files"]["app/__init__.py"] != first["files"]["app/__init__.py"]
    assert "extra.py" in read["files"]
    repaired = deploy(lab_host, site, source, read)
    assert repaired["filesSent"] == 1  # only the edited file travels
    assert live_file(lab_host, init) == "app = 'one'\n"
    assert ReleaseProvider().read(site.app_dir, repaired).outs["files"] == first["files"]


def test_release_files_swapped_to_a_link_on_this_machine_are_refused(
        lab_host: Any, site: hostops.Site, source: Path, tmp_path: Path) -> None:
    props = release_props(lab_host, site, source)
    secret = tmp_path / "deployer-secret"
    secret.write_text("a file of the deploying machine")
    (source / "app" / "big.txt").unlink()
    (source / "app" / "big.txt").symlink_to(secret)
    with pytest.raises(ConfigError, match="app/big.txt: is a symlink now"):
        ReleaseProvider().create(props)
    out = lab_host.run(["sh", "-c", 'ls -a "$1/releases"', "sh", site.app_dir]).stdout.split()
    assert out == [".", ".."]  # nothing half-made left


def test_release_file_changed_after_hashing_is_refused(
        lab_host: Any, site: hostops.Site, source: Path) -> None:
    props = release_props(lab_host, site, source)
    (source / "app" / "big.txt").write_text("y" * 5000)  # same size, other bytes
    with pytest.raises(ConfigError, match="app/big.txt: changed after it was hashed"):
        ReleaseProvider().create(props)


# -- venvs -------------------------------------------------------------------------

def test_venvs_swapped_for_a_link_is_refused_and_pruning_leaves_it(
        lab_host: Any, site: hostops.Site, session: SSHSession, victims: None) -> None:
    as_user(lab_host, 'mkdir -p "$1" && ln -s "$2" "$1/venvs"', site.app_dir, VICTIM_DIR)
    lab_host.run(["sh", "-c", 'mkdir -p "$1/old-venv" "$1/half-built"', "sh", VICTIM_DIR])
    before = snapshot(lab_host)
    props = props_of(lab_host, site, python="python3", key="py3.11-0123456789abcdef", requirements="")
    with pytest.raises(RefusedError, match="venvs is a symbolic link"):
        VirtualenvProvider().create(props)
    rid = "0123456789abcdef"
    as_user(lab_host, 'mkdir -p "$1"', site.layout.release_dir(rid))
    run_step(session, hostops.switch_and_prune(site, rid, 0, [rid]))
    run_step(session, hostops.remove(site, site.layout.venvs_dir))
    assert changes(before, snapshot(lab_host)) == []


def test_deploy_steps_run_as_the_site_user(session: SSHSession, site: hostops.Site, lab_host: Any) -> None:
    run_step(session, hostops.write_env(site), stdin=b"A=1\n")
    out = run_step(session, hostops.as_site_user(site, 'id -un; stat -c %U "$1/instance/.env"')).text.split()
    assert out == [site.user, site.user]
