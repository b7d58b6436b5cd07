"""The lab host against real processes: namespaces, sshd, Unit, the pip proxy, teardown."""

from __future__ import annotations

import json
import os
import pwd
import socket
import stat
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import httpx
import paramiko  # type: ignore[import-untyped]
import pytest

from lab import network, processes
from lab.errors import LabError
from lab.host import REPO, LabHost, down, find_unit_modules, find_unitd, up
from lab.layout import host_path

CB = "/usr/local/directadmin/custombuild"


def report(capsys: pytest.CaptureFixture[str], message: str) -> None:
    """Timings go to the terminal even under -q (they are reported, not asserted)."""
    with capsys.disabled():
        print(f"\n    [lab] {message}")


def unit_api(lab: LabHost) -> httpx.Client:
    """An httpx client on the lab's control socket, reached from this machine."""
    transport = httpx.HTTPTransport(uds=str(lab.host_path(lab.unit_socket)))
    return httpx.Client(transport=transport, base_url="http://localhost", timeout=10)


def ssh_exec(client: paramiko.SSHClient, command: str) -> tuple[int, str, str]:
    _, stdout, stderr = client.exec_command(command, timeout=60)
    out, err = stdout.read().decode(), stderr.read().decode()
    return stdout.channel.recv_exit_status(), out, err


# --- pure: no root needed ---------------------------------------------------------------

def test_host_path_maps_private_lab_paths_into_the_state_dir() -> None:
    state = Path("/x/.lab/n")
    assert host_path(state, "/var/run/unit/control.sock") == state / "fs/run/unit/control.sock"
    assert host_path(state, "/run/unit/control.sock") == state / "fs/run/unit/control.sock"
    assert host_path(state, "/home/username/domains/example.com/public_html") == \
        state / "fs/home/username/domains/example.com/public_html"
    assert host_path(state, "/usr/local/directadmin/custombuild/build") == \
        state / "fs/directadmin/custombuild/build"
    assert host_path(state, "/var/log/unit/unit.log") == state / "fs/unit-log/unit.log"
    assert host_path(state, "/var/lib/unit") == state / "fs/unit-state"
    assert host_path(state, "/etc/passwd") == state / "fs/etc/passwd"
    assert host_path(state, "/root/.ssh/authorized_keys") == state / "fs/root/.ssh/authorized_keys"
    # shared with this machine: maps to itself
    assert host_path(state, "/usr/bin/python3.11") == Path("/usr/bin/python3.11")
    assert host_path(state, "/etc/ssl/certs/ca-certificates.crt") == Path("/etc/ssl/certs/ca-certificates.crt")
    assert host_path(state, "/homework") == Path("/homework")


