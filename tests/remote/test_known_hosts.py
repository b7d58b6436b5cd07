"""known_hosts pins and SSHTarget as plain data (pure: no host needed)."""
from __future__ import annotations

import pickle

import paramiko
import pytest

from daunit.errors import ConfigError
from daunit.remote.ssh import SSHSession, SSHTarget, parse_known_hosts
from tests.remote.conftest import new_ed25519_public_line


def test_bare_line_pins_for_this_host() -> None:
    line = new_ed25519_public_line()
    target = SSHTarget("10.77.1.2", known_hosts=line)
    [key] = target.pinned_keys()
    assert isinstance(key, paramiko.Ed25519Key) and key.get_base64() == line.split()[1]


def test_host_patterns() -> None:
    a, b, c = (new_ed25519_public_line() for _ in range(3))
    hashed = paramiko.HostKeys.hash_host("[10.77.1.2]:2222")
    text = f"""
# comment
10.77.1.2,other {a}
[10.77.1.2]:2222 {b}
{hashed} {c}
10.77.9.9 {c}
"""
    at22 = SSHTarget("10.77.1.2", known_hosts=text).pinned_keys()
    at2222 = SSHTarget("10.77.1.2", port=2222, known_hosts=text).pinned_keys()
    assert [k.get_base64() for k in at22] == [a.split()[1]]
    # As OpenSSH reads it: a bare address names port 22 only.
    assert [k.get_base64() for k in at2222] == [b.split()[1], c.split()[1]]
    bare = SSHTarget("10.77.1.2", port=2222, known_hosts=a)  # no host field: this host, any port
    assert [k.get_base64() for k in bare.pinned_keys()] == [a.split()[1]]


@pytest.mark.parametrize("bad", [
    "10.77.1.2 ssh-ed25519",
    "10.77.1.2 ssh-ed25519 not-base64!",
    "@revoked 10.77.1.2 ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIE",
    "10.77.1.2 ssh-nope AAAA",
])
def test_bad_lines_are_config_errors(bad: str) -> None:
    with pytest.raises(ConfigError, match="known_hosts line 1"):
        parse_known_hosts(bad)


def test_target_is_plain_picklable_data() -> None:
    target = SSHTarget("10.77.1.2", 2222, "root", new_ed25519_public_line(), "/k", None, 5.0)
    assert pickle.loads(pickle.dumps(target)) == target
    assert not target.agent_enabled and SSHTarget("h").agent_enabled
    assert SSHTarget("h", key_file="/k", use_agent=True).agent_enabled


def test_target_validation() -> None:
    with pytest.raises(ConfigError):
        SSHTarget("")
    with pytest.raises(ConfigError):
        SSHTarget("h", port=0)


def test_session_refuses_pickling_and_does_not_connect_eagerly() -> None:
    session = SSHSession(SSHTarget("10.77.255.254"))  # never contacted: lazy
    with pytest.raises(TypeError, match="cannot be pickled"):
        pickle.dumps(session)
    session.close()
