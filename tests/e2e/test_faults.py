"""Faults during a deploy (issue 4): a full disk, a dropped SSH connection,
Unit down. Each ends with a clear error and the previous release serving,
and the next `pulumi up` converges."""
from __future__ import annotations

import os
import subprocess
import threading
import time
from typing import Any

import pytest

from tests.e2e.conftest import Deployment, app_config, host_config
from tests.e2e.test_deploy import get, unit_config
from tests.e2e.test_ownership import unit_name

pytestmark = [pytest.mark.root, pytest.mark.engine, pytest.mark.real_unitd]
APP = "flask_app"
UNIT_APP = unit_name("faults", APP)  # its name in Unit (daunit.ownership)
SITE = "/home/username/domains/example.com/public_html"


def incoming(lab: Any) -> list[str]:
    """Half-uploaded release trees, seen from inside the lab's mount namespace."""
    out = lab.run(["sh", "-c", f'ls -d {SITE}/{APP}/releases/.incoming-* 2>/dev/null'],
                  check=False).stdout
    return (out.decode() if isinstance(out, bytes) else out).split()


@pytest.fixture(scope="module", params=["small-disk"])
def lab(lab_factory: Any) -> Any:
    lab = lab_factory("faults", front="none")
    # A small filesystem under the site, as a nearly full disk would be.
    lab.run(["mount", "-t", "tmpfs", "-o", "size=96m,mode=755", "tmpfs", SITE])
    lab.run(["chown", f"{lab.da_user}:{lab.da_user}", SITE])
    return lab


@pytest.fixture(scope="module")
def d(lab: Any, deployment_factory: Any) -> Deployment:
    d = deployment_factory("faults")
    d.write_config({"lab": host_config(lab)},
                   [app_config(APP, "lab", "example.com", d.app_sources[APP],
                               secretEnvironmentKeys=["SECRET_KEY"])])
    d.stack.set_config("appSecrets.flask_app.SECRET_KEY", d.secret_key, secret=True, path=True)
    d.stack.up()
    assert get(lab, "/").status_code == 200
    return d


def test_full_disk_during_upload(lab: Any, d: Deployment) -> None:
    before = unit_config(lab)["applications"][UNIT_APP]
    big = d.app_sources[APP] / "app" / "static" / "huge.bin"
    big.write_bytes(os.urandom(120 * 1024 * 1024))
    try:
        result = d.stack.up(check=False)
    finally:
        big.unlink()
    out = result.stdout + result.stderr
    assert result.returncode != 0
    assert "No space left on device" in out, out[-3000:]
    assert unit_config(lab)["applications"][UNIT_APP] == before
    assert get(lab, "/").status_code == 200
    d.stack.up()
    assert incoming(lab) == []


def test_ssh_connection_dropped_mid_upload(lab: Any, d: Deployment) -> None:
    before = unit_config(lab)["applications"][UNIT_APP]
    big = d.app_sources[APP] / "app" / "static" / "big.bin"
    big.write_bytes(os.urandom(48 * 1024 * 1024))
    dropped = threading.Event()

    def drop_when_uploading() -> None:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and not incoming(lab):
            time.sleep(0.02)
        # Kill the per-connection sshd processes (not the listener, whose
        # parent is the lab's supervisor): the TCP connection drops.
        listener = subprocess.run(["pgrep", "-f", f"sshd.*{lab.state_dir}"],
                                  capture_output=True, text=True).stdout.split()
        for pid in listener:
            children = subprocess.run(["pgrep", "-P", pid], capture_output=True,
                                      text=True).stdout.split()
            for child in children:
                subprocess.run(["kill", "-KILL", child], check=False)
                dropped.set()

    killer = threading.Thread(target=drop_when_uploading)
    killer.start()
    try:
        result = d.stack.up(check=False)
    finally:
        killer.join()
    out = result.stdout + result.stderr
    assert dropped.is_set(), "the upload was never seen on the host"
    assert result.returncode != 0
    assert "10.77." in out  # the error names the host
    assert unit_config(lab)["applications"][UNIT_APP] == before
    assert get(lab, "/").status_code == 200
    # Running the same deploy again converges: the half-made tree is replaced.
    d.stack.up()
    assert incoming(lab) == []
    assert unit_config(lab)["applications"][UNIT_APP] != before
    big.unlink()
    d.stack.up()
    assert get(lab, "/").status_code == 200


def test_unit_down_names_the_socket(lab: Any, d: Deployment) -> None:
    lab.stop_unit()
    try:
        d.write_config({"lab": host_config(lab)},
                       [app_config(APP, "lab", "example.com", d.app_sources[APP],
                                   secretEnvironmentKeys=["SECRET_KEY"],
                                   environment={"FLASK_CONFIG": "production",
                                                "GREETING": "while unit is down"})])
        result = d.stack.up(check=False)
    finally:
        lab.start_unit()
    out = result.stdout + result.stderr
    assert result.returncode != 0
    assert "control socket /var/run/unit/control.sock unavailable" in out
    assert "unitd is running" in out
    d.stack.up()
    assert "while unit is down" in get(lab, "/").text
