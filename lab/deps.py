"""Make sure the programs a lab host needs are on this machine.

Only Debian packages, installed with apt-get when a program is missing. Services that
Debian starts on install (tinyproxy, ssh) are not wanted: every lab runs its own copy
in the foreground, so a service we just installed is stopped and disabled again.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

from lab.errors import LabError

SSHD = "/usr/sbin/sshd"
# program -> Debian package providing it
_PROGRAMS: dict[str, str] = {
    SSHD: "openssh-server",
    "ssh-keygen": "openssh-client",
    "tinyproxy": "tinyproxy",
    "ip": "iproute2",
    "nsenter": "util-linux",
    "unshare": "util-linux",
    "setpriv": "util-linux",
}
# packages whose system service must not run after we installed them
_SERVICES: dict[str, str] = {"tinyproxy": "tinyproxy", "openssh-server": "ssh"}
# Debian's interpreter: stdlib-only lab helpers run under it inside the lab, where
# /root (and any pyenv build under it) is hidden.
SYSTEM_PYTHON = "/usr/bin/python3"


def which(program: str) -> str | None:
    """Absolute path of program, looking in the sbin directories too."""
    if program.startswith("/"):
        return program if os.access(program, os.X_OK) else None
    path = os.environ.get("PATH", "") + ":/usr/local/sbin:/usr/sbin:/sbin:/usr/bin:/bin"
    return shutil.which(program, path=path)


def missing_packages() -> list[str]:
    packages = {pkg for prog, pkg in _PROGRAMS.items() if which(prog) is None}
    if not os.access(SYSTEM_PYTHON, os.X_OK):
        packages.add("python3")
    return sorted(packages)


def ensure_dependencies() -> None:
    """Install what is missing (root only); a no-op costing a few stat calls otherwise."""
    packages = missing_packages()
    if not packages:
        return
    if os.geteuid() != 0:
        raise LabError(f"missing programs for the lab host; install: apt-get install {' '.join(packages)}")
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    cmd = ["apt-get", "install", "-y", "--no-install-recommends", *packages]
    result = subprocess.run(cmd, env=env, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        # A fresh image may have no package lists yet.
        subprocess.run(["apt-get", "update"], env=env, capture_output=True, text=True, check=False)
        result = subprocess.run(cmd, env=env, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise LabError(f"apt-get install {' '.join(packages)} failed:\n{result.stderr[-2000:]}")
    for package in packages:
        service = _SERVICES.get(package)
        if service:
            disable_service(service)
    still = missing_packages()
    if still:
        raise LabError(f"still missing after apt-get install: {' '.join(still)}")


def disable_service(service: str) -> None:
    """Stop and disable a system service apt may have started (best effort, any init)."""
    if Path("/run/systemd/system").is_dir() and which("systemctl"):
        _quiet(["systemctl", "disable", "--now", service])
        return
    if Path(f"/etc/init.d/{service}").exists():
        _quiet([f"/etc/init.d/{service}", "stop"])
        if which("update-rc.d"):
            _quiet(["update-rc.d", service, "disable"])


def _quiet(argv: list[str]) -> None:
    subprocess.run(argv, capture_output=True, text=True, check=False)
