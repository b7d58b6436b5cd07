"""Starting a Python application the way Unit's prototype does, minus the
serving: the double cannot run workers, but it must fail where Unit fails.

Unit answers 500 "Failed to apply new configuration." when the first
processes of a new or changed application cannot start: the user is unknown,
`working_directory` is missing, `home` is not a usable Python prefix, the
module does not import (missing, SyntaxError, a missing dependency), or the
callable is absent or not callable.  The reason only reaches unit.log.  A
static look at the files cannot tell most of these apart, so the double does
what the prototype does: it starts the interpreter Unit's module is linked
against, as the application's user, inserts `path` in front of sys.path,
imports the module and looks the callable up.  Import-time code runs, as it
does in Unit.
"""
from __future__ import annotations

import grp
import json
import os
import pwd
import subprocess
import sys
from dataclasses import dataclass, field
from typing import Any

JsonValue = Any

START_TIMEOUT = 30.0

# Runs inside the application's interpreter.  Its verdict goes to the saved
# stdout; the application's own output and Python's fatal errors go to
# stderr, which the double copies into unit.log as Unit does.
_PROBE = r"""
import json, os, sys, traceback
out = os.fdopen(os.dup(1), "w")
os.dup2(2, 1)
conf = json.loads(sys.argv[1])

def finish(stage, alert=None, trace="", level="alert"):
    out.write(json.dumps({"stage": stage, "alert": alert, "trace": trace, "level": level}))
    out.flush()
    os._exit(0 if alert is None else 1)

wd = conf["working_directory"]
if wd is not None:
    try:
        os.chdir(wd)
    except OSError as e:
        finish("prototype", "chdir(%s) failed (%d: %s)" % (wd, e.errno, os.strerror(e.errno)),
               level="warn")
for site_dir in conf["site_dirs"]:
    import site
    site.addsitedir(site_dir)
for entry in reversed(conf["path"]):
    sys.path.insert(0, entry)
sys.argv = ["unit"]
for target in conf["targets"]:
    name = target["module"]
    try:
        __import__(name)
        module = sys.modules[name]
    except BaseException as e:
        tb = e.__traceback__.tb_next if e.__traceback__ is not None else None
        finish("application", 'Python failed to import module "%s"' % name,
               "".join(traceback.format_exception(type(e), e, tb)))
    obj = vars(module).get(target["callable"])
    if obj is None:
        finish("application", 'Python failed to get "%s" from module "%s"'
               % (target["callable"], name))
    if target["factory"]:
        if not callable(obj):
            finish("application", 'factory "%s" in module "%s" can not be called '
                   "to fetch callable" % (target["callable"], name))
        obj = obj()
        if not callable(obj):
            finish("application", 'factory "%s" in module "%s" did not return '
                   "callable object" % (target["callable"], name))
    elif not callable(obj):
        finish("application", '"%s" in module "%s" is not a callable object'
               % (target["callable"], name))
finish("application")
"""


def initial_processes(app: dict[str, JsonValue]) -> int:
    """How many processes Unit starts when it applies the application."""
    processes = app.get("processes")
    if processes is None:
        return 1
    if isinstance(processes, dict):
        return int(processes.get("spare", 0))
    return int(processes)


@dataclass
class StartResult:
    ok: bool
    stage: str = "application"  # "prototype" failures never reach the module
    log: list[tuple[str, str]] = field(default_factory=list)  # (level, text)
    by_prototype: bool = False  # the prototype said it, then exited with 1
    before: str = ""  # the process's own output, copied into the log first
    after: str = ""  # what follows the alert verbatim (the traceback)


@dataclass
class Interpreter:
    """The Python that Unit's python module is linked against."""

    executable: str
    version: str

    @classmethod
    def detect(cls, executable: str | None = None) -> Interpreter:
        exe = executable or os.environ.get("UNIT_DOUBLE_PYTHON") or _base_python()
        out = subprocess.run(
            [exe, "-I", "-c", "import platform; print(platform.python_version())"],
            capture_output=True, text=True, check=True, timeout=START_TIMEOUT,
        )
        return cls(exe, out.stdout.strip())

    @property
    def short_version(self) -> str:
        return ".".join(self.version.split(".")[:2])


def _base_python() -> str:
    # Inside a virtualenv the interpreter Unit would link against is the base.
    return getattr(sys, "_base_executable", None) or sys.executable


def _credentials(app: dict[str, JsonValue], default_user: str
                 ) -> tuple[int, int, list[int]] | StartResult:
    user = app.get("user", default_user)
    try:
        pw = pwd.getpwnam(user)
    except KeyError:
        return StartResult(False, "prototype", [(
            "alert", f'getpwnam("{user}") failed, user "{user}" not found')])
    gid = pw.pw_gid
    group = app.get("group")
    if group is not None:
        try:
            gid = grp.getgrnam(group).gr_gid
        except KeyError:
            return StartResult(False, "prototype", [(
                "alert", f'getgrnam("{group}") failed, group "{group}" not found')])
    return pw.pw_uid, gid, os.getgrouplist(user, gid)


_EPERM = "(1: Operation not permitted)"


