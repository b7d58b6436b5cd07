"""What the benchmarks deploy: app sources, throwaway projects and stacks.

Every project lives in a temporary directory with its own file backend
(nothing touches the checkout's `.pulumi-state` or `stacks/`); the program
parts are symlinks to this checkout, as the e2e tests do it.
"""
from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml  # type: ignore[import-untyped]

from tests.support.engine import REPO, Stack

EXAMPLE = REPO / "examples" / "flask_app"
BASELINE = REPO / "bench" / "baseline"
EDITED_FILE = "app/templates/index.html"
SECRET_PLAINTEXT = "sk-bench-" + "0123456789abcdef" * 2  # throwaway, for the lab only


def make_app_source(dest: Path, total_files: int) -> Path:
    """The example app, padded to `total_files` files with static assets.

    The padding is 2 KiB text files under app/static/gen/, so a 500-file app
    is about 1 MiB: a site with a vendored JS/CSS/icon tree.
    """
    shutil.copytree(EXAMPLE, dest, ignore=shutil.ignore_patterns("__pycache__", "instance", "logs"))
    have = sum(1 for p in dest.rglob("*") if p.is_file())
    gen = dest / "app" / "static" / "gen"
    for i in range(max(0, total_files - have)):
        sub = gen / f"d{i // 50:02d}"
        sub.mkdir(parents=True, exist_ok=True)
        seed = hashlib.sha256(f"{dest.name}-{i}".encode()).hexdigest()
        (sub / f"asset{i:04d}.css").write_text(f"/* {seed} */\n" + (f".c{i} {{ color: #{seed[:6]}; }}\n" * 64))
    return dest


def edit_one_file(source: Path, round_: int) -> int:
    """Change one template by a few bytes (inside its block, so the page shows it);
    returns the file's new size."""
    path = source / EDITED_FILE
    lines = [line for line in path.read_text().splitlines(keepends=True)
             if "<!-- bench edit " not in line]
    end = max(i for i, line in enumerate(lines) if "{% endblock %}" in line)
    lines.insert(end, f"  <!-- bench edit {round_} -->\n")
    path.write_text("".join(lines))
    return path.stat().st_size


def _pulumi_yaml(name: str) -> str:
    return (f"name: {name}\n"
            "runtime:\n  name: python\n  options:\n"
            f"    virtualenv: {REPO / '.venv'}\n"
            "stackConfigDir: stacks\n")


@dataclass
class Project:
    kind: str  # "ours" | "baseline" | "empty"
    stack: Stack
    sources: list[Path]

    @property
    def config_path(self) -> Path:
        return self.stack.project_dir / "stacks" / f"Pulumi.{self.stack.name}.yaml"

    def write_config(self, values: dict[str, Any]) -> None:
        path = self.config_path
        existing = yaml.safe_load(path.read_text()) if path.exists() else {}
        config = dict((existing or {}).get("config") or {})
        config.update(values)
        path.write_text(yaml.safe_dump({**(existing or {}), "config": config}, sort_keys=True))


def command_provider() -> Path | None:
    """pulumi-command's provider binary, where this machine has one (as scripts/pulumi looks)."""
    for candidate in (os.environ.get("PULUMI_COMMAND_PROVIDER"),
                      REPO / ".tools" / "bin" / "pulumi-resource-command",
                      "/opt/pulumi-command/bin/pulumi-resource-command"):
        if candidate and os.access(candidate, os.X_OK):
            return Path(candidate)
    return None


def baseline_provider() -> str:
    """What the baseline program runs on: "pulumi-command" (real) or "stand-in"."""
    return "pulumi-command" if command_provider() else "stand-in"


