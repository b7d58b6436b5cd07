"""hostops.remove when an app's resources are deleted at the same moment."""
from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

from daunit import hostops
from daunit.remote.ssh import SSHSession


def test_parallel_removes_of_one_app_dir_all_succeed(session: SSHSession, scratch: str) -> None:
    for round_ in range(15):
        app = f"{scratch}/app{round_}"
        session.run(["mkdir", "-p", f"{app}/venvs/v1", f"{app}/releases/r1", f"{app}/instance"])
        parts = ["venvs", "releases", "instance"]
        with ThreadPoolExecutor(3) as workers:
            results = list(workers.map(
                lambda part: session.run(hostops.remove(app, part), check=False), parts))
        assert [r.exit_status for r in results] == [0, 0, 0], [r.stderr for r in results]
        assert session.run(["test", "-e", app], check=False).exit_status == 1


def test_remove_keeps_a_dir_that_holds_other_files(session: SSHSession, scratch: str) -> None:
    app = f"{scratch}/kept"
    session.run(["mkdir", "-p", f"{app}/venvs", f"{app}/user-data"])
    session.run(hostops.remove(app, "venvs"))
    assert session.run(["ls", app]).text.split() == ["user-data"]
