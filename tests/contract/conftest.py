"""Fixtures for the control-API contract: one `unit_api` per implementation.

"double" runs `python -m lab.unit_double`; "real" runs NGINX Unit's unitd
(UNITD, then `unitd` on PATH, then /opt/unit/sbin/unitd; modules from
UNIT_MODULES or <prefix>/modules -- the lab's lookup, lab.host).  Both get fresh directories under /tmp,
short enough for a Unix socket path, and are stopped by the fixture.

The same test code runs against both.  Only where Unit's behaviour is about
worker processes (which the double cannot have) do tests branch on
`unit_api.kind`.
"""
from __future__ import annotations

import contextlib
import datetime
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import NameOID

from lab.host import find_unit_modules, find_unitd

pytest.register_assert_rewrite("tests.contract.helpers")

REPO = Path(__file__).resolve().parents[2]
START_TIMEOUT = 20.0

WSGI_APP = '''\
def application(environ, start_response):
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [b"hello from the contract suite"]
'''


# The lab's own lookup: $UNITD (only that one when set), unitd on PATH,
# /opt/unit/sbin/unitd; modules from $UNIT_MODULES or beside sbin.
UNITD = find_unitd()
NO_UNITD = ("no NGINX Unit daemon on this machine (looked at $UNITD, unitd on PATH, "
            "/opt/unit/sbin/unitd): the contract ran against the double only")


def wait_for(check: Callable[[], bool], timeout: float = 10.0, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


@dataclass
class Daemon:
    """One control-API server on base/control.sock, restartable on the same
    state directory."""

    kind: str
    base: Path
    unitd: Path | None = None
    proc: subprocess.Popen[bytes] | None = None
    main_pid: int | None = None

    @property
    def control(self) -> Path:
        return self.base / "control.sock"

    @property
    def log_path(self) -> Path:
        return self.base / "unit.log"

    @property
    def state_dir(self) -> Path:
        return self.base / "state"

    @property
    def pid_file(self) -> Path:
        return self.base / "unit.pid"

    @property
    def stderr_path(self) -> Path:
        """Where the daemon's start-up stderr goes (unitd's "started" line)."""
        return self.base / "stderr"

    def start(self) -> None:
        with self.stderr_path.open("ab") as stderr:
            self._launch(stderr.fileno())
        wait_for(self._ready, START_TIMEOUT, f"{self.kind} control socket")
        self.main_pid = int(self.pid_file.read_text())

    def _launch(self, stderr: int) -> None:
        if self.kind == "double":
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "lab.unit_double", "--control", str(self.control),
                 "--log", str(self.log_path), "--state", str(self.state_dir),
                 "--pid", str(self.pid_file)],
                cwd=REPO, stdin=subprocess.DEVNULL, stderr=stderr,
            )
        else:
            assert self.unitd is not None
            (self.base / "tmp").mkdir(exist_ok=True)
            self.state_dir.mkdir(exist_ok=True)
            argv = [str(self.unitd), "--control", f"unix:{self.control}",
                    "--statedir", str(self.state_dir), "--log", str(self.log_path),
                    "--pid", str(self.pid_file), "--tmpdir", str(self.base / "tmp")]
            modules = find_unit_modules(self.unitd)
            if modules is not None:
                argv += ["--modulesdir", str(modules)]
            # unitd daemonizes: this returns once the main process is forked off.
            subprocess.run(argv, check=True, stdin=subprocess.DEVNULL, stderr=stderr,
                           timeout=START_TIMEOUT)

    def _ready(self) -> bool:
        if self.proc is not None and self.proc.poll() is not None:
            raise AssertionError(f"the double exited with {self.proc.returncode}")
        if not self.control.exists() or not self.pid_file.exists():
            return False
        try:
            with httpx.Client(transport=httpx.HTTPTransport(uds=str(self.control)),
                              base_url="http://localhost", timeout=5) as client:
                return client.get("/config").status_code == 200
        except httpx.TransportError:
            return False

    def terminate(self) -> None:
        """SIGTERM: both implementations remove their socket on the way out."""
        if self.proc is not None:
            if self.proc.poll() is None:
                self.proc.send_signal(signal.SIGTERM)
        elif self.main_pid is not None and _pid_alive(self.main_pid):
            os.kill(self.main_pid, signal.SIGTERM)

    def wait_stopped(self, timeout: float) -> bool:
        if self.proc is not None:
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                return False
            return True
        pid = self.main_pid
        if pid is None:
            return True
        try:
            wait_for(lambda: not _pid_alive(pid), timeout, "unitd to stop")
        except AssertionError:
            return False
        return True

    def kill(self) -> None:
        """SIGKILL the daemon and everything it started."""
        if self.proc is not None:
            self.proc.kill()
            self.proc.wait()
            return
        if self.main_pid is None:
            return
        for pid in self.descendants():
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        with contextlib.suppress(ProcessLookupError):
            os.kill(self.main_pid, signal.SIGKILL)

    def stop(self) -> None:
        """Stop and wait; a daemon that does not stop is killed and reported."""
        self.terminate()
        stopped = self.wait_stopped(START_TIMEOUT)
        if not stopped:
            self.kill()
        self.proc = None
        self.main_pid = None
        assert stopped, f"the {self.kind} daemon did not stop on SIGTERM"

    def descendants(self) -> dict[int, str]:
        """pid -> process title of everything under the daemon's main process
        (read from /proc, so other unitd instances on the host are ignored)."""
        parents: dict[int, int] = {}
        titles: dict[int, str] = {}
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit():
                continue
            try:
                stat = (entry / "stat").read_text()
                cmdline = (entry / "cmdline").read_bytes()
            except OSError:
                continue
            parents[int(entry.name)] = int(stat.rsplit(")", 1)[1].split()[1])
            titles[int(entry.name)] = cmdline.replace(b"\0", b" ").decode(errors="replace").strip()
        found: dict[int, str] = {}
        for pid in parents:
            ancestor = parents.get(pid)
            while ancestor and ancestor != self.main_pid:
                ancestor = parents.get(ancestor)
            if ancestor == self.main_pid:
                found[pid] = titles[pid]
        return found


