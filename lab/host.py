"""The lab host: a DirectAdmin-like host made on this machine in about a second.

    lab = up("lab1")            # netns + veth, private mounts, sshd, Unit, package proxy
    lab.run(["id", "username"]) # as root inside the lab's namespaces
    down("lab1")                # every process, mount, link and file of it gone

A lab is one netns `dalab-NAME` (10.77.N.2, this machine is 10.77.N.1) and one mount
namespace held by a supervisor process (lab/supervisor.py), with its state in
`.lab/NAME/` (lab.json describes it). Nothing is added to this machine's accounts or
file system outside that directory.
"""

from __future__ import annotations

import dataclasses
import fcntl
import json
import os
import re
import select
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from lab import directadmin, layout, network, processes
from lab.deps import SYSTEM_PYTHON, ensure_dependencies, which
from lab.errors import LabCommandError, LabError

if TYPE_CHECKING:
    import paramiko

__all__ = [
    "FrontChoice", "LabCommandError", "LabError", "LabHost", "UnitChoice", "down", "down_all",
    "find_unit_modules", "find_unitd",
    "labs_dir", "list_labs", "up",
]

REPO = Path(__file__).resolve().parent.parent
UnitChoice = Literal["auto", "real", "double", "absent"]
FrontChoice = Literal["none", "nginx", "apache"]
_NAME_RE = re.compile(r"^[a-z0-9][a-z0-9-]{0,29}$")
_USER_RE = re.compile(r"^[a-z][a-z0-9]{0,15}$")
_DOMAIN_RE = re.compile(r"^(?=.{1,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$")
_READY_TIMEOUT = 30.0
# Supervisors started by this process: polled after down() so they leave no zombie.
_children: dict[str, subprocess.Popen[bytes]] = {}


def labs_dir() -> Path:
    """Where lab state lives: $DALAB_DIR, else .lab/ at the repository root."""
    return Path(os.environ.get("DALAB_DIR") or REPO / ".lab")


# --- finding a real unitd --------------------------------------------------------------

def find_unitd() -> Path | None:
    """A real unitd: $UNITD (only that one when set), else `unitd` on PATH, else /opt/unit/sbin/unitd."""
    explicit = os.environ.get("UNITD")
    if explicit:
        return Path(explicit) if os.access(explicit, os.X_OK) and os.path.isfile(explicit) else None
    for candidate in (shutil.which("unitd"), "/opt/unit/sbin/unitd"):
        if candidate and os.access(candidate, os.X_OK) and os.path.isfile(candidate):
            return Path(candidate)
    return None


