"""hostops.remove when an app's resources are deleted at the same moment."""
from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import Any

from daunit import hostops
from daunit.remote.ssh import SSHSession


def make(session: SSHSession, site: hostops.Site, *paths: str) -> None:
    session.run(hostops.as_site_user(site, 'cd "$1" && shift && mkdir -p -- "$@"', *paths))


def test_parallel_removes_of_one_app_dir_all_succeed(session: SSHSession, lab_host: Any) -> None:
    for round_ in range(15):
        site = hostops.Site(lab_host.da_user, f"{lab_host.public_html}/rm{round_}")
        session.run(hostops.as_site_user(site, 'mkdir -p "$1"'))
        make(session, site, "venvs/v1", "releases/r1", "instance")
        layout = site.layout
        parts = [layout.venvs_dir, layout.releases_dir, layout.instance_dir]
        with ThreadPoolExecutor(3) as workers:
            results = list(workers.map(
                lambda part, site=site: session.run(hostops.remove(site, part), check=False), parts))
        assert [r.exit_status for r in results] == [0, 0, 0], [r.stderr for r in results]
        assert session.run(["test", "-e", site.app_dir], check=False).exit_status == 1


def test_remove_keeps_a_dir_that_holds_other_files(session: SSHSession, lab_host: Any) -> None:
    site = hostops.Site(lab_host.da_user, f"{lab_host.public_html}/kept")
    session.run(hostops.as_site_user(site, 'mkdir -p "$1"'))
    make(session, site, "venvs", "user-data")
    session.run(hostops.remove(site, site.layout.venvs_dir))
    assert session.run(["ls", site.app_dir]).text.split() == ["user-data"]
    session.run(hostops.remove(site, f"{site.app_dir}/user-data"))
