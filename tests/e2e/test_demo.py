"""The README's main command, `make demo`, as a newcomer runs it (issue 9).

scripts/demo.sh is run as `make demo` runs it (not through make, which would
install into the shared .venv), on a lab of this session and a throwaway
project and file backend, so a developer's own `dev` lab and stack are never
touched:

- without a real unitd (UNITD=/nonexistent: the lab's Unit is the control-API
  double) it deploys everything, exits 0, says in one line why the page cannot
  be fetched, shows Unit's config for the app and the tree on the host, and
  says how to get a real unitd;
- with one, it fetches the page and a static file through Unit;
- paramiko's own log lines never reach the terminal: not in the demo, and not
  when a health check fails, whose error is printed once.
"""
from __future__ import annotations

import json
import re
import subprocess
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from daunit import directadmin
from daunit.ownership import Owner
from lab.host import LabHost, down
from tests.e2e.conftest import make_project
from tests.e2e.test_deploy import unit_config
from tests.support.engine import REPO, PulumiRun, Stack, engine_available

pytestmark = [pytest.mark.root, pytest.mark.engine]

APP = "flask_app"
APP_DIR = f"/home/username/domains/example.com/public_html/{APP}"
DOUBLE_LINE = ("== The lab's Unit is the control-API double (the lab found no real unitd when "
               "it was made), so the page cannot be fetched")
# What paramiko prints when its log reaches stderr (transport.py's messages).
PARAMIKO_LINES = re.compile(r"Secsh channel|paramiko|Socket exception|Traceback")


@dataclass
class Demo:
    """One run of scripts/demo.sh on its own lab, project and backend."""

    lab_name: str
    stack: Stack
    extra_env: dict[str, str]
    result: subprocess.CompletedProcess[str] | None = None

    @property
    def config_file(self) -> Path:
        return self.stack.project_dir / "stacks" / f"Pulumi.{self.stack.name}.yaml"

    @property
    def output(self) -> str:
        assert self.result is not None
        return self.result.stdout + self.result.stderr

    def run(self) -> subprocess.CompletedProcess[str]:
        env = {**self.stack.env(), **self.extra_env, "DEMO_LAB": self.lab_name,
               "DEMO_STACK": self.stack.name, "DEMO_PROJECT": str(self.stack.project_dir)}
        self.result = subprocess.run(["bash", str(REPO / "scripts" / "demo.sh")], env=env,
                                     capture_output=True, text=True, timeout=900)
        return self.result

    def lab(self) -> LabHost:
        return LabHost.load(self.lab_name)


def demo_project(root: Path, stack: str) -> Path:
    """The program as the checkout has it, with the committed dev stack config as `stack`'s."""
    project = make_project(root)
    (project / "examples").symlink_to(REPO / "examples")
    # The checkout's dev config may carry the developer's own encrypted
    # values: start from the committed one, without them.
    committed = subprocess.run(["git", "-C", str(REPO), "show", "HEAD:stacks/Pulumi.dev.yaml"],
                               capture_output=True, text=True, check=True).stdout
    config = yaml.safe_load(committed)
    config.pop("encryptionsalt", None)
    config["config"].pop("da-flask:appSecrets", None)
    (project / "stacks" / f"Pulumi.{stack}.yaml").write_text(yaml.safe_dump(config))
    return project


@pytest.fixture(scope="module")
def demo_factory(tmp_path_factory: pytest.TempPathFactory,
                 lab_name: Callable[[str], str]) -> Iterator[Callable[..., Demo]]:
    if not engine_available():
        pytest.skip("Pulumi engine not built: run scripts/build-pulumi.sh")
    made: list[Demo] = []

    def make(name: str, **extra_env: str) -> Demo:
        root = tmp_path_factory.mktemp(name)
        stack = Stack(demo_project(root, name), name, root / "state")
        stack.state_dir.mkdir()
        demo = Demo(lab_name(name), stack, extra_env)
        made.append(demo)
        return demo

    yield make
    for demo in made:
        if demo.result is not None:
            demo.stack.destroy(check=False)
        down(demo.lab_name)


@pytest.fixture(scope="module")
def double_demo(demo_factory: Callable[..., Demo]) -> Demo:
    demo = demo_factory("demo-double", UNITD="/nonexistent")
    demo.run()
    return demo


def printed_json(output: str, key: str) -> Any:
    """The JSON the demo printed under `GET /config/<key>`."""
    header = f"GET /config/{key}\n"
    assert header in output, output[-3000:]
    start = output.index(header) + len(header)
    value, _ = json.JSONDecoder().raw_decode(output[start:])
    return value


def printed_tree(output: str) -> dict[str, str]:
    """./path -> "mode owner:group" of the tree lines the demo printed."""
    tree = {}
    for line in output.splitlines():
        m = re.match(r"^([-dl][-rwxsStT]{9}) (\S+:\S+) (\.\S*)", line)
        if m:
            tree[m.group(3)] = f"{m.group(1)} {m.group(2)}"
    return tree


def test_demo_without_unitd_deploys_everything_and_exits_0(double_demo: Demo) -> None:
    result = double_demo.result
    assert result is not None
    assert result.returncode == 0, double_demo.output[-4000:]
    assert double_demo.lab().unit_kind == "double"
    assert double_demo.output.count(DOUBLE_LINE) == 1, double_demo.output[-3000:]
    assert "build NGINX Unit 1.35 with its Python module and point UNITD at its unitd" in result.stdout
    assert "/opt/unit/sbin/unitd" in result.stdout
    # Every resource of the stack was created: none failed or was left out.
    assert re.search(r"\b\d+ created\b", result.stdout), result.stdout[-2000:]
    assert "failed" not in result.stdout.lower()


