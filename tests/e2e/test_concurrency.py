"""Concurrency on one host (issue 4): ten apps under --parallel 16, two stacks
at the same moment, and a lock held too long named in the error."""
from __future__ import annotations

import threading
from typing import Any

import pytest

from daunit import hostops
from tests.e2e.conftest import app_config, host_config
from tests.e2e.test_deploy import unit_config

pytestmark = [pytest.mark.root, pytest.mark.engine]
DISPATCH = "da-flask-hosts"


def app_names(unit_names: Any) -> set[str]:
    """App names from Unit names (daflask:<project>:<stack>:<app>)."""
    return {n.rsplit(":", 1)[-1] for n in unit_names}


def names_in_dispatch(lab: Any) -> set[str]:
    dispatch = unit_config(lab)["routes"][DISPATCH]
    return app_names(e["action"]["pass"].removeprefix("routes/") for e in dispatch)


@pytest.fixture(scope="module")
def lab(lab_factory: Any) -> Any:
    return lab_factory("conc", front="none")


def _apps(d: Any, names: list[str]) -> list[dict[str, Any]]:
    # Development config: these apps need no SECRET_KEY to start.
    return [app_config(n, "lab", f"{n}.example.com", d.app_sources[n], healthCheck=False,
                       environment={"FLASK_CONFIG": "development"})
            for n in names]


def test_ten_apps_in_parallel_keep_every_route_entry(lab: Any, deployment_factory: Any) -> None:
    names = [f"app{i}" for i in range(10)]
    d = deployment_factory("ten", apps=tuple(names))
    d.write_config({"lab": host_config(lab)}, _apps(d, names))
    d.stack.up("--parallel", "16")
    assert names_in_dispatch(lab) >= set(names)
    config = unit_config(lab)
    assert set(names) <= app_names(config["applications"]) and set(names) <= app_names(config["routes"])
    d.stack.destroy()
    assert DISPATCH not in unit_config(lab)["routes"]  # the last app took it with it


def test_two_stacks_at_the_same_moment_lose_nothing(lab: Any, deployment_factory: Any) -> None:
    a = deployment_factory("stack-a", apps=("alpha", "beta"))
    b = deployment_factory("stack-b", apps=("gamma", "delta"))
    a.write_config({"lab": host_config(lab)}, _apps(a, ["alpha", "beta"]))
    b.write_config({"lab": host_config(lab)}, _apps(b, ["gamma", "delta"]))
    errors: list[BaseException] = []

    def run(dep: Any) -> None:
        try:
            dep.stack.up()
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(x,)) for x in (a, b)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert {"alpha", "beta", "gamma", "delta"} <= names_in_dispatch(lab)
    a.stack.destroy()
    assert {"gamma", "delta"} <= names_in_dispatch(lab)
    assert not {"alpha", "beta"} & names_in_dispatch(lab)
    b.stack.destroy()


def test_a_lock_held_too_long_is_named(lab: Any, deployment_factory: Any) -> None:
    d = deployment_factory("locked", apps=("locked",))
    d.write_config({"lab": host_config(lab)}, _apps(d, ["locked"]))
    d.stack.extra_env["DAFLASK_LOCK_TIMEOUT"] = "3"
    # Someone else holds the host lock for a while.
    lab.run(["sh", "-c",
             'mkdir -p -m 700 "${1%/*}"; exec 9>>"$1"; flock 9; '
             "echo 'a test holding the lock' > \"$1.holder\"; "
             "nohup sleep 300 >/dev/null 2>&1 <&9 9>&- & echo $! > /run/lock/test-holder.pid",
             "sh", hostops.LOCK_FILE])
    try:
        result = d.stack.up(check=False)
    finally:
        lab.run(["sh", "-c", "kill $(cat /run/lock/test-holder.pid)"], check=False)
    out = result.stdout + result.stderr
    assert result.returncode != 0
    assert "host-wide Unit lock" in out and "a test holding the lock" in out, out[-2000:]
