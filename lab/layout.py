"""What a lab host's state dir holds, and which lab paths it backs.

Everything the lab sees as its own (home dirs, /usr/local/directadmin, Unit's dirs, its
/root, /run, /tmp, account files, pip.conf) is an ordinary directory or file under
STATE/fs, bind-mounted over the lab path by the supervisor. So it can be prepared here,
before the lab runs, and read or checked from this machine at any time (host_path).
"""

from __future__ import annotations

import os
import shlex
import subprocess
from dataclasses import dataclass
from pathlib import Path

from lab.errors import LabError

PROXY_PORT = 3128
PROXY_HOSTS = ("pypi.org", "files.pythonhosted.org")
UNIT_SOCKET = "/var/run/unit/control.sock"
UNIT_LOG = "/var/log/unit/unit.log"
UNIT_STATE = "/var/lib/unit"
CUSTOMBUILD = "/usr/local/directadmin/custombuild"
# Environment of every process the lab starts: nothing of the caller's leaks in
# (PIP_FIND_LINKS, PYENV_*, proxies, ...).
LAB_ENV = {
    "PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
    "LANG": "C.UTF-8",
    "HOME": "/root",
    "USER": "root",
    "LOGNAME": "root",
    "SHELL": "/bin/bash",
}


@dataclass(frozen=True)
class Mount:
    lab_path: str  # where the lab sees it (a real path: /run, not /var/run)
    source: str  # relative to the state dir
    kind: str  # "dir" or "file"


# Directories the lab sees -> where they are in the state dir (under fs/).
_DIR_MOUNTS = {"/home": "home", "/root": "root", "/run": "run", "/tmp": "tmp", "/var/tmp": "var-tmp",
               "/usr/local/directadmin": "directadmin", "/var/log/unit": "unit-log",
               "/var/lib/unit": "unit-state"}
# Files of the lab's /etc, each from fs/etc/ of the same name.
_ETC_FILES = ("passwd", "group", "shadow", "gshadow", "pip.conf")

MOUNTS: tuple[Mount, ...] = (
    *(Mount(path, f"fs/{source}", "dir") for path, source in _DIR_MOUNTS.items()),
    *(Mount(f"/etc/{name}", f"fs/etc/{name}", "file") for name in _ETC_FILES),
)


def lab_realpath(lab_path: str) -> str:
    """Normalise a lab path the way the lab resolves it (/var/run is a link to /run)."""
    path = os.path.normpath("/" + lab_path.lstrip("/"))
    if path == "/var/run" or path.startswith("/var/run/"):
        path = "/run" + path[len("/var/run"):]
    return path


def host_path(state_dir: Path, lab_path: str) -> Path:
    """Where `lab_path` of the lab lives on this machine (shared paths map to themselves)."""
    path = lab_realpath(lab_path)
    for m in sorted(MOUNTS, key=lambda m: len(m.lab_path), reverse=True):
        if path == m.lab_path or path.startswith(m.lab_path + "/"):
            return state_dir / m.source / path[len(m.lab_path):].lstrip("/")
    return Path(path)


def _mkdir(path: Path, mode: int, uid: int = 0, gid: int = 0) -> None:
    path.mkdir(parents=True, exist_ok=True)
    os.chown(path, uid, gid)
    os.chmod(path, mode)  # after mkdir: the umask would mask the sticky/others bits


def _write(path: Path, text: str, mode: int = 0o644, uid: int = 0, gid: int = 0) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    os.chown(path, uid, gid)
    os.chmod(path, mode)