def find_unit_modules(unitd: Path) -> Path | None:
    """Unit's modules dir: $UNIT_MODULES, else one beside sbin, else the built-in one."""
    explicit = os.environ.get("UNIT_MODULES")
    if explicit:
        return Path(explicit) if Path(explicit).is_dir() else None
    prefix = unitd.resolve().parent.parent
    # <prefix>/modules where --modulesdir was given, <prefix>/lib/unit/modules by
    # default for a --prefix build.
    for beside in (prefix / "modules", prefix / "lib" / "unit" / "modules"):
        if beside.is_dir():
            return beside
    try:
        out = subprocess.run([str(unitd), "--version"], capture_output=True, text=True, timeout=10, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return None
    m = re.search(r"--modulesdir=(\S+)", out.stdout + out.stderr)
    return Path(m.group(1)) if m and Path(m.group(1)).is_dir() else None


def _lab_python() -> str:
    """The interpreter for Python the lab runs from this repo (the Unit double).

    The caller's own (e.g. the project venv) unless it lives under /root, which the
    lab hides; then Debian's.
    """
    exe = sys.executable
    if os.path.realpath(exe).startswith("/root/") or exe.startswith("/root/"):
        return SYSTEM_PYTHON
    return exe


# --- the lab host --------------------------------------------------------------------

@dataclass
class LabHost:
    """One running lab host, as recorded in .lab/NAME/lab.json."""

    name: str
    address: str  # the lab's IP (sshd, Unit listeners)
    gateway: str  # this machine's IP on the lab link (the package proxy)
    host_key_line: str  # known_hosts line: "ADDRESS ssh-ed25519 AAAA..."
    host_public_key: str  # "ssh-ed25519 AAAA..."
    client_key_path: str  # root's private key (also authorised for da_user)
    known_hosts_path: str  # a known_hosts file holding host_key_line only
    da_user: str
    da_uid: int
    domain: str
    unit_kind: str  # "real" | "double" | "absent": what runs after up()
    unit_impl: str  # "real" | "double": what start_unit() and `build unit` start
    supervisor_pid: int
    supervisor_start: int  # start time in clock ticks (guards against pid reuse)
    state_dir: str
    netns: str
    index: int
    host_link: str
    proxy_url: str
    port: int = 22
    unit_socket: str = layout.UNIT_SOCKET
    unit_log: str = layout.UNIT_LOG
    front: str = "none"  # the front web server on :80/:443 ("nginx", "apache"), as on DirectAdmin
    unit_port: int = 0  # DirectAdmin's unit_port: Unit's listener on 127.0.0.1 behind the front
    ca_cert_path: str = ""  # the lab CA (domain certificate, API on 2222); "" without a front
    da_api_port: int = 0  # the DirectAdmin API stand-in (https://ADDRESS:2222); 0 without a front
    user_key_path: str = ""  # a private key authorised for da_user only (never for root)

    # -- persistence
    def to_json(self) -> str:
        return json.dumps(dataclasses.asdict(self), indent=2, sort_keys=True) + "\n"

    def save(self) -> None:
        path = Path(self.state_dir) / "lab.json"
        tmp = path.with_suffix(".json.tmp")
        tmp.write_text(self.to_json())
        tmp.replace(path)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> LabHost:
        known = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in known})

    @classmethod
    def load(cls, name: str) -> LabHost:
        path = labs_dir() / name / "lab.json"
        try:
            return cls.from_dict(json.loads(path.read_text()))
        except FileNotFoundError:
            raise LabError(f"no lab {name!r}: {path} does not exist (python -m lab up --name {name})") from None

    # -- facts
    @property
    def public_html(self) -> str:
        return f"/home/{self.da_user}/domains/{self.domain}/public_html"

    def is_running(self) -> bool:
        return (processes.is_alive(self.supervisor_pid, self.supervisor_start)
                and Path("/run/netns", self.netns).exists())

    def ssh_connections_accepted(self) -> int:
        """Connections the lab's sshd has authenticated so far.

        Its log (LogLevel INFO) has one "Accepted publickey for" line per
        authenticated connection; nothing but the lab's users talks to it.
        """
        log = Path(self.state_dir) / "ssh" / "sshd.log"
        try:
            return log.read_text(errors="replace").count("Accepted publickey for")
        except FileNotFoundError:
            return 0

    def host_path(self, lab_path: str) -> Path:
        """Where a path of the lab (e.g. /home/USER/..., /var/run/unit/control.sock) lives here."""
        return layout.host_path(Path(self.state_dir), lab_path)

    # -- acting inside the lab
    def run(self, argv: Sequence[str], input: str | bytes | None = None, check: bool = True, *,
            user: str | None = None, timeout: float | None = 120) -> subprocess.CompletedProcess[Any]:
        """Run argv inside the lab's network and mount namespaces, as root or as `user`.

        The environment is the lab's clean one, not the caller's. Output is text unless
        `input` is bytes.
        """
        if not self.is_running():
            raise LabError(f"lab {self.name!r} is not running")
        env = dict(layout.LAB_ENV)
        prefix = ["nsenter", "-t", str(self.supervisor_pid), "-m", "-n", "--"]
        if user is not None and user != "root":
            home = f"/home/{user}"
            env.update(HOME=home, USER=user, LOGNAME=user)
            prefix += ["setpriv", f"--reuid={user}", f"--regid={user}", "--init-groups", "--"]
        cmd = [*prefix, *argv]
        try:
            return subprocess.run(cmd, input=input, capture_output=True, text=not isinstance(input, bytes),
                                  check=check, env=env, cwd="/", timeout=timeout)
        except subprocess.CalledProcessError as exc:
            raise LabCommandError(self.name, exc.returncode, list(argv), exc.stdout, exc.stderr) from None

    # -- DirectAdmin (labs with a front web server)
    @property
    def da_api_url(self) -> str:
        return f"https://{self.address}:{self.da_api_port}"

    def da_login_key(self, account: str) -> str:
        """The login key of DirectAdmin account `account` (the lab user or "admin")."""
        path = Path(self.state_dir) / "client" / "da_login_keys.json"
        try:
            return str(json.loads(path.read_text())[account])
        except (FileNotFoundError, KeyError):
            raise LabError(f"lab {self.name}: no DirectAdmin login key for {account!r} "
                           "(only labs with a front web server have the API)") from None

    def refill(self) -> None:
        """DirectAdmin's `nginx_unit` rewrite task: Unit's config replaced from its stored apps/routes."""
        self._dactl("refill")

    def rewrite_confs(self) -> None:
        """`da build rewrite_confs`, as CustomBuild runs it (refill, then the vhosts rewritten)."""
        self.run([f"{layout.CUSTOMBUILD}/build", "rewrite_confs"])

    def _dactl(self, *args: str) -> None:
        if self.front == "none":
            raise LabError(f"lab {self.name} is not a DirectAdmin server with a front web server "
                           f"(python -m lab up --name {self.name} --front nginx)")
        self.run(["sh", "-c", 'cd "$1" && shift && exec "$@"', "sh", str(REPO),
                  SYSTEM_PYTHON, "-E", "-s", "-m", "lab.dactl", self.state_dir, *args])

    def unit_running(self) -> bool:
        """True when the control socket answers GET /config (checked from this machine)."""
        return _socket_answers(self.host_path(self.unit_socket))

    def start_unit(self) -> None:
        """Start Unit (self.unit_impl) in the lab; returns once the control socket answers."""
        self.run([SYSTEM_PYTHON, "-E", "-s", str(REPO / "lab" / "unitctl.py"), self.state_dir, "start"])

    def stop_unit(self) -> None:
        self.run([SYSTEM_PYTHON, "-E", "-s", str(REPO / "lab" / "unitctl.py"), self.state_dir, "stop"])

    def unit_pids(self) -> list[int]:
        """Pids of Unit in the lab: unitd's main, controller, router and app processes, or the double."""
        net = processes.ns_id(Path("/run/netns", self.netns))
        if net is None:
            return []
        found = []
        for pid in processes.lab_pids(net, None, set()):
            argv = processes.cmdline(pid)
            if argv and (argv[0].startswith("unit: ") or "lab.unit_double" in argv):
                found.append(pid)
        return sorted(found)

    # -- reaching it over SSH
    def ssh_argv(self, *command: str, user: str = "root") -> list[str]:
        """An OpenSSH client command line with the pinned host key and the lab's key."""
        return ["ssh", "-i", self.client_key_path, "-o", f"UserKnownHostsFile={self.known_hosts_path}",
                "-o", "StrictHostKeyChecking=yes", "-o", "IdentitiesOnly=yes", "-o", "BatchMode=yes",
                "-o", "GlobalKnownHostsFile=/dev/null", "-p", str(self.port), f"{user}@{self.address}",
                *command]

    def ssh_client(self, user: str = "root", timeout: float = 10.0) -> paramiko.SSHClient:
        """A connected paramiko client: host key pinned, unknown keys rejected."""
        import paramiko

        client = paramiko.SSHClient()
        client.load_host_keys(self.known_hosts_path)
        client.set_missing_host_key_policy(paramiko.RejectPolicy())
        sock = socket.create_connection((self.address, self.port), timeout=timeout)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)  # paramiko leaves Nagle on
        client.connect(self.address, self.port, username=user, key_filename=self.client_key_path,
                       sock=sock, allow_agent=False, look_for_keys=False, timeout=timeout)
        return client