def make_project(root: Path, kind: str, stack_name: str) -> Project:
    project = root / f"{kind}-project"
    (project / "stacks").mkdir(parents=True)
    if kind == "ours":
        for part in ("__main__.py", "components", "daunit"):
            (project / part).symlink_to(REPO / part)
        (project / "Pulumi.yaml").write_text(_pulumi_yaml("da-flask"))
    elif kind == "baseline":
        for part in ("__main__.py", "standin.py"):
            (project / part).symlink_to(BASELINE / part)
        (project / "Pulumi.yaml").write_text(_pulumi_yaml("da-flask-baseline"))
    elif kind == "empty":
        (project / "__main__.py").write_text(
            '"""No resources: the floor of `pulumi up`."""\nimport pulumi  # noqa: F401\n')
        (project / "Pulumi.yaml").write_text(_pulumi_yaml("bench-empty"))
    else:
        raise ValueError(kind)
    stack = Stack(project, stack_name, root / "state")
    stack.init()
    return Project(kind, stack, [])


def ours_config(lab: Any, address: str, port: int,
                sources: list[Path]) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """This project's `da-flask:hosts` and `da-flask:apps` for the lab (or the relay
    in front of it), one app per source; the pyinfra baseline reads the same."""
    names = [f"app{i:02d}" for i in range(1, len(sources) + 1)]
    # A bare key line: valid whatever address/port the relay listens on.
    hosts = {"lab": {"address": address, "port": port, "sshUser": "root",
                     "hostKey": lab.host_public_key, "keyFile": lab.client_key_path,
                     "daUser": lab.da_user, "publicAddress": lab.address}}
    apps = [{"name": n, "host": "lab", "domain": f"{n}.example.com", "source": str(s),
             "environment": {"FLASK_CONFIG": "production", "GREETING": "first greeting"},
             "secretEnvironmentKeys": ["SECRET_KEY"]}
            for n, s in zip(names, sources, strict=True)]
    return hosts, apps


def secrets_of(count: int) -> dict[str, dict[str, str]]:
    """Every app's secret environment (the same throwaway value for each)."""
    return {f"app{i:02d}": {"SECRET_KEY": SECRET_PLAINTEXT} for i in range(1, count + 1)}


def configure(project: Project, lab: Any, address: str, port: int, sources: list[Path]) -> None:
    """Point the stack at the lab (or the relay in front of it) with one app per source."""
    project.sources = sources
    names = [f"app{i:02d}" for i in range(1, len(sources) + 1)]
    # A bare key line: valid whatever address/port the relay listens on.
    host_key = lab.host_public_key
    if project.kind == "ours":
        # One secret set on stdin, its ciphertext reused for every app.
        project.stack.set_config(f"appSecrets.{names[0]}.SECRET_KEY", SECRET_PLAINTEXT,
                                 secret=True, path=True)
        stored = yaml.safe_load(project.config_path.read_text())["config"]
        secure = stored["da-flask:appSecrets"][names[0]]["SECRET_KEY"]
        hosts, apps = ours_config(lab, address, port, sources)
        project.write_config({
            "da-flask:hosts": hosts,
            "da-flask:apps": apps,
            "da-flask:appSecrets": {n: {"SECRET_KEY": secure} for n in names},
        })
    elif project.kind == "baseline":
        project.stack.set_config("bench:secretKey", SECRET_PLAINTEXT, secret=True)
        project.write_config({
            "bench:provider": baseline_provider(),
            "bench:host": {"address": address, "port": port, "hostKey": host_key,
                           "keyFile": lab.client_key_path, "daUser": lab.da_user},
            "bench:apps": [{"name": n, "domain": f"{n}.example.com", "source": str(s)}
                           for n, s in zip(names, sources, strict=True)],
        })


def domains(count: int) -> list[str]:
    return [f"app{i:02d}.example.com" for i in range(1, count + 1)]


def resource_outputs(stack: Stack, type_suffix: str) -> list[dict[str, Any]]:
    """Outputs of the resources whose URN ends with `type_suffix` (e.g. "-release")."""
    deployment = stack.export()["deployment"]
    return [r.get("outputs", {}) for r in deployment.get("resources", [])
            if r["urn"].endswith(type_suffix) or r["urn"].rsplit("::", 1)[-1].endswith(type_suffix)]