def test_find_unitd_honours_unitd_and_unit_modules(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    fake = tmp_path / "sbin" / "unitd"
    fake.parent.mkdir()
    fake.write_text("#!/bin/sh\n")
    fake.chmod(0o755)
    (tmp_path / "modules").mkdir()
    monkeypatch.setenv("UNITD", str(fake))
    monkeypatch.delenv("UNIT_MODULES", raising=False)
    assert find_unitd() == fake
    assert find_unit_modules(fake) == tmp_path / "modules"  # <prefix>/modules beside sbin
    monkeypatch.setenv("UNIT_MODULES", str(tmp_path))
    assert find_unit_modules(fake) == tmp_path
    # An explicit UNITD that is not there means "none", not "look elsewhere".
    monkeypatch.setenv("UNITD", str(tmp_path / "missing"))
    assert find_unitd() is None


def test_up_rejects_bad_names() -> None:
    with pytest.raises(LabError, match="lab name"):
        up("Bad_Name")
    with pytest.raises(LabError, match="unit="):
        up("ok", unit="sometimes")  # type: ignore[arg-type]


# --- one lab for the session ----------------------------------------------------------

def test_lab_json_describes_the_lab(lab_host: LabHost) -> None:
    state = Path(lab_host.state_dir)
    data = json.loads((state / "lab.json").read_text())
    assert LabHost.load(lab_host.name) == lab_host == LabHost.from_dict(data)
    assert lab_host.port == 22
    assert lab_host.address == f"10.77.{lab_host.index}.2"
    assert lab_host.gateway == f"10.77.{lab_host.index}.1"
    assert lab_host.unit_socket == "/var/run/unit/control.sock"
    assert lab_host.unit_log == "/var/log/unit/unit.log"
    assert lab_host.unit_kind in ("real", "double")
    kind, key = lab_host.host_public_key.split()
    assert kind == "ssh-ed25519" and key.startswith("AAAA")
    assert lab_host.host_key_line == f"{lab_host.address} {lab_host.host_public_key}"
    assert Path(lab_host.known_hosts_path).read_text().strip() == lab_host.host_key_line
    assert stat.S_IMODE(os.stat(lab_host.client_key_path).st_mode) == 0o600
    assert lab_host.is_running()


def test_network_is_the_link_only(lab_host: LabHost) -> None:
    addrs = lab_host.run(["ip", "-4", "-o", "addr", "show"]).stdout
    assert f"inet {lab_host.address}/24" in addrs and "inet 127.0.0.1/8" in addrs
    routes = lab_host.run(["ip", "-4", "route", "show"]).stdout
    assert "default" not in routes
    assert routes.strip().splitlines() == [line for line in routes.strip().splitlines()
                                           if line.startswith(f"10.77.{lab_host.index}.0/24")]
    # Nothing beyond the link: no route, so the kernel refuses without sending a packet.
    probe = "import socket\ntry:\n socket.create_connection(('198.51.100.1', 443), timeout=3)\n" \
            " print('connected')\nexcept OSError as e:\n print(e.errno)\n"
    assert lab_host.run(["python3", "-c", probe]).stdout.strip() == "101"  # ENETUNREACH


def test_ssh_login_with_the_pinned_key_is_fast(lab_host: LabHost, capsys: pytest.CaptureFixture[str]) -> None:
    started = time.monotonic()
    client = lab_host.ssh_client()
    connected = time.monotonic()
    try:
        rc, out, _ = ssh_exec(client, "echo $HOME; id")
        took = time.monotonic() - connected
        assert rc == 0
        assert out.splitlines()[0] == "/root"
        assert out.splitlines()[1].startswith("uid=0(root) gid=0(root)")
        rc, out, _ = ssh_exec(client, "env")
        assert "PYENV" not in out and ".pyenv" not in out
    finally:
        client.close()
    report(capsys, f"paramiko connect+auth {connected - started:.3f} s, exec 'echo $HOME; id' {took:.3f} s")
    # OpenSSH's client with the same pin
    started = time.monotonic()
    result = subprocess.run(lab_host.ssh_argv("echo $HOME; id -un"), capture_output=True, text=True,
                            timeout=30, check=False)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["/root", "root"]
    report(capsys, f"ssh CLI 'echo $HOME; id -un' {time.monotonic() - started:.3f} s")


def test_unknown_or_wrong_host_key_is_rejected(lab_host: LabHost, tmp_path: Path) -> None:
    # Nothing pinned: RejectPolicy refuses.
    client = paramiko.SSHClient()
    client.set_missing_host_key_policy(paramiko.RejectPolicy())
    with pytest.raises(paramiko.SSHException, match="not found in known_hosts"):
        client.connect(lab_host.address, lab_host.port, username="root", key_filename=lab_host.client_key_path,
                       allow_agent=False, look_for_keys=False, timeout=10)
    client.close()
    # Another key pinned for the address: refused as a bad host key.
    other = tmp_path / "other"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(other)], check=True)
    wrong = tmp_path / "known_hosts"
    wrong.write_text(f"{lab_host.address} {' '.join(other.with_suffix('.pub').read_text().split()[:2])}\n")
    client = paramiko.SSHClient()
    client.load_host_keys(str(wrong))
    client.set_missing_host_key_policy(paramiko.RejectPolicy())
    with pytest.raises(paramiko.BadHostKeyException):
        client.connect(lab_host.address, lab_host.port, username="root", key_filename=lab_host.client_key_path,
                       allow_agent=False, look_for_keys=False, timeout=10)
    client.close()
    # OpenSSH's client with an empty known_hosts and strict checking: refused too.
    empty = tmp_path / "empty"
    empty.write_text("")
    argv = lab_host.ssh_argv("true")
    argv[argv.index(f"UserKnownHostsFile={lab_host.known_hosts_path}")] = f"UserKnownHostsFile={empty}"
    result = subprocess.run(argv, capture_output=True, text=True, timeout=30, check=False)
    assert result.returncode == 255 and "Host key verification failed" in result.stderr