def test_the_health_check_is_off_in_the_stack_config_and_the_output_says_so(
        double_demo: Demo) -> None:
    config = yaml.safe_load(double_demo.config_file.read_text())
    assert config["config"]["da-flask:apps"][0]["healthCheck"] is False
    assert f"== Deploying with healthCheck: false for {APP}" in double_demo.output


def test_demo_prints_unit_config_for_the_app_as_unit_holds_it(double_demo: Demo) -> None:
    held = unit_config(double_demo.lab())
    out = double_demo.result.stdout if double_demo.result else ""
    # The default lab (`python -m lab up` with no --front) has nginx in front: the app goes
    # the DirectAdmin way, named DOMAIN_N.
    assert double_demo.lab().front == "nginx"
    stored = directadmin.stored_name(Owner("da-flask", "demo-double"), APP)
    name = directadmin.unit_app_name("example.com", stored)
    assert list(held["applications"]) == [name]
    app = printed_json(out, f"applications/{name}")
    assert app == held["applications"][name]
    assert app["user"] == "username" and app["path"].startswith(f"{APP_DIR}/releases/")
    assert printed_json(out, "routes/example.com") == held["routes"]["example.com"]
    assert printed_json(out, "routes/da_dispatch") == held["routes"]["da_dispatch"]
    port = double_demo.lab().unit_port
    assert printed_json(out, "listeners") == held["listeners"] == {
        f"127.0.0.1:{port}": {"pass": "routes/da_dispatch"}}
    # And what DirectAdmin stored, from which its re-fill makes the same.
    assert f"example.com.unit/{stored}.json\n" in out
    stored_at = out.index(f"example.com.unit/{stored}.json\n") + len(f"example.com.unit/{stored}.json\n")
    assert json.JSONDecoder().raw_decode(out[stored_at:])[0] == app


def test_demo_prints_the_tree_on_the_host_with_modes_and_owners(double_demo: Demo) -> None:
    out = double_demo.result.stdout if double_demo.result else ""
    assert f"== The app's tree on the host, {APP_DIR} " in out
    tree = printed_tree(out)
    on_host = double_demo.lab().run(
        ["sh", "-c", 'cd "$1" && find . -path "./venvs/*/*" -prune -o -printf "%p\\n"', "sh",
         APP_DIR]).stdout.split()
    assert sorted(tree) == sorted(on_host)
    assert tree["./instance"] == "drwx------ username:username"
    assert tree["./instance/.env"] == "-rw------- username:username"
    assert tree["./current"].startswith("lrwxrwxrwx ")
    assert re.search(r"^lrwxrwxrwx \S+ \./current -> releases/[0-9a-f]+$", out, re.M), out[-3000:]


def test_no_paramiko_lines_reach_the_terminal(double_demo: Demo) -> None:
    assert not PARAMIKO_LINES.search(double_demo.output), PARAMIKO_LINES.findall(
        double_demo.output)


def test_demo_again_changes_nothing(double_demo: Demo) -> None:
    before = double_demo.config_file.read_text()
    result = double_demo.run()
    assert result.returncode == 0, double_demo.output[-4000:]
    assert not re.search(r"\b\d+ (created|updated|replaced|deleted)\b", result.stdout), \
        result.stdout[-2000:]
    assert double_demo.config_file.read_text() == before


def test_failed_health_check_is_said_once_without_paramiko_lines(double_demo: Demo) -> None:
    """The old demo's failure: a health check retrying against the double's closed port."""
    stack = double_demo.stack
    stack.set_config("apps[0].healthCheck", "true", path=True)
    stack.set_config("apps[0].environment.GREETING", "health-checked this time", path=True)
    try:
        failed: PulumiRun = stack.up(check=False)
    finally:
        stack.set_config("apps[0].healthCheck", "false", path=True)
    out = failed.stdout + failed.stderr
    assert failed.returncode != 0
    assert not PARAMIKO_LINES.search(out), PARAMIKO_LINES.findall(out)
    # The engine's progress rows repeat the first line of a resource's error;
    # the error itself, with what we found, is in its Diagnostics once.
    # Behind the front server the check goes to Unit's loopback listener (unit_port).
    port = double_demo.lab().unit_port
    error = f"health check http://example.com/ (via 127.0.0.1:{port}) failed: expected 200, got no answer"
    diagnostics = out.split("\nDiagnostics:\n", 1)[1]
    assert diagnostics.count(error) == 1, diagnostics
    assert out.count(f"nothing accepts connections on 127.0.0.1:{port} on the host") == 1, diagnostics


@pytest.mark.real_unitd
def test_demo_with_a_real_unitd_fetches_the_page_and_a_static_file(
        demo_factory: Callable[..., Demo]) -> None:
    demo = demo_factory("demo-real")
    result = demo.run()
    assert result.returncode == 0, demo.output[-4000:]
    assert demo.lab().unit_kind == "real"
    assert DOUBLE_LINE not in demo.output
    assert "<main>" in result.stdout and "Hello from the lab host" in result.stdout
    # Through nginx in front (its Server header), on :80 and on :443 with the domain's
    # certificate checked against the lab CA.
    static = result.stdout.split("== GET http://example.com/static/style.css", 1)[1]
    assert re.search(r"^HTTP/1\.1 200", static, re.M) and re.search(r"^Server: nginx", static, re.M)
    https = result.stdout.split("== GET https://example.com/ (nginx with the domain's DirectAdmin", 1)[1]
    assert re.search(r"^HTTP/[12](\.1)? 200", https, re.M), https[:500]
    assert "healthCheck" not in json.dumps(yaml.safe_load(demo.config_file.read_text()))
    assert not PARAMIKO_LINES.search(demo.output)