def keygen(path: Path, comment: str, kind: str = "ed25519") -> subprocess.Popen[str]:
    """Start ssh-keygen for a fresh key (callers run several at once)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    size = ["-b", "2048"] if kind == "rsa" else []
    return subprocess.Popen(["ssh-keygen", "-q", "-t", kind, *size, "-N", "", "-C", comment, "-f", str(path)],
                            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def wait_keygen(proc: subprocess.Popen[str], path: Path) -> str:
    out, _ = proc.communicate(timeout=30)
    if proc.returncode != 0:
        raise LabError(f"ssh-keygen for {path} failed: {out.strip()}")
    os.chmod(path, 0o600)
    # "ssh-ed25519 AAAA..." without the comment
    return " ".join(Path(f"{path}.pub").read_text().split()[:2])


# --- accounts ---------------------------------------------------------------------------

def _ids_in(text: str, field: int) -> set[int]:
    ids = set()
    for line in text.splitlines():
        parts = line.split(":")
        if len(parts) > field and parts[field].isdigit():
            ids.add(int(parts[field]))
    return ids


def _names_in(text: str) -> set[str]:
    return {line.split(":", 1)[0] for line in text.splitlines() if line.strip()}


def pick_uid(passwd: str, group: str, start: int = 2001) -> int:
    taken = _ids_in(passwd, 2) | _ids_in(group, 2)
    uid = start
    while uid in taken:
        uid += 1
    return uid


def _unlock(shadow: str, names: set[str]) -> str:
    # "*": no password, but not locked ("!") either, which would make sshd refuse keys.
    out = []
    for line in shadow.splitlines():
        parts = line.split(":")
        if parts[0] in names and len(parts) > 1:
            parts[1] = "*"
        out.append(":".join(parts))
    return "\n".join(out) + "\n"


def write_accounts(state: Path, user: str, uid: int) -> None:
    """Private copies of this machine's account files with the DirectAdmin user added."""
    etc = state / "fs" / "etc"
    texts = {name: Path("/etc", name).read_text() for name in ("passwd", "group", "shadow", "gshadow")}
    if user in _names_in(texts["passwd"]) or user in _names_in(texts["group"]):
        raise LabError(f"user {user!r} exists on this machine: pick another da_user for the lab")
    texts["passwd"] += f"{user}:x:{uid}:{uid}:DirectAdmin user:/home/{user}:/bin/bash\n"
    texts["group"] += f"{user}:x:{uid}:\n"
    texts["shadow"] = _unlock(texts["shadow"], {"root"}) + f"{user}:*:19000:0:99999:7:::\n"
    texts["gshadow"] += f"{user}:!::\n"
    for name, text in texts.items():
        src = Path("/etc", name).stat()
        _write(etc / name, text, src.st_mode & 0o7777, src.st_uid, src.st_gid)


# --- directory tree ------------------------------------------------------------------

def write_tree(state: Path, user: str, uid: int, domain: str, authorized_key: str,
               user_key: str = "") -> None:
    """`authorized_key` (root's client key) lets in root and the user; `user_key` only
    the user, for deploys with no root credential at all (access: user)."""
    fs = state / "fs"
    _mkdir(fs / "home", 0o755)
    home = fs / "home" / user
    # As DirectAdmin lays a user out: home 711, domains 711, public_html 755, all the user's.
    _mkdir(home, 0o711, uid, uid)
    _mkdir(home / "domains", 0o711, uid, uid)
    _mkdir(home / "domains" / domain, 0o711, uid, uid)
    _mkdir(home / "domains" / domain / "public_html", 0o755, uid, uid)
    _mkdir(home / ".ssh", 0o700, uid, uid)
    user_keys = authorized_key + "\n" + (user_key + "\n" if user_key else "")
    _write(home / ".ssh" / "authorized_keys", user_keys, 0o600, uid, uid)
    # A minimal /root: this machine's /root/.bashrc runs pyenv init on every ssh exec.
    root = fs / "root"
    _mkdir(root, 0o700)
    _mkdir(root / ".ssh", 0o700)
    _write(root / ".ssh" / "authorized_keys", authorized_key + "\n", 0o600)
    _write(root / ".bashrc", "# lab host: intentionally empty\n")
    _write(root / ".profile", "# lab host: intentionally empty\n")
    run = fs / "run"
    _mkdir(run, 0o755)
    _mkdir(run / "sshd", 0o755)  # sshd's privilege separation dir
    _mkdir(run / "unit", 0o755)
    _mkdir(run / "lock", 0o1777)
    _mkdir(run / "user", 0o755)
    (run / "shm").symlink_to("/dev/shm")
    _mkdir(fs / "tmp", 0o1777)
    _mkdir(fs / "var-tmp", 0o1777)
    _mkdir(fs / "unit-log", 0o755)
    _mkdir(fs / "unit-state", 0o755)
    _mkdir(fs / "unit-state" / "tmp", 0o755)
    _mkdir(fs / "directadmin", 0o755)
    # DirectAdmin's own record of the user and their domains (root's: the
    # deploy checks a site's domain against it before changing anything);
    # lab.directadmin.write_data_tree writes the files.
    users = fs / "directadmin" / "data" / "users"
    _mkdir(users.parent, 0o711)
    _mkdir(users, 0o711)
    _mkdir(users / user, 0o711)
    _mkdir(state / "scratch", 0o700)


# --- services ------------------------------------------------------------------------