def test_directadmin_user_and_site_tree(lab_host: LabHost) -> None:
    user, domain = lab_host.da_user, lab_host.domain
    assert lab_host.run(["id", "-u", user]).stdout.strip() == str(lab_host.da_uid)
    assert lab_host.run(["getent", "passwd", user]).stdout.strip() == \
        f"{user}:x:{lab_host.da_uid}:{lab_host.da_uid}:DirectAdmin user:/home/{user}:/bin/bash"
    paths = [f"/home/{user}", f"/home/{user}/domains", f"/home/{user}/domains/{domain}", lab_host.public_html]
    out = lab_host.run(["stat", "-c", "%U:%G %a %n", *paths]).stdout.splitlines()
    assert out == [f"{user}:{user} 711 {paths[0]}", f"{user}:{user} 711 {paths[1]}",
                   f"{user}:{user} 711 {paths[2]}", f"{user}:{user} 755 {paths[3]}"]
    # The same tree seen from this machine, by uid (the user does not exist here).
    st = os.stat(lab_host.host_path(lab_host.public_html))
    assert (st.st_uid, st.st_gid, stat.S_IMODE(st.st_mode)) == (lab_host.da_uid, lab_host.da_uid, 0o755)
    with pytest.raises(KeyError):
        pwd.getpwnam(user)
    assert f"\n{user}:" not in "\n" + Path("/etc/passwd").read_text()
    # The user can write its own site and runs commands as itself.
    assert lab_host.run(["id", "-un"], user=user).stdout.strip() == user
    lab_host.run(["touch", f"{lab_host.public_html}/.probe"], user=user)
    assert os.stat(lab_host.host_path(f"{lab_host.public_html}/.probe")).st_uid == lab_host.da_uid


def test_private_dirs_stay_in_the_lab(lab_host: LabHost) -> None:
    # /root of the lab is minimal: no pyenv init from this machine's .bashrc.
    assert "pyenv" not in lab_host.run(["cat", "/root/.bashrc", "/root/.profile"]).stdout
    assert lab_host.run(["stat", "-c", "%a", "/root"]).stdout.strip() == "700"
    marker = f"lab-probe-{lab_host.name}"
    for lab_dir in ("/tmp", "/usr/local/directadmin", "/var/log/unit", "/var/lib/unit", "/run/unit"):
        lab_host.run(["touch", f"{lab_dir}/{marker}"])
        assert lab_host.host_path(f"{lab_dir}/{marker}").exists()
        assert not Path(lab_dir, marker).exists(), f"{lab_dir} of the lab leaks onto this machine"
        lab_host.run(["rm", f"{lab_dir}/{marker}"])
    conf = lab_host.run(["cat", "/etc/pip.conf"]).stdout
    assert f"proxy = {lab_host.proxy_url}" in conf and "cert = /etc/ssl/certs/ca-certificates.crt" in conf


def test_unit_control_socket_answers(lab_host: LabHost) -> None:
    with unit_api(lab_host) as api:
        response = api.get("/config")
    assert response.status_code == 200
    assert {"listeners", "applications"} <= set(response.json())
    assert lab_host.unit_running()
    assert lab_host.unit_pids()
    # The socket is root's only, as on DirectAdmin.
    assert lab_host.run(["stat", "-c", "%U %a", "/var/run/unit/control.sock"]).stdout.split() == ["root", "600"]


def test_pip_reaches_the_index_through_the_proxy(lab_host: LabHost, capsys: pytest.CaptureFixture[str]) -> None:
    for who, venv in ((lab_host.da_user, "/tmp/venv-user"), ("root", "/tmp/venv-root")):
        started = time.monotonic()
        script = (f"/usr/bin/python3.11 -m venv {venv} && {venv}/bin/pip install -q --no-input flask && "
                  f"{venv}/bin/python -c 'import flask; print(flask.__name__)'")
        result = lab_host.run(["sh", "-c", script], user=who, timeout=600)
        assert result.stdout.strip().splitlines()[-1] == "flask"
        report(capsys, f"venv + pip install flask as {who}: {time.monotonic() - started:.1f} s")
        lab_host.run(["rm", "-rf", venv])
    log = (Path(lab_host.state_dir) / "proxy" / "tinyproxy.log").read_text()
    assert "CONNECT pypi.org:443" in log and "CONNECT files.pythonhosted.org:443" in log


