"""Fixtures shared by every test folder: lab hosts, and the markers that gate them.

- `lab_host`: one lab host for the whole session (unit="auto": real unitd when found), with
  no front server (front="none": Unit itself on `*:80`).
- `lab_factory(name, unit=..., user=..., domain=..., front=...)`: more labs, made once per name
  (front "nginx", the default, or "apache": a DirectAdmin server with that web server in front
  of Unit; "none": Unit on its own listeners), all removed at the end of the session.
- `@pytest.mark.root` tests (and any test using a lab fixture) are skipped unless run
  as root; `@pytest.mark.real_unitd` tests are skipped when no real unitd is found.

Lab names carry this session's pid ("pt<pid>-<name>"), so two pytest runs on one
machine never share (or tear down) each other's labs; labs left by a dead session are
removed when the next one starts.
"""

from __future__ import annotations

import os
import re
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))  # `import lab`, `import daunit`

import pytest

from lab.errors import LabError
from lab.host import LabHost, down, find_unit_modules, find_unitd, list_labs, up
from lab.processes import is_alive

__all__ = ["HAVE_REAL_UNITD", "IS_ROOT", "LAB_PREFIX", "find_unit_modules", "find_unitd"]

IS_ROOT = os.geteuid() == 0
_UNITD = find_unitd()
HAVE_REAL_UNITD = _UNITD is not None and find_unit_modules(_UNITD) is not None
LAB_PREFIX = f"pt{os.getpid()}"
NO_ROOT = "needs root: the lab host is made with network and mount namespaces"
NO_UNITD = ("no real NGINX Unit daemon: set UNITD (and UNIT_MODULES), put unitd on PATH, "
            "or install it under /opt/unit (with <prefix>/modules)")
_LAB_FIXTURES = {"lab_host", "lab_factory"}

requires_root = pytest.mark.skipif(not IS_ROOT, reason=NO_ROOT)
requires_real_unitd = pytest.mark.skipif(not HAVE_REAL_UNITD, reason=NO_UNITD)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        uses_lab = bool(_LAB_FIXTURES & set(getattr(item, "fixturenames", ())))
        if item.get_closest_marker("root") or uses_lab:
            item.add_marker(requires_root)
        if item.get_closest_marker("real_unitd"):
            item.add_marker(requires_real_unitd)


def _remove_labs_of_dead_sessions() -> None:
    for lab in list_labs():
        m = re.match(r"^pt(\d+)(-|$)", lab.name)
        if m and int(m.group(1)) != os.getpid() and not is_alive(int(m.group(1))):
            down(lab.name)


@pytest.fixture(scope="session")
def lab_name() -> Callable[[str], str]:
    """Turn a short name into this session's lab name (for tests calling up/down directly)."""
    def full(name: str) -> str:
        return f"{LAB_PREFIX}-{name}"
    return full


@pytest.fixture(scope="session")
def lab_factory(lab_name: Callable[[str], str]) -> Iterator[Callable[..., LabHost]]:
    if IS_ROOT:
        _remove_labs_of_dead_sessions()
    made: list[str] = []

    def make(name: str = "extra", *, unit: str = "auto", user: str = "username",
             domain: str = "example.com", front: str = "nginx") -> LabHost:
        full = lab_name(name)
        lab = up(full, unit=unit, user=user, domain=domain, front=front)  # type: ignore[arg-type]
        if full not in made:
            made.append(full)
        return lab

    yield make
    failures = []
    for full in made:
        try:
            down(full)
        except LabError as exc:
            failures.append(str(exc))
    assert not failures, "lab teardown failed: " + "; ".join(failures)


@pytest.fixture(scope="session")
def lab_host(lab_factory: Callable[..., LabHost]) -> LabHost:
    """The session's lab host (unit="auto"), with no front server: the tests using it drive
    Unit itself, on its own listeners (`*:80`)."""
    return lab_factory("main", front="none")