@dataclass
class UnitApi:
    kind: str  # "double" or "real"
    client: httpx.Client
    daemon: Daemon
    app_dir: Path  # world-readable: the real daemon runs apps as nobody

    @property
    def log_path(self) -> Path:
        return self.daemon.log_path

    def log_text(self) -> str:
        return self.daemon.log_path.read_text(errors="replace")

    def started(self, app: str) -> int:
        """How many "application started" lines unit.log holds for app: the
        restarts visible on both implementations."""
        return self.log_text().count(f'"{app}" application started')

    def worker_pids(self, app: str) -> set[int]:
        """Real daemon only: the PIDs of app's worker processes."""
        assert self.kind == "real", "the double has no worker processes"
        title = f'unit: "{app}" application'
        return {pid for pid, t in self.daemon.descendants().items() if t.startswith(title)}

    def python_app(self, **extra: object) -> dict[str, object]:
        """A Python application object for the contract's WSGI module."""
        app: dict[str, object] = {"type": "python", "path": str(self.app_dir), "module": "wsgi"}
        app.update(extra)
        return app


def _mounts_under(path: Path) -> list[str]:
    prefix = str(path.resolve()) + "/"
    points = [line.split()[4] for line in Path("/proc/self/mountinfo").read_text().splitlines()]
    return [p for p in points if p.startswith(prefix)]


def remove_tree(path: Path) -> None:
    """rmtree that never descends into a mount: a rootfs Unit could not
    unmount would hold bind mounts of the host's Python."""
    mounts = _mounts_under(path)
    if mounts:
        warnings.warn(f"left {path} in place: {len(mounts)} mounts inside", stacklevel=2)
        return
    shutil.rmtree(path, ignore_errors=True)


def _private_dir(prefix: str) -> Path:
    # Short paths: sun_path holds 108 bytes, pytest's tmp_path can be longer.
    return Path(tempfile.mkdtemp(prefix=prefix, dir="/tmp"))


@pytest.fixture
def app_dir() -> Path:
    """Removed by the reaper, once the daemon using it has stopped."""
    path = _private_dir("uc-app-")
    path.chmod(0o755)
    (path / "wsgi.py").write_text(WSGI_APP)
    (path / "wsgi.py").chmod(0o644)
    return path