def test_proxy_refuses_every_other_host(lab_host: LabHost) -> None:
    probe = f"""
import socket, sys
for target in sys.argv[1:]:
    s = socket.create_connection(("{lab_host.gateway}", 3128), timeout=10)
    s.sendall(f"CONNECT {{target}} HTTP/1.1\\r\\nHost: {{target}}\\r\\n\\r\\n".encode())
    print(target, s.recv(100).split(b"\\r\\n")[0].decode().split(" ", 2)[1])
    s.close()
"""
    targets = ["example.com:443", "pypi.org.evil.test:443", "evilpypi.org:443", "198.51.100.7:443",
               "pypi.org:22", "pypi.org:443"]
    out = lab_host.run(["python3", "-c", probe, *targets]).stdout.split()
    statuses = dict(zip(out[::2], out[1::2], strict=True))
    assert statuses == {"example.com:443": "403", "pypi.org.evil.test:443": "403", "evilpypi.org:443": "403",
                        "198.51.100.7:443": "403", "pypi.org:22": "403", "pypi.org:443": "200"}
    # The proxy listens on the lab link only.
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", 3128), timeout=2).close()


# --- more labs --------------------------------------------------------------------------

def test_two_labs_at_once_are_separate(lab_host: LabHost, lab_factory: Callable[..., LabHost],
                                        tmp_path: Path) -> None:
    other = lab_factory("second", front="none")
    assert other.address != lab_host.address and other.netns != lab_host.netns
    assert other.host_public_key != lab_host.host_public_key
    lab_host.run(["touch", f"/home/{lab_host.da_user}/only-in-{lab_host.name}"])
    assert other.run(["ls", "-a", f"/home/{other.da_user}"]).stdout.split() == [".", "..", ".ssh", "domains"]
    for lab in (lab_host, other):
        client = lab.ssh_client()
        assert ssh_exec(client, "hostname -I")[1].split() == [lab.address]
        client.close()
        with unit_api(lab) as api:
            assert api.get("/config").status_code == 200
    # Each lab's pin is its own: the first lab's key pinned for the second is refused.
    crossed = tmp_path / "known_hosts"
    crossed.write_text(f"{other.address} {lab_host.host_public_key}\n")
    client = paramiko.SSHClient()
    client.load_host_keys(str(crossed))
    client.set_missing_host_key_policy(paramiko.RejectPolicy())
    with pytest.raises(paramiko.BadHostKeyException):
        client.connect(other.address, username="root", key_filename=other.client_key_path,
                       allow_agent=False, look_for_keys=False, timeout=10)
    client.close()
    lab_host.run(["rm", f"/home/{lab_host.da_user}/only-in-{lab_host.name}"])


def test_custombuild_stand_in_enables_unit(lab_factory: Callable[..., LabHost]) -> None:
    lab = lab_factory("absent", unit="absent", front="none")
    assert lab.unit_kind == "absent" and lab.unit_impl in ("real", "double")
    assert not lab.unit_running() and lab.unit_pids() == []
    client = lab.ssh_client()
    try:
        rc, _, err = ssh_exec(client, f"{CB}/build unit")
        assert rc == 1 and "build set unit yes" in err
        rc, _, _ = ssh_exec(client, f"cd {CB} && ./build set unit yes")
        assert rc == 0
        assert "unit=yes" in lab.host_path(f"{CB}/options.conf").read_text().splitlines()
        rc, out, err = ssh_exec(client, f"cd {CB} && ./build unit")
        assert rc == 0, err
        assert lab.unit_running() and lab.unit_pids()
        rc, out, _ = ssh_exec(client, f"{CB}/build unit")  # again: already running
        assert rc == 0 and "already running" in out
        rc, _, err = ssh_exec(client, f"{CB}/build update")
        assert rc == 2 and "not supported" in err
    finally:
        client.close()
    assert lab.host_path(f"{CB}/calls.log").read_text().splitlines() == \
        ["unit", "set unit yes", "unit", "unit", "update"]
    with unit_api(lab) as api:
        assert api.get("/config").status_code == 200


