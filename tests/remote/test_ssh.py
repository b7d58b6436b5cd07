"""SSHSession against the lab host's real sshd."""
from __future__ import annotations

import os
import socket
import stat
import subprocess
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, NoEncryption, PrivateFormat

from daunit.errors import ChannelRefused, ChannelTimeout, CommandError, ConfigError, ConnectError, HostKeyError
from daunit.remote.connection import UnixSocket
from daunit.remote.ssh import SSHSession, SSHTarget
from tests.remote.conftest import host_output, host_path_exists, keyscan, lab_port, new_ed25519_public_line

pytestmark = pytest.mark.root


# -- host keys ------------------------------------------------------------------


def test_pinned_key_accepted(session: SSHSession) -> None:
    assert session.run(["id", "-u"]).text.strip() == "0"


def test_bare_pinned_line_accepted(target: SSHTarget, lab_host: Any) -> None:
    bare = " ".join(lab_host.host_key_line.split()[-2:])
    with SSHSession(SSHTarget(target.host, target.port, known_hosts=bare, key_file=target.key_file)) as s:
        assert s.run(["true"]).exit_status == 0


def test_one_of_several_pins_accepted(target: SSHTarget, lab_host: Any) -> None:
    pins = f"{target.host} {new_ed25519_public_line()}\n{lab_host.host_key_line}\n"
    with SSHSession(SSHTarget(target.host, target.port, known_hosts=pins, key_file=target.key_file)) as s:
        assert s.run(["true"]).exit_status == 0


@pytest.mark.parametrize("pin", ["unknown", "mismatch"])
def test_unpinned_or_mismatched_key_rejected_before_anything_runs(
    pin: str, target: SSHTarget, lab_host: Any
) -> None:
    marker = f"/tmp/daunit-hostkey-{os.getpid()}-{pin}"
    known = "" if pin == "unknown" else f"{target.host} {new_ed25519_public_line()}"
    bad = SSHTarget(target.host, target.port, known_hosts=known, key_file=target.key_file)
    session = SSHSession(bad)
    with pytest.raises(HostKeyError) as info:
        session.run(["touch", marker])
    text = str(info.value)
    assert target.host in text
    assert info.value.offered_fingerprint.startswith("SHA256:") and info.value.offered_fingerprint in text
    assert lab_host.host_key_line.split()[-1] in text  # the line to pin, once verified
    assert ("MISMATCH" in text) == (pin == "mismatch")
    assert session.channels_opened == 0
    assert not host_path_exists(lab_host, marker)
    session.close()


def test_pin_for_another_host_does_not_count(target: SSHTarget, lab_host: Any) -> None:
    key = " ".join(lab_host.host_key_line.split()[-2:])
    bad = SSHTarget(target.host, target.port, known_hosts=f"10.77.254.254 {key}", key_file=target.key_file)
    with pytest.raises(HostKeyError, match="no pinned host key"):
        SSHSession(bad).connect()


def test_pinned_rsa_key_is_negotiated_when_the_host_also_has_ed25519(target: SSHTarget) -> None:
    rsa = keyscan(target.host, target.port, "rsa")
    if rsa is None:
        pytest.skip("the lab host has no RSA host key")
    with SSHSession(SSHTarget(target.host, target.port, known_hosts=rsa, key_file=target.key_file)) as s:
        s.connect()
        assert s._transport is not None and s._transport.get_remote_server_key().get_name() == "ssh-rsa"


# -- connecting -----------------------------------------------------------------


def test_tcp_nodelay_is_set(session: SSHSession) -> None:
    session.connect()
    session.connect()
    assert session._transport is not None
    sock = session._transport.sock
    assert sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) == 1


