"""Starting an application the way a Unit prototype would, without serving it.

The double keeps no worker processes.  To answer like Unit (500 and a reason
in unit.log when an application cannot start), it runs one short-lived
interpreter that imports the application's module and looks up its callable,
with the paths, environment, working directory and user Unit would use.
The interpreter is the one Unit's Python module would be linked against: the
base interpreter of the one running the double, or $UNIT_DOUBLE_PYTHON.
"""
from __future__ import annotations

import grp
import json
import os
import pwd
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NoReturn

# Run inside the application's interpreter: argv[1] is JSON
# {"path": [...], "entries": [[module, callable], ...]}.
_IMPORT_PROBE = r"""
import importlib, json, sys, traceback
plan = json.loads(sys.argv[1])
sys.path[:0] = plan["path"]
for module, name in plan["entries"]:
    try:
        loaded = importlib.import_module(module)
    except BaseException:
        print(f'Python failed to import module "{module}"')
        traceback.print_exc(file=sys.stdout)
        sys.exit(1)
    if not hasattr(loaded, name):
        print(f'Python failed to get "{name}" from module "{module}"')
        sys.exit(1)
    if not callable(getattr(loaded, name)):
        print(f'"{name}" in module "{module}" is not a callable object')
        sys.exit(1)
"""
PROBE_TIMEOUT = 60.0

LogLine = Callable[[str, str], None]  # (level, message)


class StartFailed(Exception):
    """The application did not start; the reason has been logged."""


@dataclass(frozen=True)
class Interpreter:
    executable: str
    version: str  # "3.11.2"

    @classmethod
    def detect(cls) -> Interpreter:
        executable: str = os.environ.get("UNIT_DOUBLE_PYTHON") or getattr(
            sys, "_base_executable", None) or sys.executable
        version = subprocess.run(
            [executable, "-c", "import platform; print(platform.python_version())"],
            check=True, capture_output=True, text=True, timeout=PROBE_TIMEOUT).stdout.strip()
        return cls(executable, version)

    @property
    def module_lib(self) -> str:
        """Where Unit's module for this interpreter would be installed."""
        short = ".".join(self.version.split(".")[:2])
        return f"/usr/lib/unit/modules/python{short}.unit.so"


def processes_at_start(app: dict[str, Any]) -> int:
    """How many processes Unit starts when it applies app: a fixed count,
    or the `spare` of a dynamic pool (which may be none)."""
    processes = app.get("processes", 1)
    return int(processes.get("spare", 0) if isinstance(processes, dict) else processes)


def _in_root(app: dict[str, Any], path: str) -> str:
    """A configured path as the host sees it: under isolation.rootfs if set."""
    rootfs = (app.get("isolation") or {}).get("rootfs")
    return rootfs.rstrip("/") + path if rootfs and path.startswith("/") else path


@dataclass
class Launcher:
    interpreter: Interpreter
    log: LogLine

    def start(self, name: str, app: dict[str, Any]) -> int:
        """Start name's processes; how many run.  StartFailed when it cannot start."""
        count = processes_at_start(app)
        if count == 0:
            return 0
        self._prototype(app)
        self.log("info", f'"{name}" prototype started')
        self.log("info", f'"{name}" application started')
        if app["type"] == "external":
            self._fail("info", f'"{name}" application: the external program does not speak '
                       "the Unit protocol (no libunit in the double)")
        self._import(app)
        for _ in range(count - 1):
            self.log("info", f'"{name}" application started')
        return count

    def _fail(self, level: str, message: str) -> NoReturn:
        self.log(level, message)
        raise StartFailed(message)

    def _prototype(self, app: dict[str, Any]) -> None:
        """What Unit checks before the prototype runs: accounts, mounts, directory."""
        user, group = app.get("user", "nobody"), app.get("group")
        try:
            pwd.getpwnam(user)
        except KeyError:
            self._fail("alert", f'getpwnam("{user}") failed, user "{user}" not found')
        if group is not None:
            try:
                grp.getgrnam(group)
            except KeyError:
                self._fail("alert", f'getgrnam("{group}") failed, group "{group}" not found')
        self._mounts(app.get("isolation") or {})
        directory = app.get("working_directory")
        if directory is not None and not Path(_in_root(app, directory)).is_dir():
            self._fail("warn", f"chdir({directory}) failed (2: No such file or directory)")

    def _mounts(self, isolation: dict[str, Any]) -> None:
        """In a user namespace, mounting needs a mount namespace, and procfs a
        pid namespace as well: the kernel refuses otherwise."""
        rootfs = isolation.get("rootfs")
        namespaces = isolation.get("namespaces") or {}
        if rootfs is None or not namespaces.get("credential"):
            return
        automount = isolation.get("automount") or {}
        wanted = [("tmpfs", "tmpfs", "/tmp", ("mount",)),
                  ("none", "proc", "/proc", ("mount", "pid"))]
        for source, fstype, target, needs in wanted:
            if automount.get("procfs" if fstype == "proc" else "tmpfs", True) is False:
                continue
            if not all(namespaces.get(ns) for ns in needs):
                self._fail("alert", f'mount("{source}", "{rootfs.rstrip("/")}{target}", '
                           f'"{fstype}", 0, "") (1: Operation not permitted)')

    def _executable(self, app: dict[str, Any]) -> str:
        home = app.get("home")
        if home is None:
            return self.interpreter.executable
        venv_python = Path(_in_root(app, home)) / "bin" / "python3"
        if not (venv_python.exists() and (venv_python.parent.parent / "pyvenv.cfg").exists()):
            self._fail("alert", "Failed to initialise config")
        return str(venv_python)

    def _import(self, app: dict[str, Any]) -> None:
        targets = app.get("targets")
        if targets is not None and not targets:
            self._fail("alert", "no targets to start")
        entries = [[t["module"], t.get("callable", "application")] for t in targets.values()] \
            if targets else [[app["module"], app.get("callable", "application")]]
        paths = app.get("path", [])
        plan = {"path": [_in_root(app, p) for p in ([paths] if isinstance(paths, str) else paths)],
                "entries": entries}
        try:
            result = subprocess.run(
                [self._executable(app), "-I", "-c", _IMPORT_PROBE, json.dumps(plan)],
                capture_output=True, text=True, timeout=PROBE_TIMEOUT, stdin=subprocess.DEVNULL,
                env={"PATH": "/usr/local/bin:/usr/bin:/bin", **app.get("environment", {})},
                cwd=_working_directory(app), **_credentials(app))
        except (OSError, subprocess.SubprocessError) as exc:
            self._fail("alert", f"the application's interpreter did not run: {exc}")
        if result.returncode != 0:
            first, _, rest = (result.stdout or result.stderr).partition("\n")
            self._fail("alert", first + ("\n" + rest.rstrip() if rest.strip() else ""))


def _working_directory(app: dict[str, Any]) -> str:
    """unitd's own ("/" here) unless configured; checked by the prototype."""
    directory = app.get("working_directory")
    return "/" if directory is None else _in_root(app, directory)


def _credentials(app: dict[str, Any]) -> dict[str, Any]:
    """Run as the application's user and group, when the double may (as root)."""
    if os.geteuid() != 0:
        return {}
    account = pwd.getpwnam(app.get("user", "nobody"))
    gid = grp.getgrnam(app["group"]).gr_gid if "group" in app else account.pw_gid
    return {"user": account.pw_uid, "group": gid,
            "extra_groups": os.getgrouplist(account.pw_name, gid)}
