"""The user's own Pulumi CLI, newer than ours, works as it is (issue 14, item 4).

A second engine version, built from Go modules like ours (`.ci/run` builds it
into .tools/engines/), stands for a CLI the user installed: on PATH, with its
language and dynamic-provider plugins beside it. scripts/which-pulumi and
scripts/pulumi pick it over the built engine; a CLI that is too old or lacks
the plugins is passed over. The core scenario (deploy, no-op, destroy) runs
under it, once through scripts/pulumi and once as plain `pulumi` in the
project directory, as a user with their own CLI types it.
"""
from __future__ import annotations

import os
import subprocess
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from tests.e2e.conftest import app_config, host_config, make_project
from tests.support.engine import ENGINE_BIN, REPO, WHICH_PULUMI, Stack, built_engine_available

NEWER = "v3.276.0"
NEWER_BIN = REPO / ".tools" / "engines" / NEWER / "bin"
NOT_BUILT = (f"the second engine is not built: scripts/build-pulumi.sh {NEWER} "
             f".tools/engines/{NEWER}/bin (.ci/run does)")

pytestmark = [pytest.mark.engine,
              pytest.mark.skipif(not (NEWER_BIN / "pulumi").exists(), reason=NOT_BUILT)]


def _env(path_first: Path | None, **extra: str) -> dict[str, str]:
    env = dict(os.environ)
    env.pop("DAFLASK_ENGINE", None)
    env.pop("DAFLASK_PULUMI_CLI", None)
    if path_first is not None:
        env["PATH"] = f"{path_first}:{env['PATH']}"
    env.update(extra)
    return env


def _which(env: dict[str, str]) -> str:
    """The CLI scripts/which-pulumi picks, as a resolved path."""
    out = subprocess.run([str(WHICH_PULUMI)], env=env, capture_output=True, text=True).stdout.strip()
    return os.path.realpath(out) if out else ""


def test_a_newer_cli_on_path_is_the_one_used() -> None:
    env = _env(NEWER_BIN)
    assert _which(env) == os.path.realpath(NEWER_BIN / "pulumi")
    out = subprocess.run([str(REPO / "scripts" / "pulumi"), "version"], env=env,
                         capture_output=True, text=True, check=True)
    assert out.stdout.strip() == NEWER


@pytest.mark.skipif(not built_engine_available(), reason="Pulumi engine not built: run scripts/build-pulumi.sh")
def test_too_old_or_without_plugins_falls_back_to_the_built_engine(tmp_path: Path) -> None:
    old = tmp_path / "old"
    old.mkdir()
    for name in ("pulumi-language-python", "pulumi-resource-pulumi-python"):
        (old / name).touch()
    (old / "pulumi").write_text("#!/bin/sh\necho v3.100.0\n")
    for f in old.iterdir():
        f.chmod(0o755)
    assert _which(_env(old)) == os.path.realpath(ENGINE_BIN)

    lonely = tmp_path / "lonely"
    lonely.mkdir()
    (lonely / "pulumi").write_bytes((NEWER_BIN / "pulumi").read_bytes())
    (lonely / "pulumi").chmod(0o755)
    assert _which(_env(lonely)) == os.path.realpath(ENGINE_BIN)  # a CLI with no Python plugin beside it
    assert _which(_env(NEWER_BIN, DAFLASK_ENGINE="built")) == os.path.realpath(ENGINE_BIN)


@pytest.mark.root
@pytest.mark.real_unitd
def test_core_scenario_under_the_users_cli(lab_factory: Any, tmp_path: Path) -> None:
    lab = lab_factory("owncli", front="none")
    project = make_project(tmp_path)
    env = {"PATH": f"{NEWER_BIN}:{os.environ['PATH']}"}
    stack = Stack(project, "owncli", tmp_path / "state", extra_env=env)
    stack.init()
    source = REPO / "examples" / "flask_app"
    path = project / "stacks" / "Pulumi.owncli.yaml"
    doc = yaml.safe_load(path.read_text()) or {}
    doc["config"] = {**(doc.get("config") or {}),
                     "da-flask:hosts": {"lab": host_config(lab)},
                     "da-flask:apps": [app_config("flask_app", "lab", "example.com", source,
                                                  secretEnvironmentKeys=["SECRET_KEY"])]}
    path.write_text(yaml.safe_dump(doc))
    stack.set_config("appSecrets.flask_app.SECRET_KEY", "sk-own-cli-" + "5" * 20, secret=True, path=True)
    try:
        run = stack.up()
        assert "created" in run.stdout
        page = httpx.get(f"http://{lab.address}/", headers={"Host": "example.com"}, timeout=10)
        assert page.status_code == 200 and "Hello from da-flask" in page.text
        # The user's own `pulumi`, run directly in the project directory with
        # their backend settings: the same stack, nothing to do.
        direct = subprocess.run([str(NEWER_BIN / "pulumi"), "preview", "--expect-no-changes",
                                 "--non-interactive", "--stack", "owncli"],
                                cwd=project, env=stack.env(), capture_output=True, text=True, timeout=600)
        assert direct.returncode == 0, direct.stdout[-3000:] + direct.stderr[-2000:]
        version = subprocess.run([str(REPO / "scripts" / "pulumi"), "version"], env=stack.env(),
                                 capture_output=True, text=True, check=True)
        assert version.stdout.strip() == NEWER
    finally:
        stack.destroy(check=False)
