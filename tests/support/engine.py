"""Drive the real Pulumi engine (built by scripts/build-pulumi.sh) from tests.

Each test gets its own file backend and passphrase, so stacks never leak
between tests or into the developer's own `.pulumi-state`.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
PULUMI_WRAPPER = REPO / "scripts" / "pulumi"
WHICH_PULUMI = REPO / "scripts" / "which-pulumi"
ENGINE_BIN = REPO / ".tools" / "bin" / "pulumi"  # the engine built from Go modules


def built_engine_available() -> bool:
    return ENGINE_BIN.exists() and os.access(ENGINE_BIN, os.X_OK)


def python_project(project: Path, name: str, program: str) -> Path:
    """A one-file Python project in `project`, run with this checkout's virtualenv."""
    project.mkdir(parents=True)
    (project / "Pulumi.yaml").write_text(
        f"name: {name}\nruntime:\n  name: python\n  options:\n    virtualenv: {sys.prefix}\n")
    (project / "__main__.py").write_text(program)
    return project


def engine_path(env: Mapping[str, str] | None = None) -> str | None:
    """The CLI scripts/pulumi runs (the user's own, or the built one), if any."""
    proc = subprocess.run([str(WHICH_PULUMI)], capture_output=True, text=True,
                          env=dict(env) if env is not None else None, check=False)
    return proc.stdout.strip() or None if proc.returncode == 0 else None


def engine_available() -> bool:
    return engine_path() is not None


@dataclass
class PulumiRun:
    args: list[str]
    returncode: int
    stdout: str
    stderr: str

    def json(self) -> Any:
        return json.loads(self.stdout)


@dataclass
class Stack:
    """One stack of one project directory, on a private file backend."""

    project_dir: Path
    name: str
    state_dir: Path
    passphrase: str = "test-passphrase-not-a-secret"
    extra_env: dict[str, str] = field(default_factory=dict)

    def env(self) -> dict[str, str]:
        env = dict(os.environ)
        env.pop("PULUMI_CONFIG_PASSPHRASE_FILE", None)
        env.update(
            PULUMI_BACKEND_URL=f"file://{self.state_dir}",
            PULUMI_CONFIG_PASSPHRASE=self.passphrase,
            PULUMI_HOME=str(REPO / ".tools" / "pulumi-home"),
        )
        env.update(self.extra_env)
        return env

    def run(self, *args: str, check: bool = True, input: str | None = None,
            timeout: float = 600) -> PulumiRun:
        argv = [str(PULUMI_WRAPPER), *args]
        if args and args[0] not in ("stack", "version", "login", "plugin"):
            argv += ["--stack", self.name]
        proc = subprocess.run(argv, cwd=self.project_dir, env=self.env(), input=input,
                              capture_output=True, text=True, timeout=timeout)
        result = PulumiRun(argv, proc.returncode, proc.stdout, proc.stderr)
        if check and proc.returncode != 0:
            errors = "\n".join(dict.fromkeys(
                line.strip()[:1500] for line in proc.stdout.splitlines() if "error" in line))
            raise AssertionError(
                f"pulumi {' '.join(args)} exited {proc.returncode}\n--- errors ---\n{errors}\n"
                f"--- stdout (tail) ---\n{proc.stdout[-3000:]}\n"
                f"--- stderr ---\n{proc.stderr[-3000:]}")
        return result

    def init(self) -> None:
        self.state_dir.mkdir(parents=True, exist_ok=True)
        self.run("stack", "init", self.name, "--secrets-provider", "passphrase",
                 "--non-interactive")

    def set_config(self, key: str, value: str, *, secret: bool = False,
                   path: bool = False) -> None:
        args = ["config", "set", key, "--stack", self.name]
        if secret:
            args.append("--secret")
        if path:
            args.append("--path")
        # The value goes on stdin so a secret never shows in this process's argv.
        self.run(*args, input=value)

    def set_all(self, values: Mapping[str, Any]) -> None:
        for key, value in values.items():
            self.set_config(key, value if isinstance(value, str) else json.dumps(value),
                            path=not isinstance(value, str))

    def up(self, *extra: str, check: bool = True) -> PulumiRun:
        return self.run("up", "--yes", "--non-interactive", "--skip-preview", *extra, check=check)

    def preview(self, *extra: str, check: bool = True) -> PulumiRun:
        return self.run("preview", "--non-interactive", *extra, check=check)

    def refresh(self, *extra: str, check: bool = True) -> PulumiRun:
        return self.run("refresh", "--yes", "--non-interactive", *extra, check=check)

    def destroy(self, *extra: str, check: bool = True) -> PulumiRun:
        return self.run("destroy", "--yes", "--non-interactive", *extra, check=check)

    def outputs(self, *, show_secrets: bool = False) -> dict[str, Any]:
        args = ["stack", "output", "--json", "--stack", self.name]
        if show_secrets:
            args.append("--show-secrets")
        return self.run(*args).json()

    def export(self) -> dict[str, Any]:
        return self.run("stack", "export", "--stack", self.name).json()

    def state_text(self) -> str:
        """Every byte the backend holds for this stack (for secret scans)."""
        chunks = []
        for path in sorted(self.state_dir.rglob("*")):
            if path.is_file():
                chunks.append(path.read_bytes().decode("utf-8", "replace"))
        return "\n".join(chunks)

