"""A team shares one stack on an S3-compatible store (issue 14, item 3).

Two checkouts at different paths, with their SSH keys at different places
(two laptops, or a laptop and CI), deploy the same stack whose state lives in
an S3 bucket (moto's server, started here on loopback). A no-op from the
second machine is a no-op; two `up`s at once are serialised by the engine's
lock and nothing is lost; secrets stay encrypted in the bucket.
"""
from __future__ import annotations

import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import httpx
import pytest
import yaml

from tests.e2e.conftest import make_project
from tests.support.engine import REPO, PulumiRun, Stack, engine_available

pytestmark = [pytest.mark.root, pytest.mark.engine]

BUCKET = "da-flask-state"
STACK = "team"
APP = "flask_app"
DOMAIN = "example.com"
S3_ENV = {"AWS_ACCESS_KEY_ID": "lab-access-key", "AWS_SECRET_ACCESS_KEY": "lab-secret-key",
          "AWS_REGION": "us-east-1"}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class S3Store:
    endpoint: str

    @property
    def backend_url(self) -> str:
        # Path-style over plain HTTP on loopback, as for MinIO or any
        # self-hosted S3 (README, "Team state").
        return (f"s3://{BUCKET}?endpoint={self.endpoint}&use_path_style=true&disable_https=true"
                "&region=us-east-1&response_checksum_validation=when_required")

    def client(self) -> Any:
        return boto3.client("s3", endpoint_url=self.endpoint, aws_access_key_id=S3_ENV["AWS_ACCESS_KEY_ID"],
                            aws_secret_access_key=S3_ENV["AWS_SECRET_ACCESS_KEY"], region_name="us-east-1")

    def all_bytes(self) -> str:
        c = self.client()
        keys = [o["Key"] for o in c.list_objects_v2(Bucket=BUCKET).get("Contents", [])]
        assert keys, "the bucket holds no state"
        return "\n".join(c.get_object(Bucket=BUCKET, Key=k)["Body"].read().decode("utf-8", "replace")
                         for k in keys)


