"""A throwaway copy of the project (program + example app) per test module,
deployed by the real Pulumi engine onto a lab host."""
from __future__ import annotations

import contextlib
import secrets
import shutil
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.support.engine import REPO, Stack, engine_available

PROGRAM_PARTS = ("__main__.py", "components", "daunit")


@dataclass
class Deployment:
    stack: Stack
    project: Path
    app_sources: dict[str, Path]
    secret_key: str

    def write_config(self, hosts: dict[str, Any], apps: list[dict[str, Any]]) -> None:
        path = self.project / "stacks" / f"Pulumi.{self.stack.name}.yaml"
        existing = yaml.safe_load(path.read_text()) if path.exists() else {}
        config = dict((existing or {}).get("config") or {})
        config["da-flask:hosts"] = hosts
        config["da-flask:apps"] = apps
        path.write_text(yaml.safe_dump({**(existing or {}), "config": config}, sort_keys=True))


def make_project(root: Path) -> Path:
    project = root / "project"
    (project / "stacks").mkdir(parents=True)
    for part in PROGRAM_PARTS:
        (project / part).symlink_to(REPO / part)
    (project / "Pulumi.yaml").write_text(
        "name: da-flask\n"
        "runtime:\n  name: python\n  options:\n"
        f"    virtualenv: {REPO / '.venv'}\n"
        "stackConfigDir: stacks\n")
    return project


def host_config(lab: Any) -> dict[str, Any]:
    return {"address": lab.address, "port": lab.port, "sshUser": "root",
            "hostKey": lab.host_key_line, "keyFile": str(lab.client_key_path),
            "daUser": lab.da_user}


def app_config(name: str, host: str, domain: str, source: Path, **extra: Any) -> dict[str, Any]:
    return {"name": name, "host": host, "domain": domain, "source": str(source),
            "environment": {"FLASK_CONFIG": "production", "GREETING": "first greeting"},
            **extra}


@contextlib.contextmanager
def broken_release(source: Path) -> Iterator[None]:
    """While inside: the example app's source imports fine but answers 500 on every path."""
    views = source / "app" / "views" / "main.py"
    original = views.read_text()
    views.write_text(original + "\n\n@main.before_app_request\ndef _broken():\n"
                     "    raise RuntimeError('deliberately broken release')\n")
    try:
        yield
    finally:
        views.write_text(original)


@pytest.fixture(scope="module")
def deployment_factory(tmp_path_factory: pytest.TempPathFactory) -> Callable[..., Deployment]:
    if not engine_available():
        pytest.skip("Pulumi engine not built: run scripts/build-pulumi.sh")
    made: list[Deployment] = []

    def make(stack_name: str = "e2e", apps: tuple[str, ...] = ("flask_app",)) -> Deployment:
        root = tmp_path_factory.mktemp(stack_name)
        project = make_project(root)
        sources = {}
        for app in apps:
            src = root / "src" / app
            shutil.copytree(REPO / "examples" / "flask_app", src,
                            ignore=shutil.ignore_patterns("__pycache__", "instance", "logs"))
            sources[app] = src
        stack = Stack(project, stack_name, root / "state")
        stack.init()
        secret_key = "sk-" + secrets.token_hex(16)
        d = Deployment(stack, project, sources, secret_key)
        made.append(d)
        return d

    yield make
    for d in made:
        d.stack.destroy(check=False)