def test_wrong_client_key_is_a_connect_error(target: SSHTarget, tmp_path: Path) -> None:
    key_file = tmp_path / "stranger"
    key_file.write_bytes(Ed25519PrivateKey.generate().private_bytes(
        Encoding.PEM, PrivateFormat.OpenSSH, NoEncryption()))
    key_file.chmod(0o600)
    stranger = SSHTarget(target.host, target.port, known_hosts=target.known_hosts, key_file=str(key_file))
    with pytest.raises(ConnectError, match="authentication as 'root' failed") as info:
        SSHSession(stranger).connect()
    assert f"{target.host}:{target.port}" in str(info.value)


def test_agent_auth_without_key_file(target: SSHTarget, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    sock = str(tmp_path / "agent.sock")
    agent = subprocess.Popen(["ssh-agent", "-D", "-a", sock], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        for _ in range(100):
            if os.path.exists(sock):
                break
            time.sleep(0.02)
        env = {**os.environ, "SSH_AUTH_SOCK": sock}
        subprocess.run(["ssh-add", "-q", str(target.key_file)], env=env, check=True, capture_output=True)
        monkeypatch.setenv("SSH_AUTH_SOCK", sock)
        via_agent = SSHTarget(target.host, target.port, known_hosts=target.known_hosts)
        assert via_agent.agent_enabled
        with SSHSession(via_agent) as s:
            assert s.run(["true"]).exit_status == 0
        monkeypatch.setenv("SSH_AUTH_SOCK", str(tmp_path / "no-agent.sock"))
        with pytest.raises(ConnectError, match="ssh-agent"):
            SSHSession(via_agent).connect()
    finally:
        agent.terminate()
        agent.wait(5)


def test_missing_key_file_is_a_config_error(target: SSHTarget, tmp_path: Path) -> None:
    missing = SSHTarget(target.host, target.port, known_hosts=target.known_hosts, key_file=str(tmp_path / "nope"))
    with pytest.raises(ConfigError, match="does not exist"):
        SSHSession(missing).connect()


def test_refused_port_is_a_connect_error(target: SSHTarget) -> None:
    closed = SSHTarget(target.host, 1, known_hosts=target.known_hosts, key_file=target.key_file)
    with pytest.raises(ConnectError, match=rf"{target.host}:1: .*refused"):
        SSHSession(closed).connect()


def test_one_connection_for_many_commands(session: SSHSession) -> None:
    session.run(["true"])
    session.connect()
    transport = session._transport
    for _ in range(5):
        session.run(["true"])
    assert session._transport is transport and session.channels_opened == 6


# -- commands -------------------------------------------------------------------

HOSTILE = [
    "two words",
    "it's",
    'say "hi"',
    "$(touch /tmp/daunit-pwned)",
    "`touch /tmp/daunit-pwned`",
    "a; touch /tmp/daunit-pwned",
    "x && touch /tmp/daunit-pwned | cat",
    "*",
    "~root",
    "$HOME",
    "",
    "-n",
    "line\nbreak",
    "tab\there",
    "back\\slash",
    "ünïcødé",
]


def test_hostile_arguments_arrive_verbatim(session: SSHSession, lab_host: Any) -> None:
    result = session.run(["printf", "%s\\0", *HOSTILE])
    assert result.stdout.decode().split("\0")[:-1] == HOSTILE
    assert not host_path_exists(lab_host, "/tmp/daunit-pwned")


def test_pipeline_takes_data_as_positional_parameters(session: SSHSession) -> None:
    result = session.run(["sh", "-c", 'printf "%s|" "$@" | tr a-z A-Z', "sh", "a b", "$(c)"])
    assert result.text == "A B|$(C)|"


def test_argv_must_be_a_list(session: SSHSession) -> None:
    with pytest.raises(TypeError):
        session.run("echo hi")  # type: ignore[arg-type]


def test_stdin_and_streams(session: SSHSession) -> None:
    result = session.run(["sh", "-c", "cat; echo oops >&2"], stdin=b"in\x00put")
    assert result.stdout == b"in\x00put" and result.stderr == b"oops\n" and result.exit_status == 0


def test_stdin_is_closed_when_none_given(session: SSHSession) -> None:
    assert session.run(["cat"], timeout=10).stdout == b""


def test_large_stdin_and_stdout_do_not_deadlock(session: SSHSession) -> None:
    data = os.urandom(3 * 1024 * 1024)
    assert session.run(["cat"], stdin=data, timeout=60).stdout == data


def test_nonzero_exit_raises_with_stderr_tail(session: SSHSession) -> None:
    script = 'for i in $(seq 1 40); do echo "err$i" >&2; done; exit 7'
    with pytest.raises(CommandError) as info:
        session.run(["sh", "-c", script])
    exc = info.value
    assert exc.exit_status == 7
    assert exc.stderr_tail.splitlines() == [f"err{i}" for i in range(21, 41)]
    assert "exited with status 7" in str(exc) and "err40" in str(exc) and exc.host


def test_check_false_returns_the_status(session: SSHSession) -> None:
    assert session.run(["sh", "-c", "exit 3"], check=False).exit_status == 3


def test_secrets_are_masked_in_errors(session: SSHSession) -> None:
    secret = "s3cr3t-Ab9!"
    script = 'read -r pw; echo "login failed for $pw" >&2; exit 1'
    with pytest.raises(CommandError) as info:
        session.run(["sh", "-c", script], stdin=f"{secret}\n".encode(), secrets=[secret])
    assert secret not in str(info.value) and "login failed for ***" in str(info.value)


def test_secret_in_argv_is_refused_before_sending(session: SSHSession) -> None:
    with pytest.raises(ValueError, match="send secrets on stdin") as info:
        session.run(["echo", "token=hunter2-Xq9"], secrets=["hunter2-Xq9"])
    assert "hunter2-Xq9" not in str(info.value)
    assert session.channels_opened == 0


def test_stdin_secret_never_shows_in_ps(session: SSHSession, lab_host: Any) -> None:
    secret = f"pw-{os.urandom(8).hex()}"
    marker = f"daunit-ps-{os.getpid()}"
    script = 'read -r pw; sleep 2; [ "$pw" = "$2" ] || [ -n "$pw" ]'
    done = threading.Event()
    errors: list[BaseException] = []

    def work() -> None:
        try:
            session.run(["sh", "-c", script, marker, "unused"], stdin=f"{secret}\n".encode(), secrets=[secret])
        except BaseException as exc:
            errors.append(exc)
        finally:
            done.set()

    thread = threading.Thread(target=work)
    thread.start()
    seen_marker = False
    while not done.is_set():
        listing = host_output(lab_host, ["ps", "-eo", "args"])
        seen_marker = seen_marker or marker in listing
        assert secret not in listing
        time.sleep(0.1)
    thread.join()
    assert not errors, errors
    assert seen_marker, "ps never showed the command: the test proves nothing"


def test_timeout_abandons_the_command(session: SSHSession) -> None:
    started = time.monotonic()
    with pytest.raises(CommandError, match="timed out after 0.5 s"):
        session.run(["sleep", "30"], timeout=0.5)
    assert time.monotonic() - started < 5
    assert session.run(["true"]).exit_status == 0  # the session is still usable


# -- files ----------------------------------------------------------------------


def _tree(session: SSHSession, root: str) -> dict[str, str]:
    out = session.run(["find", root, "-mindepth", "1", "-printf", "%y %m %u %P\\0"]).text
    return {entry.split(" ", 3)[3]: " ".join(entry.split(" ", 3)[:3]) for entry in out.split("\0")[:-1]}


def test_upload_files_content_modes_and_dirs(session: SSHSession, scratch: str, tmp_path: Path) -> None:
    local = tmp_path / "big.bin"
    local.write_bytes(os.urandom(300_000))
    files: dict[str, bytes | Path] = {
        "app.py": b"print('hi')\n",
        "static/css/site.css": b"body{}",
        "name with 'quotes' and $(x).txt": b"q",
        "data/big.bin": local,
        "empty": b"",
    }
    dest = f"{scratch}/release"
    before = session.channels_opened
    session.upload_files(dest, files, {"app.py": 0o755})
    assert session.channels_opened - before == 1  # N files, one exec channel
    assert _tree(session, dest) == {
        "app.py": "f 755 root",
        "static": "d 755 root",
        "static/css": "d 755 root",
        "static/css/site.css": "f 644 root",
        "name with 'quotes' and $(x).txt": "f 644 root",
        "data": "d 755 root",
        "data/big.bin": "f 644 root",
        "empty": "f 644 root",
    }
    for rel, content in files.items():
        expected = content.read_bytes() if isinstance(content, Path) else content
        assert session.read_bytes(f"{dest}/{rel}") == expected


def test_upload_replaces_and_keeps_others(session: SSHSession, scratch: str) -> None:
    session.upload_files(scratch, {"a": b"old", "b": b"keep"})
    session.upload_files(scratch, {"a": b"new"}, {"a": 0o600})
    assert session.read_bytes(f"{scratch}/a") == b"new"
    assert session.read_bytes(f"{scratch}/b") == b"keep"
    assert _tree(session, scratch)["a"] == "f 600 root"


def test_upload_with_owner(session: SSHSession, scratch: str) -> None:
    session.upload_files(scratch, {"d/f": b"x"}, owner="nobody", group="nogroup")
    tree = _tree(session, scratch)
    assert tree["d/f"] == "f 644 nobody" and tree["d"] == "d 755 nobody"
    with pytest.raises(CommandError, match="no such user|no such group"):
        session.upload_files(scratch, {"g": b"x"}, owner="no-such-user-daunit")
    assert "g" not in _tree(session, scratch)


@pytest.mark.parametrize("bad", ["/etc/passwd", "../escape", "a/../../b", "", "."])
def test_upload_refuses_paths_outside_dest(session: SSHSession, bad: str) -> None:
    with pytest.raises(ValueError):
        session.upload_files("/tmp/never", {bad: b"x"})
    assert session.channels_opened == 0


def test_put_bytes_is_atomic_with_mode(session: SSHSession, scratch: str) -> None:
    path = f"{scratch}/.env"
    session.put_bytes(path, b"A=1\n", 0o600)
    session.put_bytes(path, b"A=2\n", 0o600)
    assert session.read_bytes(path) == b"A=2\n"
    assert stat.S_IMODE(session.files.sftp().stat(path).st_mode) == 0o600
    assert session.run(["ls", "-A", scratch]).text.split() == [".env"]  # no temp files left


def test_read_missing_file(session: SSHSession, scratch: str) -> None:
    with pytest.raises(FileNotFoundError):
        session.read_bytes(f"{scratch}/missing")


# -- unix socket channel ----------------------------------------------------------


def test_open_missing_unix_socket(session: SSHSession) -> None:
    with pytest.raises(ChannelRefused) as info:
        session.open_channel(UnixSocket("/var/run/unit/no-such.sock"))
    assert "/var/run/unit/no-such.sock" in str(info.value)
    assert session.run(["true"]).exit_status == 0  # the connection survives


def test_channel_errors_are_daunits(session: SSHSession, keepalive_socket: str) -> None:
    with session.open_channel(UnixSocket(keepalive_socket)) as chan:
        with pytest.raises(ChannelTimeout, match="could not read on the channel to the Unix socket"):
            chan.recv(10, timeout=0.2)  # the server waits for a request
        session._transport.close()  # as if the host had dropped the connection
        with pytest.raises(ConnectError, match="SSH connection failed"):
            chan.send_all(b"GET / HTTP/1.1\r\n\r\n")
    assert session.run(["true"]).exit_status == 0  # and the next command reconnects


def test_lab_port_helper(lab_host: Any) -> None:
    assert lab_port(lab_host) > 0
