"""Start, stop or probe the lab's Unit from inside the lab.

    /usr/bin/python3 -E -s lab/unitctl.py STATE_DIR start|stop|status

Used by the supervisor at `up`, by LabHost.start_unit()/stop_unit() and by the
CustomBuild stand-in (`build unit`), so all three start Unit the same way: a real
unitd when the lab found one, else the control-API double (plan.json "unit").
"start" returns once the control socket answers GET /config.
Standard library only (runs under Debian's python3 inside the lab).
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

DOUBLE_PIDFILE = "/run/unit/lab-double.pid"
STDERR_FILE = "/run/unit/lab-unitd.stderr"


def answers(sock: str, timeout: float = 1.0) -> bool:
    """True when the control socket answers GET /config with 200."""
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
            s.settimeout(timeout)
            s.connect(sock)
            s.sendall(b"GET /config HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
            head = s.recv(64)
    except OSError:
        return False
    return head.startswith(b"HTTP/1.") and head[9:12] == b"200"


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state != "Z"


def _read_pid(path: str) -> int | None:
    try:
        return int(Path(path).read_text().strip())
    except (OSError, ValueError):
        return None


def _tail(path: str, lines: int = 15) -> str:
    try:
        return "\n".join(Path(path).read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return ""


def _wait_answers(unit: dict[str, Any], pid_of: Any, deadline: float) -> bool:
    while time.monotonic() < deadline:
        if answers(unit["socket"], timeout=0.5):
            return True
        pid = pid_of()
        if pid is not None and not _alive(pid):
            return False
        time.sleep(0.02)
    return False


def start(plan: dict[str, Any]) -> int:
    unit = plan["unit"]
    for d in (unit["state"], unit["state"] + "/tmp", os.path.dirname(unit["log"]),
              os.path.dirname(unit["socket"])):
        os.makedirs(d, exist_ok=True)
    if answers(unit["socket"]):
        print("Unit is already running")
        return 0
    if os.path.lexists(unit["socket"]):
        os.unlink(unit["socket"])  # stale: unitd refuses to bind over it
    deadline = time.monotonic() + 15
    start = _start_real if unit["impl"] == "real" else _start_double
    ok = start(plan, unit, deadline)
    if ok:
        print(f"Unit ({unit['impl']}) is running: {unit['socket']}")
        return unit_checks(plan)
    print(f"Unit ({unit['impl']}) did not start; {unit['log']} ends with:\n{_tail(unit['log'])}",
          file=sys.stderr)
    return 1


def _start_real(plan: dict[str, Any], unit: dict[str, Any], deadline: float) -> bool:
    argv = [unit["unitd"], "--control", "unix:" + unit["socket"], "--statedir", unit["state"],
            "--log", unit["log"], "--pid", unit["state"] + "/unit.pid",
            "--tmpdir", unit["state"] + "/tmp", "--modulesdir", unit["modules"]]
    # unitd daemonizes: the process we start exits at once, the daemon keeps running.
    # cwd "/" because apps inherit unitd's working directory unless configured.
    with open(STDERR_FILE, "wb") as err:
        rc = subprocess.run(argv, env=plan["env"], cwd="/", stdin=subprocess.DEVNULL,
                            stdout=err, stderr=err, timeout=30, check=False).returncode
    if rc != 0:
        print(f"unitd exited with status {rc}: {_tail(STDERR_FILE)}", file=sys.stderr)
        return False
    return _wait_answers(unit, lambda: _read_pid(unit["state"] + "/unit.pid"), deadline)


def _start_double(plan: dict[str, Any], unit: dict[str, Any], deadline: float) -> bool:
    env = dict(plan["env"], PYTHONPATH=plan["repo"])
    out = os.path.join(os.path.dirname(unit["log"]), "lab-double.out")
    with open(out, "ab") as log:
        proc = subprocess.Popen(unit["double_argv"], env=env, cwd=plan["repo"], stdin=subprocess.DEVNULL,
                                stdout=log, stderr=log, start_new_session=True)
    Path(DOUBLE_PIDFILE).write_text(f"{proc.pid}\n")
    ok = _wait_answers(unit, lambda: proc.pid if proc.poll() is None else -1, deadline)
    if not ok:
        print(f"unit double ({' '.join(unit['double_argv'])}) output:\n{_tail(out)}", file=sys.stderr)
    return ok


def unit_checks(plan: dict[str, Any]) -> int:
    """DirectAdmin's check after every unitd start (its unit.service ExecStartPost): on a lab
    that is a DirectAdmin server, re-fill Unit from DirectAdmin's storage when its listeners
    are empty (lab/dactl.py unit-checks)."""
    if not plan.get("directadmin", {}).get("unit_checks"):
        return 0
    argv = [plan["python"], "-E", "-s", "-m", "lab.dactl", plan["state_dir"], "unit-checks"]
    done = subprocess.run(argv, env=plan["env"], cwd=plan["repo"], stdin=subprocess.DEVNULL,
                          capture_output=True, text=True, timeout=120, check=False)
    if done.returncode != 0:
        print(f"DirectAdmin's unit checks failed: {done.stderr.strip()}", file=sys.stderr)
    return done.returncode


def stop(plan: dict[str, Any]) -> int:
    unit = plan["unit"]
    pidfile = unit["state"] + "/unit.pid" if unit["impl"] == "real" else DOUBLE_PIDFILE
    pid = _read_pid(pidfile)
    if pid is None or not _alive(pid):
        print("Unit is not running")
        return 0
    # SIGTERM: unitd stops its workers and removes the control socket itself.
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + 10
    while _alive(pid) and time.monotonic() < deadline:
        time.sleep(0.02)
    if _alive(pid):
        os.kill(pid, signal.SIGKILL)
    if os.path.lexists(unit["socket"]) and not answers(unit["socket"], timeout=0.2):
        os.unlink(unit["socket"])
    print("Unit stopped")
    return 0


def status(plan: dict[str, Any]) -> int:
    ok = answers(plan["unit"]["socket"])
    print("Unit is running" if ok else "Unit is not running")
    return 0 if ok else 3


def main(argv: list[str]) -> int:
    if len(argv) != 3 or argv[2] not in ("start", "stop", "status"):
        print("usage: unitctl.py STATE_DIR start|stop|status", file=sys.stderr)
        return 2
    plan = json.loads((Path(argv[1]) / "plan.json").read_text())
    return {"start": start, "stop": stop, "status": status}[argv[2]](plan)


if __name__ == "__main__":
    sys.exit(main(sys.argv))
