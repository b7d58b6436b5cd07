"""User mode's host steps (hostops.as_site_user with access "user") over SSH as the
DirectAdmin user itself, with the user's own key: no root anywhere. The same tree rules
as root mode, checked by the login: its own home, its own domain, its own identity."""
from __future__ import annotations

import secrets
from collections.abc import Iterator
from typing import Any

import pytest

from daunit import hostops
from daunit.providers.site import RefusedError, run_step
from daunit.remote.ssh import SSHSession, SSHTarget


@pytest.fixture
def session(lab_host: Any) -> Iterator[SSHSession]:
    target = SSHTarget(lab_host.address, lab_host.port, lab_host.da_user, lab_host.host_key_line,
                       lab_host.user_key_path)
    with SSHSession(target) as s:
        yield s


@pytest.fixture
def app_dir(lab_host: Any) -> Iterator[str]:
    path = f"{lab_host.public_html}/u{secrets.token_hex(4)}"
    yield path
    lab_host.run(["rm", "-rf", "--", path])


def test_steps_run_as_the_login_in_its_own_tree(lab_host: Any, session: SSHSession, app_dir: str) -> None:
    site = hostops.Site(lab_host.da_user, app_dir, lab_host.domain, "p/s", access="user")
    script = 'mkdir -p -- "$1" && id -u > "$1/who" && printf "%s" "$DAFLASK_CLAIM" > "$1/claim"'
    run_step(session, hostops.as_site_user(site, script))
    made = lab_host.host_path(app_dir)
    assert (made / "who").read_text().strip() == str(lab_host.da_uid)
    assert (made / "claim").read_text() == "p/s"
    assert made.stat().st_uid == lab_host.da_uid


@pytest.mark.parametrize(("app_dir", "domain", "says"), [
    ("/tmp/elsewhere", "", "is not inside"),
    ("/home/{user}/domains/{domain}/../../x", "", "plain absolute path"),
    ("/home/{user}/domains/other.example/app", "", "other.example is not a directory of"),
])
def test_steps_outside_the_users_tree_are_refused(lab_host: Any, session: SSHSession, app_dir: str,
                                                  domain: str, says: str) -> None:
    path = app_dir.format(user=lab_host.da_user, domain=lab_host.domain)
    site = hostops.Site(lab_host.da_user, path, domain, access="user")
    with pytest.raises(RefusedError) as caught:
        run_step(session, hostops.as_site_user(site, 'mkdir -p -- "$1"'))
    assert says in str(caught.value)


def test_a_login_that_is_not_the_da_user_is_refused(lab_host: Any, session: SSHSession, app_dir: str) -> None:
    site = hostops.Site("someoneelse", app_dir, access="user")
    with pytest.raises(RefusedError) as caught:
        run_step(session, hostops.as_site_user(site, 'mkdir -p -- "$1"'))
    assert f"this SSH login is {lab_host.da_user}: set sshUser" in str(caught.value)
    assert not lab_host.host_path(app_dir).exists()