class Reaper:
    """Stops daemons without making each test wait for it.

    unitd takes about two seconds to stop, and now and then never finishes:
    in 1.35.0 an application prototype may start a replacement worker while
    shutting down, then hang on a closed port, and the main process waits
    for it forever.  Teardown sends SIGTERM; the end of the session waits,
    kills what is left with its processes, and says so.
    """

    def __init__(self) -> None:
        self.pending: list[tuple[Daemon, list[Path]]] = []

    def add(self, daemon: Daemon, *paths: Path) -> None:
        daemon.terminate()
        self.pending.append((daemon, list(paths)))

    def finish(self) -> None:
        deadline = time.monotonic() + START_TIMEOUT
        for daemon, paths in self.pending:
            if not daemon.wait_stopped(max(0.1, deadline - time.monotonic())):
                daemon.kill()
                warnings.warn(f"{daemon.kind} daemon in {daemon.base} ignored SIGTERM; killed",
                              stacklevel=1)
            for path in paths:
                remove_tree(path)


@pytest.fixture(scope="session")
def reaper() -> Iterator[Reaper]:
    reaper = Reaper()
    yield reaper
    reaper.finish()


@pytest.fixture(params=[
    "double",
    pytest.param("real", marks=[pytest.mark.real_unitd,
                                pytest.mark.skipif(UNITD is None, reason=NO_UNITD)]),
])
def unit_api(request: pytest.FixtureRequest, app_dir: Path, reaper: Reaper) -> Iterator[UnitApi]:
    kind: str = request.param
    base = _private_dir("uc-")
    daemon = Daemon(kind, base, unitd=UNITD if kind == "real" else None)
    try:
        daemon.start()
        transport = httpx.HTTPTransport(uds=str(daemon.control))
        with httpx.Client(transport=transport, base_url="http://localhost",
                          timeout=30) as client:
            yield UnitApi(kind, client, daemon, app_dir)
    finally:
        reaper.add(daemon, base, app_dir)


# --- certificates made at test time ------------------------------------------------

NOT_BEFORE = datetime.datetime(2026, 1, 5, 3, 4, 5, tzinfo=datetime.UTC)
NOT_AFTER = datetime.datetime(2036, 2, 4, 13, 14, 15, tzinfo=datetime.UTC)
# ASN1_TIME_print of the two dates above, as Unit shows them.
SINCE_TEXT = "Jan  5 03:04:05 2026 GMT"
UNTIL_TEXT = "Feb  4 13:14:15 2036 GMT"


@dataclass(frozen=True)
class Pem:
    cert: bytes
    key: bytes

    @property
    def bundle(self) -> bytes:
        return self.cert + self.key


def make_cert(common_name: str, alt_names: tuple[str, ...], key_kind: str = "rsa",
              extra_subject: bool = False) -> Pem:
    key: rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey
    if key_kind == "rsa":
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    else:
        key = ec.generate_private_key(ec.SECP256R1())
    attrs = [x509.NameAttribute(NameOID.COMMON_NAME, common_name)]
    if extra_subject:
        attrs = [
            x509.NameAttribute(NameOID.COUNTRY_NAME, "DE"),
            x509.NameAttribute(NameOID.STATE_OR_PROVINCE_NAME, "Berlin"),
            x509.NameAttribute(NameOID.LOCALITY_NAME, "Berlin"),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Contract Org"),
            x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, "Web"),
            *attrs,
        ]
    name = x509.Name(attrs)
    builder = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
               .public_key(key.public_key()).serial_number(x509.random_serial_number())
               .not_valid_before(NOT_BEFORE).not_valid_after(NOT_AFTER))
    if alt_names:
        builder = builder.add_extension(
            x509.SubjectAlternativeName([x509.DNSName(n) for n in alt_names]), critical=False)
    cert = builder.sign(key, hashes.SHA256())
    return Pem(
        cert.public_bytes(serialization.Encoding.PEM),
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                          serialization.NoEncryption()),
    )


@pytest.fixture(scope="session")
def localhost_cert() -> Pem:
    return make_cert("localhost", ("localhost",))


@pytest.fixture(scope="session")
def ec_cert() -> Pem:
    return make_cert("shop.example", ("shop.example", "www.shop.example"),
                     key_kind="ec", extra_subject=True)