def _isolation_failure(app: dict[str, JsonValue]) -> StartResult | None:
    """What the kernel refuses Unit's prototype under `isolation`.

    With a rootfs Unit mounts a tmpfs on /tmp and procfs on /proc (the
    `automount` defaults).  In a new user namespace ("credential") neither
    works without its own mount namespace, and procfs needs a pid namespace
    too; the prototype logs the refused mount and exits.
    """
    iso = app.get("isolation") or {}
    ns = iso.get("namespaces") or {}
    root = iso.get("rootfs")
    if root is None or not ns.get("credential"):
        return None
    auto = iso.get("automount") or {}
    tmpfs = (f'mount("tmpfs", "{root}/tmp", "tmpfs", 2097166, "size=1m,mode=1777") '
             f"{_EPERM}")
    proc = f'mount("none", "{root}/proc", "proc", 2097162, "") {_EPERM}'
    refused = None
    if not ns.get("mount") and auto.get("tmpfs", True):
        refused = tmpfs
    elif auto.get("procfs", True) and not (ns.get("mount") and ns.get("pid")):
        refused = proc
    if refused is None:
        return None
    return StartResult(False, "prototype", [("alert", refused)], by_prototype=True)


def _in_root(app: dict[str, JsonValue], path: str) -> str:
    """A path of the application as the host sees it: under `rootfs`, if any."""
    root = (app.get("isolation") or {}).get("rootfs")
    if root is None or not path.startswith("/"):
        return path
    return os.path.join(root, path.lstrip("/"))


def _command(interp: Interpreter, app: dict[str, JsonValue]
             ) -> tuple[list[str], dict[str, str], list[str]]:
    """argv, environment and extra site dirs for the probe.

    Unit gives the interpreter an isolated configuration.  With a `home`
    holding pyvenv.cfg it runs as home/bin/python would (PEP 405);
    otherwise `home` becomes PYTHONHOME, which fails unless it is a whole
    Python prefix -- exactly what Unit does with a missing or wrong home.
    """
    env = dict(os.environ)
    env.update(app.get("environment") or {})
    home = app.get("home")
    if home is not None:
        home = _in_root(app, home)
    site_dirs: list[str] = []
    if home is None:
        return [interp.executable, "-I"], env, site_dirs
    if os.access(os.path.join(home, "pyvenv.cfg"), os.R_OK):
        venv_python = os.path.join(home, "bin", "python")
        if os.access(venv_python, os.X_OK):
            return [venv_python, "-I"], env, site_dirs
        lib = os.path.join(home, "lib", f"python{interp.short_version}", "site-packages")
        return [interp.executable, "-I"], env, [lib]
    env = {k: v for k, v in env.items() if not k.startswith("PYTHON")}
    env["PYTHONHOME"] = home
    return [interp.executable, "-s", "-P"], env, site_dirs


def _targets(app: dict[str, JsonValue]) -> list[dict[str, Any]]:
    sources = list(app["targets"].values()) if "targets" in app else [app]
    return [{
        "module": t["module"],
        "callable": t.get("callable", "application"),
        "factory": bool(t.get("factory", False)),
    } for t in sources]


def start_python(interp: Interpreter, app: dict[str, JsonValue],
                 default_user: str) -> StartResult:
    """Try to start the application's first process; never raises.

    Under `isolation.rootfs` paths are looked up inside the root, with the
    host's interpreter standing in for the runtime Unit mounts there; the
    shared libraries a real rootfs must also hold are not checked.
    """
    creds = _credentials(app, default_user)
    if isinstance(creds, StartResult):
        return creds
    uid, gid, groups = creds
    refused = _isolation_failure(app)
    if refused is not None:
        return refused
    argv, env, site_dirs = _command(interp, app)
    path = app.get("path", [])
    wd = app.get("working_directory")
    conf = {
        "working_directory": None if wd is None else _in_root(app, wd),
        "path": [_in_root(app, p) for p in ([path] if isinstance(path, str) else path)],
        "site_dirs": site_dirs,
        "targets": _targets(app),
    }
    root = (app.get("isolation") or {}).get("rootfs")
    cwd = root if root is not None and os.path.isdir(root) else "/"
    drop: dict[str, Any] = {}
    if os.geteuid() == 0:
        drop = {"user": uid, "group": gid, "extra_groups": groups}
    try:
        proc = subprocess.run(
            argv + ["-c", _PROBE, json.dumps(conf)],
            capture_output=True, text=True, env=env, timeout=START_TIMEOUT,
            stdin=subprocess.DEVNULL, cwd=cwd, check=False, **drop,
        )
    except (OSError, subprocess.SubprocessError) as exc:
        return StartResult(False, "prototype", [("alert", f"failed to start the interpreter: {exc}")])
    try:
        verdict = json.loads(proc.stdout)
    except ValueError:
        # The interpreter died before running the probe (a bad home).
        return StartResult(False, "application",
                           [("alert", "Failed to initialise config")], before=proc.stderr)
    if verdict["alert"] is None:
        return StartResult(True, before=proc.stderr)
    return StartResult(False, verdict["stage"], [(verdict["level"], verdict["alert"])],
                       by_prototype=verdict["stage"] == "prototype",
                       before=proc.stderr, after=verdict["trace"])