def write_sshd(state: Path, address: str) -> list[str]:
    ssh = state / "ssh"
    config = f"""\
# sshd of lab host {state.name}; generated, removed with the lab
ListenAddress {address}:22
HostKey {ssh}/ssh_host_ed25519_key
HostKey {ssh}/ssh_host_rsa_key
PidFile {ssh}/sshd.pid
PermitRootLogin prohibit-password
PubkeyAuthentication yes
PasswordAuthentication no
KbdInteractiveAuthentication no
UsePAM no
AuthorizedKeysFile .ssh/authorized_keys
StrictModes yes
AllowStreamLocalForwarding yes
AllowTcpForwarding yes
X11Forwarding no
UseDNS no
PrintMotd no
PrintLastLog no
# OpenSSH's default, as on a stock DirectAdmin host: deploys share one connection
# per host and must stay within it.
MaxSessions 10
MaxStartups 100
Subsystem sftp internal-sftp
"""
    _write(ssh / "sshd_config", config)
    return ["/usr/sbin/sshd", "-D", "-f", str(ssh / "sshd_config"), "-E", str(ssh / "sshd.log")]


def write_proxy(state: Path, gateway: str, client: str, tinyproxy: str) -> list[str]:
    proxy = state / "proxy"
    _mkdir(proxy, 0o755)  # tinyproxy drops to nobody, who must still read the filter
    filter_text = "".join("^" + host.replace(".", r"\.") + "$\n" for host in PROXY_HOSTS)
    _write(proxy / "filter", filter_text)
    # No LogFile and no Syslog: in the foreground tinyproxy logs to stderr, which the
    # supervisor sends to proxy/tinyproxy.log.
    config = f"""\
# tinyproxy of lab host {state.name}: CONNECT to the package index only
User nobody
Group nogroup
Listen {gateway}
Port {PROXY_PORT}
Allow {client}
Timeout 600
MaxClients 64
LogLevel Connect
ConnectPort 443
Filter "{proxy / 'filter'}"
FilterType ere
FilterDefaultDeny Yes
DisableViaHeader Yes
"""
    _write(proxy / "tinyproxy.conf", config)
    return [tinyproxy, "-d", "-c", str(proxy / "tinyproxy.conf")]


def write_pip_conf(state: Path, gateway: str) -> None:
    _write(state / "fs" / "etc" / "pip.conf",
           f"[global]\nproxy = http://{gateway}:{PROXY_PORT}\ncert = /etc/ssl/certs/ca-certificates.crt\n")


def write_custombuild(state: Path, python: str, unitctl: str, unit_enabled: bool,
                      rewrite_confs: list[str] | None = None) -> None:
    """A stand-in for DirectAdmin's CustomBuild: `build set unit yes`, `build unit`, and
    `build rewrite_confs` when the lab is a DirectAdmin server (argv of lab/dactl.py's)."""
    cb = state / "fs" / "directadmin" / "custombuild"
    _mkdir(cb, 0o755)
    _write(cb / "options.conf", f"unit={'yes' if unit_enabled else 'no'}\n")
    _write(cb / "calls.log", "")
    start_unit = " ".join(shlex.quote(a) for a in (python, "-E", "-s", unitctl, str(state), "start"))
    rewrite = ("cd " + shlex.quote(str(Path(unitctl).parent.parent)) + " && exec "
               + " ".join(shlex.quote(a) for a in rewrite_confs)) if rewrite_confs else \
        "echo \"build rewrite_confs: this lab has no front web server (python -m lab up --front nginx)\" >&2; exit 2"
    script = f"""\
#!/bin/sh
# Lab stand-in for DirectAdmin's CustomBuild (only what the lab host needs):
#   build set OPTION VALUE   set OPTION=VALUE in options.conf
#   build unit               install/start NGINX Unit (needs unit=yes)
#   build rewrite_confs      Unit re-filled from DirectAdmin's storage, vhosts rewritten
# Every call is recorded, one line of argv each, in calls.log.
CB={CUSTOMBUILD}
printf '%s\\n' "$*" >> "$CB/calls.log"
case "$1" in
  set)
    if [ $# -ne 3 ]; then echo "usage: build set OPTION VALUE" >&2; exit 2; fi
    grep -v "^$2=" "$CB/options.conf" > "$CB/options.conf.new" || true
    echo "$2=$3" >> "$CB/options.conf.new"
    mv "$CB/options.conf.new" "$CB/options.conf"
    echo "Set $2 to $3 in $CB/options.conf"
    ;;
  unit)
    if ! grep -qx 'unit=yes' "$CB/options.conf"; then
      echo "build unit: NGINX Unit is not enabled in $CB/options.conf; run './build set unit yes' first" >&2
      exit 1
    fi
    exec {start_unit}
    ;;
  rewrite_confs)
    {rewrite}
    ;;
  *)
    echo "build: '$1' is not supported by the lab's CustomBuild stand-in (supported: set, unit, rewrite_confs)" >&2
    exit 2
    ;;
esac
"""
    _write(cb / "build", script, 0o755)