def _tail(text: str | bytes | None, limit: int = 2000) -> str:
    if text is None:
        return ""
    if isinstance(text, bytes):
        text = text.decode(errors="replace")
    return text[-limit:].strip()


def _socket_answers(path: Path) -> bool:
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
            s.settimeout(1.0)
            s.connect(str(path))
            s.sendall(b"GET /config HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
            return s.recv(64)[9:12] == b"200"
    except OSError:
        return False


# --- up / down ------------------------------------------------------------------------

@contextmanager
def _lock() -> Iterator[None]:
    """Serialise up/down of labs in this state dir (across processes)."""
    root = labs_dir()
    root.mkdir(parents=True, exist_ok=True)
    os.chmod(root, 0o755)  # tinyproxy (nobody) reads its filter below it
    fd = os.open(root, os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


def _validate(name: str, unit: str, user: str, domain: str, front: str = "none") -> None:
    if front not in directadmin.FRONTS:
        raise LabError(f"front={front!r}: use none, nginx or apache (the web server on :80 and :443)")
    if not _NAME_RE.match(name):
        raise LabError(f"lab name {name!r}: use 1-30 of a-z 0-9 - (it names a netns and a directory)")
    if unit not in ("auto", "real", "double", "absent"):
        raise LabError(f"unit={unit!r}: use auto, real, double or absent")
    if not _USER_RE.match(user):
        raise LabError(f"user {user!r}: DirectAdmin user names are a lowercase letter then a-z 0-9")
    if not _DOMAIN_RE.match(domain):
        raise LabError(f"domain {domain!r} is not a lowercase DNS name")


def up(name: str = "lab1", *, unit: UnitChoice = "auto", user: str = "username",
       domain: str = "example.com", front: FrontChoice = "nginx") -> LabHost:
    """Make lab host `name`, or return it when it already runs with the same settings.

    front: "nginx" (the default) or "apache" makes the lab a DirectAdmin server in front of
    Unit (see lab/directadmin.py), as a real one is; "none" leaves :80 to Unit itself.
    """
    _validate(name, unit, user, domain, front)
    if os.geteuid() != 0:
        raise LabError("the lab host needs root (network and mount namespaces)")
    ensure_dependencies()
    directadmin.check_front_installed(front)
    with _lock():
        state = labs_dir() / name
        existing = _read_lab(state)
        if existing is not None and existing.is_running():
            _check_same(existing, unit, user, domain, front)
            return existing
        ns = network.netns_name(name)
        if existing is None and network.netns_exists(ns):
            raise LabError(f"netns {ns} exists but {state} does not describe it (another checkout's lab?); "
                           f"remove it with: python -m lab down --name {name}")
        if existing is not None or state.exists():
            _down_locked(name)  # stale: e.g. after a reboot
        try:
            return _create(name, unit, user, domain, front)
        except BaseException:
            _down_locked(name)
            raise


def _read_lab(state: Path) -> LabHost | None:
    try:
        return LabHost.from_dict(json.loads((state / "lab.json").read_text()))
    except (OSError, ValueError, TypeError):
        return None


def _check_same(lab: LabHost, unit: str, user: str, domain: str, front: str = "none") -> None:
    wanted_kind = None if unit == "auto" else unit
    if (lab.da_user != user or lab.domain != domain or (wanted_kind and wanted_kind != lab.unit_kind)
            or lab.front != front):
        raise LabError(f"lab {lab.name} already runs with user={lab.da_user} domain={lab.domain} "
                       f"unit={lab.unit_kind} front={lab.front}; take it down first to change that")


def _resolve_unit(unit: str) -> tuple[str, str, str | None, str | None]:
    """(unit_kind, unit_impl, unitd, modules) for a requested unit choice."""
    unitd = find_unitd()
    modules = find_unit_modules(unitd) if unitd else None
    have_real = unitd is not None and modules is not None
    if unit == "real" and not have_real:
        raise LabError("unit='real' but no usable unitd: set UNITD (and UNIT_MODULES), put unitd on PATH "
                       "or install it under /opt/unit")
    impl = "double" if unit == "double" or not have_real else "real"
    kind = "absent" if unit == "absent" else impl
    return kind, impl, str(unitd) if have_real else None, str(modules) if have_real else None


def _prepare_directadmin(state: Path, user: str, domain: str, address: str, front: str,
                         unit_enabled: bool) -> tuple[dict[str, Any], list[Any], str]:
    """CustomBuild and DirectAdmin's files (and with a front server its certificates, login
    keys and processes): (plan["directadmin"], plan["services"], the lab CA's path or "")."""
    rewrite_confs = None if front == "none" else \
        [SYSTEM_PYTHON, "-E", "-s", "-m", "lab.dactl", str(state), "rewrite-confs"]
    layout.write_custombuild(state, SYSTEM_PYTHON, str(REPO / "lab" / "unitctl.py"), unit_enabled,
                             rewrite_confs=rewrite_confs)
    directadmin.write_data_tree(state, user, domain, address, front)
    directadmin.write_da_binary(state, SYSTEM_PYTHON, REPO)
    if front == "none":
        return {"front": "none", "unit_checks": False}, [], ""
    ca = directadmin.write_certificates(state, user, domain, address)
    directadmin.write_login_keys(state, user)
    da_plan, services = directadmin.plan_entries(state, front, address, SYSTEM_PYTHON, REPO)
    return da_plan, services, str(ca)


def _create(name: str, unit: str, user: str, domain: str, front: str = "none") -> LabHost:
    state = labs_dir() / name
    state.mkdir(mode=0o755)
    os.chmod(state, 0o755)
    unit_kind, unit_impl, unitd, modules = _resolve_unit(unit)
    tinyproxy = which("tinyproxy")
    if tinyproxy is None:
        raise LabError("tinyproxy not found")
    client_key, user_key = state / "client" / "id_ed25519", state / "client" / "user_ed25519"
    host_key = state / "ssh" / "ssh_host_ed25519_key"
    # Keys are made while the network is set up. A second, RSA host key lets tests show that
    # the pinned key's type is the one negotiated when a host offers several (as real servers do).
    rsa_host_key = state / "ssh" / "ssh_host_rsa_key"
    jobs = [layout.keygen(client_key, f"dalab-{name}-root"), layout.keygen(host_key, f"dalab-{name}-host"),
            layout.keygen(rsa_host_key, f"dalab-{name}-host-rsa", "rsa"),
            layout.keygen(user_key, f"dalab-{name}-{user}")]
    net = network.create(name)
    client_pub = layout.wait_keygen(jobs[0], client_key)
    host_pub = layout.wait_keygen(jobs[1], host_key)
    layout.wait_keygen(jobs[2], rsa_host_key)
    user_pub = layout.wait_keygen(jobs[3], user_key)
    os.chmod(client_key.parent, 0o700)

    passwd, group = Path("/etc/passwd").read_text(), Path("/etc/group").read_text()
    uid = layout.pick_uid(passwd, group)
    layout.write_accounts(state, user, uid)
    layout.write_tree(state, user, uid, domain, client_pub, user_pub)
    sshd_argv = layout.write_sshd(state, net.address)
    proxy_argv = layout.write_proxy(state, net.gateway, net.address, tinyproxy)
    layout.write_pip_conf(state, net.gateway)
    da_plan, services, ca = _prepare_directadmin(state, user, domain, net.address, front,
                                                 unit_kind != "absent")
    known_hosts = state / "known_hosts"
    known_hosts.write_text(f"{net.address} {host_pub}\n")
    unit_plan = {"impl": unit_impl, "start": unit_kind != "absent", "unitd": unitd, "modules": modules}
    _write_plan(state, net, {"sshd": sshd_argv, "proxy": proxy_argv}, unit_plan, da_plan, services)
    pid = _start_supervisor(name, state, net.netns)
    lab = LabHost(
        name=name, address=net.address, gateway=net.gateway,
        host_key_line=f"{net.address} {host_pub}", host_public_key=host_pub,
        client_key_path=str(client_key), known_hosts_path=str(known_hosts),
        da_user=user, da_uid=uid, domain=domain, unit_kind=unit_kind, unit_impl=unit_impl,
        supervisor_pid=pid, supervisor_start=processes.start_ticks(pid) or 0,
        state_dir=str(state), netns=net.netns, index=net.index, host_link=net.host_link,
        proxy_url=f"http://{net.gateway}:{layout.PROXY_PORT}",
        front=front, unit_port=directadmin.UNIT_PORT, ca_cert_path=ca,
        da_api_port=directadmin.API_PORT if services else 0, user_key_path=str(user_key),
    )
    lab.save()
    return lab


def _write_plan(state: Path, net: network.LabNet, argv: dict[str, list[str]], unit: dict[str, Any],
                da_plan: dict[str, Any], services: list[Any]) -> None:
    """plan.json: what the supervisor (and unitctl, dactl inside the lab) set up and start."""
    plan = {
        "name": state.name, "state_dir": str(state), "repo": str(REPO),
        "address": net.address, "gateway": net.gateway,
        "python": SYSTEM_PYTHON, "unitctl": str(REPO / "lab" / "unitctl.py"), "env": layout.LAB_ENV,
        "scratch": str(state / "scratch"),
        "binds": [{"src": str(state / m.source), "dst": m.lab_path, "kind": m.kind} for m in layout.MOUNTS],
        # The lab's own code and state must stay visible inside it even when they
        # live under a path the lab overmounts (a checkout under /tmp or /root).
        "keep_visible": [str(REPO), str(state)],
        "sshd": {"argv": argv["sshd"], "port": 22},
        "proxy": {"argv": argv["proxy"], "port": layout.PROXY_PORT},
        "unit": {
            **unit,
            "double_argv": [_lab_python(), "-m", "lab.unit_double", "--control", layout.UNIT_SOCKET,
                            "--log", layout.UNIT_LOG, "--state", layout.UNIT_STATE],
            "socket": layout.UNIT_SOCKET, "log": layout.UNIT_LOG, "state": layout.UNIT_STATE,
        },
        "directadmin": da_plan, "services": services,
    }
    (state / "plan.json").write_text(json.dumps(plan, indent=2) + "\n")


def _start_supervisor(name: str, state: Path, ns: str) -> int:
    """Start the supervisor in the netns and a new mount namespace; its pid once it is ready."""
    read_end, write_end = os.pipe()
    hostnet = os.open("/proc/self/ns/net", os.O_RDONLY)
    argv = ["ip", "netns", "exec", ns, "unshare", "--mount", "--propagation", "private", "--",
            SYSTEM_PYTHON, "-E", "-s", str(REPO / "lab" / "supervisor.py"), str(state),
            str(write_end), str(hostnet)]
    with open(state / "supervisor.log", "ab") as log:
        proc = subprocess.Popen(argv, pass_fds=(write_end, hostnet), stdin=subprocess.DEVNULL,
                                stdout=log, stderr=log, env=layout.LAB_ENV, cwd="/",
                                start_new_session=True)  # outlives the CLI that made it
    os.close(write_end)
    os.close(hostnet)
    _children[name] = proc
    # The supervisor keeps our pid: ip netns exec and unshare exec, they do not fork.
    (state / "supervisor.pid").write_text(f"{proc.pid}\n")
    message = _read_ready(read_end, proc)
    if message != "ready":
        log_tail = _tail((state / "supervisor.log").read_text(errors="replace"))
        raise LabError(f"lab {name} did not come up: {message}\n--- supervisor.log ---\n{log_tail}")
    return proc.pid


def _read_ready(fd: int, proc: subprocess.Popen[bytes]) -> str:
    deadline = time.monotonic() + _READY_TIMEOUT
    data = b""
    try:
        while b"\n" not in data:
            left = deadline - time.monotonic()
            if left <= 0:
                return f"no answer from the supervisor in {_READY_TIMEOUT:.0f} s"
            ready, _, _ = select.select([fd], [], [], left)
            if ready:
                chunk = os.read(fd, 4096)
                if not chunk:
                    return f"supervisor exited (status {proc.wait(timeout=5)})"
                data += chunk
    finally:
        os.close(fd)
    return data.decode(errors="replace").strip()


def down(name: str) -> bool:
    """Remove lab `name` entirely; True if there was anything to remove."""
    if not _NAME_RE.match(name):
        raise LabError(f"lab name {name!r} is not valid")
    with _lock():
        return _down_locked(name)


def _down_locked(name: str) -> bool:
    state = labs_dir() / name
    lab = _read_lab(state)
    ns = network.netns_name(name)
    net = processes.ns_id(Path("/run/netns", ns))
    roots: set[int] = set()
    mnt = None
    pid = lab.supervisor_pid if lab else _read_pid(state / "supervisor.pid")
    if pid and processes.is_alive(pid, lab.supervisor_start if lab else None):
        roots.add(pid)
        # Only while the supervisor lives is its mount ns id surely this lab's.
        mnt = processes.ns_id(f"/proc/{pid}/ns/mnt")
    proxy = _read_pid_ticks(state / "proxy" / "tinyproxy.pid")
    if proxy and processes.is_alive(*proxy):
        roots.add(proxy[0])
    found = bool(roots) or net is not None or state.exists()
    if roots or net is not None:
        left = processes.kill_all(net, mnt, roots)
        if left:
            raise LabError(f"lab {name}: processes survive SIGKILL: {sorted(left)}")
    child = _children.pop(name, None)
    if child is not None:
        child.poll()  # reap our own supervisor
    network.destroy(ns, lab.host_link if lab else None)
    if state.exists():
        shutil.rmtree(state)
    return found


def _read_pid(path: Path) -> int | None:
    try:
        return int(path.read_text().strip())
    except (OSError, ValueError):
        return None


def _read_pid_ticks(path: Path) -> tuple[int, int] | None:
    try:
        pid, ticks = path.read_text().split()
        return int(pid), int(ticks)
    except (OSError, ValueError):
        return None


def list_labs() -> list[LabHost]:
    """The labs recorded in labs_dir() (running or stale)."""
    root = labs_dir()
    if not root.is_dir():
        return []
    labs = [_read_lab(d) for d in sorted(root.iterdir()) if d.is_dir()]
    return [lab for lab in labs if lab is not None]


def down_all() -> list[str]:
    """Remove every lab of labs_dir() and every dalab-* netns on this machine."""
    names = set()
    root = labs_dir()
    if root.is_dir():
        names |= {d.name for d in root.iterdir() if d.is_dir() and _NAME_RE.match(d.name)}
    names |= {ns[len(network.NETNS_PREFIX):] for ns in network.list_netns()
              if ns.startswith(network.NETNS_PREFIX)}
    return [name for name in sorted(names) if down(name)]