def fetch_wheels(requirements: Path, dest: Path, extra: tuple[str, ...] = ()) -> Path:
    """The app's pinned wheels and `extra` ones (the package the requirements
    scenario adds), downloaded once with pip on this machine (the lab's Python
    is this machine's /usr/bin/python3.11, so the same wheels fit)."""
    key = hashlib.sha256(requirements.read_bytes() + "\n".join(extra).encode()).hexdigest()[:16]
    wheels = dest / f"wheels-{key}"
    if not (wheels / ".complete").exists():
        wheels.mkdir(parents=True, exist_ok=True)
        subprocess.run([str(REPO / ".venv" / "bin" / "pip"), "download", "-q", "--disable-pip-version-check",
                        "--no-deps", "-d", str(wheels), "-r", str(requirements), *extra],
                       check=True, timeout=600)
        (wheels / ".complete").touch()
    return wheels


def add_requirement(source: Path, line: str) -> None:
    """Append one pinned package to the app's requirements.txt."""
    path = source / "requirements.txt"
    text = path.read_text()
    path.write_text(text + ("" if text.endswith("\n") else "\n") + line + "\n")


def unit_apps_named(lab: Any, app: str) -> dict[str, Any]:
    """Unit's applications for `app`: named `app`, or `daflask:<project>:<stack>:<app>`
    as every stack of ours (and the pyinfra world) names them."""
    got = lab.run(["curl", "-fsS", "--unix-socket", lab.unit_socket, "http://localhost/config/applications"],
                  check=False)
    if got.returncode != 0:
        return {}
    apps = json.loads(got.stdout)
    return {name: cfg for name, cfg in apps.items() if name == app or name.endswith(f":{app}")}


def live_venv_has(lab: Any, app: str, module_file: str) -> bool:
    """Whether the venv Unit runs the app from (its `home`) holds module_file."""
    homes = [cfg.get("home", "") for cfg in unit_apps_named(lab, app).values()]
    return len(homes) == 1 and lab.host_path(f"{homes[0]}/lib/python3.11/site-packages/{module_file}").is_file()


def provide_wheels(lab: Any, wheels: Path) -> None:
    """A local wheelhouse for pip on the lab, for both programs alike.

    pip's HTTP cache stays empty on these labs (the responses that reach them
    through the package proxy are not stored), so every venv would download
    its wheels again from the index. A wheelhouse named in the lab's
    /etc/pip.conf (`find-links`, `no-index`) plays the part of a warm pip cache:
    no index traffic, no download, the same `pip install -r` command.
    """
    home = f"/home/{lab.da_user}"
    dst = lab.host_path(f"{home}/.bench-wheels")
    shutil.copytree(wheels, dst, dirs_exist_ok=True)
    subprocess.run(["chown", "-R", f"{lab.da_uid}:{lab.da_uid}", str(dst)], check=True)
    with open(lab.host_path("/etc/pip.conf"), "a") as conf:  # in place: it is bind-mounted
        conf.write(f"find-links = {home}/.bench-wheels\nno-index = true\n")


def summary_counts(stdout: str) -> dict[str, int]:
    """The `Resources:` block `pulumi up` prints: {"created": 9, "unchanged": 0, ...}."""
    counts: dict[str, int] = {}
    block = stdout.rsplit("Resources:", 1)[-1].split("Duration:", 1)[0] if "Resources:" in stdout else ""
    for m in re.finditer(r"^\s*[-+~<>=]*\s*(\d+) (\w+)", block, re.MULTILINE):
        counts[m.group(2)] = counts.get(m.group(2), 0) + int(m.group(1))
    return counts


def to_json(value: Any) -> str:
    return json.dumps(value, indent=2, sort_keys=True, default=str)