@pytest.mark.real_unitd
def test_real_unit_serves_a_listener_and_restarts(lab_factory: Callable[..., LabHost]) -> None:
    lab = lab_factory("real", unit="real", front="none")
    assert lab.unit_kind == "real"
    with unit_api(lab) as api:
        config = {"listeners": {"*:80": {"pass": "routes"}}, "routes": [{"action": {"return": 204}}]}
        assert api.put("/config", json=config).status_code == 200
    # Reachable from this machine at the lab's address (and the socket path stays the same).
    assert httpx.get(f"http://{lab.address}:80/", timeout=10).status_code == 204
    pids = lab.unit_pids()
    assert any(processes.cmdline(pid)[0].startswith("unit: main") for pid in pids)
    lab.stop_unit()
    assert not lab.unit_running() and lab.unit_pids() == []
    lab.start_unit()
    assert lab.unit_running()
    with unit_api(lab) as api:  # the state dir keeps the config across restarts
        assert "*:80" in api.get("/config/listeners").json()


def test_double_serves_the_control_socket(lab_factory: Callable[..., LabHost]) -> None:
    lab = lab_factory("double", unit="double", front="none")
    assert lab.unit_kind == "double"
    with unit_api(lab) as api:
        assert api.get("/config").status_code == 200
        assert api.post("/config/applications", json={}).status_code == 405
    assert lab.unit_pids()
    lab.stop_unit()
    assert not lab.unit_running()
    lab.start_unit()
    assert lab.unit_running()


# --- up and down ----------------------------------------------------------------------

@pytest.mark.root
def test_up_and_down_twice_are_harmless(lab_name: Callable[[str], str], capsys: pytest.CaptureFixture[str]) -> None:
    name = lab_name("twice")
    started = time.monotonic()
    lab = up(name, front="none")
    first = time.monotonic() - started
    try:
        started = time.monotonic()
        again = up(name, front="none")
        second = time.monotonic() - started
        assert again == lab
        with pytest.raises(LabError, match="already runs"):
            up(name, user="someoneelse", front="none")
    finally:
        started = time.monotonic()
        assert down(name) is True
        took_down = time.monotonic() - started
    assert down(name) is False
    report(capsys, f"up {first:.2f} s, up again {second:.3f} s, down {took_down:.2f} s (unit: {lab.unit_kind})")


@pytest.mark.root
def test_down_leaves_nothing_behind(lab_name: Callable[[str], str]) -> None:
    name = lab_name("gone")
    lab = up(name, front="none")
    try:
        # A process started over SSH that tries to outlive its session.
        client = lab.ssh_client()
        ssh_exec(client, "setsid nohup sleep 600 >/dev/null 2>&1 < /dev/null &")
        client.close()
        net = processes.ns_id(Path("/run/netns", lab.netns))
        mnt = processes.ns_id(f"/proc/{lab.supervisor_pid}/ns/mnt")
        pids = processes.lab_pids(net, mnt, {lab.supervisor_pid})
        commands = [" ".join(processes.cmdline(pid)) for pid in pids]
        assert any("sleep 600" in c for c in commands)
        assert any("tinyproxy" in c for c in commands) and any("sshd" in c for c in commands)
        if lab.unit_kind == "real":
            assert any(c.startswith("unit: main") for c in commands)
    finally:
        assert down(name) is True
    assert not any(processes.is_alive(pid) for pid in pids), "a lab process survived"
    assert processes.lab_pids(None, mnt, set()) == set()
    assert lab.netns not in network.list_netns()
    assert not network.link_exists(lab.host_link)
    assert not Path(lab.state_dir).exists()
    assert f"10.77.{lab.index}." not in subprocess.run(["ip", "-4", "-o", "addr"], capture_output=True,
                                                      text=True, check=True).stdout
    for mountinfo in Path("/proc").glob("[0-9]*/mountinfo"):
        try:
            assert lab.state_dir not in mountinfo.read_text(), f"{mountinfo} still mounts the lab"
        except OSError:  # gone, or a zombie (EINVAL)
            pass
    assert f"\n{lab.da_user}:" not in "\n" + Path("/etc/passwd").read_text()
    assert down(name) is False


