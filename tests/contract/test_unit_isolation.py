"""Applications under `isolation`: what starts and what the kernel refuses.

With a rootfs, `path`, `home` and `working_directory` are inside the new
root; Unit mounts the Python runtime, a tmpfs on /tmp and procfs on /proc
there.  In a user namespace ("credential") those mounts need a mount
namespace, and procfs a pid namespace as well.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

from .conftest import UnitApi, wait_for
from .helpers import APPLY_FAILED, DONE, logged, put

PROC_REFUSED = 'mount("none", "{root}/proc", "proc"'
TMPFS_REFUSED = 'mount("tmpfs", "{root}/tmp", "tmpfs"'


def _rootfs(api: UnitApi) -> Path:
    root = api.app_dir / "rootfs"
    (root / "app").mkdir(parents=True)
    (root / "app" / "wsgi.py").write_text((api.app_dir / "wsgi.py").read_text())
    for path in (root, root / "app"):
        path.chmod(0o755)
    (root / "app" / "wsgi.py").chmod(0o644)
    return root


def _cases(root: Path) -> list[tuple[dict[str, Any], dict[str, Any], str | None]]:
    """(application fields, isolation, what unit.log says when it fails)."""
    at_app = {"path": "/app"}
    return [
        (at_app, {"rootfs": str(root)}, None),
        (at_app | {"working_directory": "/app"}, {"rootfs": str(root)}, None),
        (at_app, {"rootfs": str(root) + "-missing"}, 'Python failed to import module "wsgi"'),
        (at_app | {"module": "nosuch"}, {"rootfs": str(root)},
         'Python failed to import module "nosuch"'),
        (at_app, {"rootfs": str(root), "namespaces": {"credential": True, "mount": True}},
         PROC_REFUSED.format(root=root)),
        (at_app, {"rootfs": str(root),
                  "namespaces": {"credential": True, "mount": True, "pid": True}}, None),
        (at_app, {"rootfs": str(root), "namespaces": {"credential": True},
                  "automount": {"procfs": False}}, TMPFS_REFUSED.format(root=root)),
        (at_app, {"rootfs": str(root), "namespaces": {"credential": True, "mount": True},
                  "automount": {"procfs": False}}, None),
        ({}, {"namespaces": {"credential": True, "mount": True, "pid": True, "network": True,
                             "uname": True, "cgroup": True}}, None),
    ]


def test_isolated_applications(unit_api: UnitApi) -> None:
    root = _rootfs(unit_api)
    for n, (fields, isolation, refusal) in enumerate(_cases(root)):
        app = unit_api.python_app(isolation=isolation, **fields)
        response = put(unit_api, f"/config/applications/iso{n}", app)
        expected = (200, DONE) if refusal is None else (500, APPLY_FAILED)
        assert (app, response.status_code, response.json()) == (app, *expected)
        if refusal is not None:
            wait_for(logged(unit_api, refusal), 5, refusal)
        else:
            running = unit_api.client.get(f"/status/applications/iso{n}/processes/running")
            assert (app, running.json()) == (app, 1)