@pytest.fixture(scope="module")
def s3() -> Iterator[S3Store]:
    if not engine_available():
        pytest.skip("Pulumi engine not built: run scripts/build-pulumi.sh")
    port = _free_port()
    proc = subprocess.Popen([sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    store = S3Store(f"http://127.0.0.1:{port}")
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                store.client().create_bucket(Bucket=BUCKET)
                break
            except Exception:
                if time.monotonic() > deadline or proc.poll() is not None:
                    raise
                time.sleep(0.2)
        yield store
    finally:
        proc.terminate()
        proc.wait(timeout=10)


@dataclass
class Machine:
    """One checkout with its own HOME (and so its own ~/.ssh)."""

    stack: Stack
    project: Path

    def up(self, *extra: str, check: bool = True) -> PulumiRun:
        return self.stack.up(*extra, check=check)


def _machine(root: Path, store: S3Store, lab: Any) -> Machine:
    project = make_project(root)
    shutil.copytree(REPO / "examples" / "flask_app", project / "src" / APP,
                    ignore=shutil.ignore_patterns("__pycache__", "instance", "logs"))
    home = root / "home"
    (home / ".ssh").mkdir(parents=True)
    key = home / ".ssh" / "deploy_key"
    shutil.copyfile(lab.client_key_path, key)
    key.chmod(0o600)
    env = {**S3_ENV, "PULUMI_BACKEND_URL": store.backend_url, "HOME": str(home)}
    return Machine(Stack(project, STACK, root / "unused-state", extra_env=env), project)


def _config(lab: Any, greeting: str) -> dict[str, Any]:
    host = {"address": lab.address, "port": lab.port, "sshUser": "root",
            "hostKey": lab.host_key_line, "keyFile": "~/.ssh/deploy_key", "daUser": lab.da_user}
    app = {"name": APP, "host": "lab", "domain": DOMAIN, "source": f"src/{APP}",
           "environment": {"FLASK_CONFIG": "production", "GREETING": greeting},
           "secretEnvironmentKeys": ["SECRET_KEY"]}
    if lab.unit_kind != "real":
        app["healthCheck"] = False  # the control-API double runs no Python
    return {"da-flask:hosts": {"lab": host}, "da-flask:apps": [app]}


def _write_config(m: Machine, lab: Any, greeting: str) -> None:
    path = m.project / "stacks" / f"Pulumi.{STACK}.yaml"
    doc = yaml.safe_load(path.read_text()) if path.exists() else {}
    doc["config"] = {**(doc.get("config") or {}), **_config(lab, greeting)}
    path.write_text(yaml.safe_dump(doc, sort_keys=True))


def _share_config(src: Machine, dst: Machine) -> None:
    """As a committed stack file is shared: salt and encrypted secrets included."""
    name = f"Pulumi.{STACK}.yaml"
    shutil.copyfile(src.project / "stacks" / name, dst.project / "stacks" / name)


def _greets(lab: Any, text: str) -> bool:
    if lab.unit_kind != "real":
        return True  # nothing serves HTTP behind the double
    page = httpx.get(f"http://{lab.address}/", headers={"Host": DOMAIN}, timeout=10)
    return page.status_code == 200 and text in page.text


@pytest.fixture(scope="module")
def team(s3: S3Store, lab_factory: Any,
         tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Machine, Machine, Any]]:
    lab = lab_factory("team", front="none")
    a = _machine(tmp_path_factory.mktemp("laptop"), s3, lab)
    b = _machine(tmp_path_factory.mktemp("ci"), s3, lab)
    a.stack.init()
    _write_config(a, lab, "first greeting")
    a.stack.set_config("appSecrets.flask_app.SECRET_KEY", "sk-team-" + "7" * 24, secret=True, path=True)
    _share_config(a, b)
    yield a, b, lab
    a.stack.destroy(check=False)


def test_1_deploy_from_one_machine_noop_from_the_other(team: tuple[Machine, Machine, Any]) -> None:
    a, b, lab = team
    a.up()
    assert _greets(lab, "first greeting")
    # The second checkout lives elsewhere and its key is another file: still a no-op.
    b.stack.preview("--expect-no-changes")
    run = b.up("--expect-no-changes")
    assert "unchanged" in run.stdout


def test_2_a_change_from_ci_previews_only_that_change(team: tuple[Machine, Machine, Any]) -> None:
    a, b, lab = team
    _write_config(b, lab, "greeting from ci")
    preview = b.stack.preview("--json").json()
    changed = {s["urn"].rsplit("::", 1)[-1] for s in preview["steps"] if s["op"] != "same"}
    # Only the app's environment: its .env and the Unit app that restarts on it.
    assert changed and all(n.startswith(APP) for n in changed), changed
    assert not any("release" in n or "venv" in n for n in changed), changed
    _write_config(a, lab, "greeting from ci")  # the PR merged, the laptop pulled


def test_3_two_ups_at_once_one_waits_or_refuses_nothing_lost(team: tuple[Machine, Machine, Any],
                                                            s3: S3Store) -> None:
    a, b, lab = team
    with ThreadPoolExecutor(2) as pool:
        runs = list(pool.map(lambda m: m.up(check=False), (a, b)))
    if not any(r.returncode == 0 for r in runs):
        # The backend writes its lock, then lists the locks: two ups in the same instant can
        # each see the other's and both refuse. Nothing ran; the user runs `up` again.
        assert all("currently locked" in r.stdout + r.stderr for r in runs), \
            [r.stdout[-2000:] + r.stderr[-2000:] for r in runs]
        runs.append(a.up(check=False))
    assert any(r.returncode == 0 for r in runs), [r.stdout[-2000:] + r.stderr[-2000:] for r in runs]
    for r in runs:
        if r.returncode != 0:
            assert "currently locked" in r.stdout + r.stderr, r.stdout[-2000:] + r.stderr[-2000:]
    assert _greets(lab, "greeting from ci")
    # Whoever lost the race finds the work done: a no-op from either checkout.
    a.stack.preview("--expect-no-changes")
    b.stack.preview("--expect-no-changes")
    resources = a.stack.export()["deployment"]["resources"]
    assert sum(r["type"].startswith("pulumi-python:dynamic") or "daflask" in r["type"]
               for r in resources) >= 5


def test_4_secrets_are_encrypted_in_the_bucket(team: tuple[Machine, Machine, Any], s3: S3Store) -> None:
    text = s3.all_bytes()
    assert "greeting from ci" in text  # the state is really there
    assert "sk-team-" + "7" * 24 not in text
    assert "ciphertext" in text