def test_run_failure_is_a_lab_error_and_a_called_process_error(lab_host: LabHost) -> None:
    with pytest.raises(subprocess.CalledProcessError) as info:
        lab_host.run(["sh", "-c", "echo out; echo err >&2; exit 3"])
    assert isinstance(info.value, LabError)
    assert info.value.returncode == 3 and info.value.stdout == "out\n" and info.value.stderr == "err\n"
    assert "exited 3" in str(info.value) and "err" in str(info.value)
    assert lab_host.run(["sh", "-c", "exit 3"], check=False).returncode == 3
    assert lab_host.run(["cat"], input="piped").stdout == "piped"
    assert lab_host.run(["cat"], input=b"\x00bytes").stdout == b"\x00bytes"


@pytest.mark.root
def test_missing_mount_points_are_made_in_the_lab_only(tmp_path: Path) -> None:
    """The overlay the supervisor puts on a parent dir when a mount point is missing
    (here: a file below /etc, as /etc/pip.conf on machines without one) adds nothing to
    this machine, and keeps what is mounted below that parent (docker's /etc/hosts)."""
    scratch, hosts = tmp_path / "scratch", tmp_path / "hosts"
    scratch.mkdir()
    hosts.write_text("127.0.0.1 from-a-submount\n")
    script = f"""
import os, sys
sys.path.insert(0, {str(REPO / "lab")!r})
import supervisor as s
s.mount({str(hosts)!r}, "/etc/hosts", None, s.MS_BIND)
s.mount("t", {str(scratch)!r}, "tmpfs", 0, "mode=700")
s.Overlays(__import__("pathlib").Path({str(scratch)!r})).ensure("/etc/dalab-probe/pip.conf", "file")
print(os.path.isfile("/etc/dalab-probe/pip.conf"), open("/etc/hosts").read().strip(),
      os.path.isfile("/etc/passwd"), sep="|")
"""
    result = subprocess.run(["unshare", "--mount", "--propagation", "private", "/usr/bin/python3", "-c", script],
                            capture_output=True, text=True, timeout=60, check=False)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "True|127.0.0.1 from-a-submount|True"
    assert not Path("/etc/dalab-probe").exists()
    assert "from-a-submount" not in Path("/etc/hosts").read_text()


@pytest.mark.root
def test_a_lab_whose_supervisor_died_is_replaced_cleanly(lab_name: Callable[[str], str]) -> None:
    name = lab_name("crash")
    lab = up(name, front="none")
    try:
        proxy_pid = int((Path(lab.state_dir) / "proxy" / "tinyproxy.pid").read_text().split()[0])
        sshd_pids = [pid for pid in processes.lab_pids(processes.ns_id(Path("/run/netns", lab.netns)), None, set())
                     if "sshd" in " ".join(processes.cmdline(pid))]
        os.kill(lab.supervisor_pid, 9)
        deadline = time.monotonic() + 5
        while processes.is_alive(lab.supervisor_pid) and time.monotonic() < deadline:
            time.sleep(0.01)
        assert not lab.is_running()
        fresh = up(name, front="none")  # not running: the remains are removed and a new lab made
        assert fresh.supervisor_pid != lab.supervisor_pid and fresh.is_running()
        assert not processes.is_alive(proxy_pid), "the old lab's tinyproxy survived"
        assert not any(processes.is_alive(pid) for pid in sshd_pids), "the old lab's sshd survived"
        client = fresh.ssh_client()
        client.close()
    finally:
        down(name)


@pytest.mark.root
def test_sigterm_to_the_supervisor_stops_its_lab(lab_name: Callable[[str], str]) -> None:
    name = lab_name("term")
    lab = up(name, front="none")
    try:
        net = processes.ns_id(Path("/run/netns", lab.netns))
        assert processes.lab_pids(net, None, set())
        os.kill(lab.supervisor_pid, 15)
        deadline = time.monotonic() + 10
        while processes.is_alive(lab.supervisor_pid) and time.monotonic() < deadline:
            time.sleep(0.02)
        assert not processes.is_alive(lab.supervisor_pid)
        assert processes.lab_pids(net, None, set()) == set(), "processes outlived their supervisor"
        assert not lab.host_path(lab.unit_socket).exists()  # unitd got SIGTERM and cleaned up
    finally:
        assert down(name) is True
