"""The pull-request summary of `pulumi preview --json`, on previews recorded
from the real engine against a lab host (tests/e2e/test_edge.py records them
again on every run; these copies have the engine's stack traces stripped)."""
from __future__ import annotations

import copy
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from daunit.preview_summary import UNKNOWN, changed_paths, summarize

FIXTURES = Path(__file__).parent / "fixtures"
REPO = Path(__file__).resolve().parents[2]


def load(name: str) -> dict[str, Any]:
    return json.loads((FIXTURES / f"preview_{name}.json").read_text())


def step(preview: dict[str, Any], suffix: str) -> dict[str, Any]:
    return next(s for s in preview["steps"] if s["urn"].endswith(f"::{suffix}"))


def test_first_deploy() -> None:
    text = summarize(load("create"))
    assert text.startswith("### Preview of stack `edge`: 10 to create\n")
    assert "- **Files**: first release: 10 files" in text
    assert "- **Virtualenv**: built (`py3.11-" in text
    assert "- **App restart**: starts (new Unit application)" in text
    assert "created from stack config, on `*:443`" in text
    assert "- host `lab`: create" in text


def test_code_edit_headers_and_certificate_rotation() -> None:
    text = summarize(load("edit_and_rotate"))
    assert "- **Files**: changed `app/templates/index.html`\n" in text
    assert "- **Virtualenv**: reused (unchanged)" in text
    assert "- **App restart**: yes (new release;" in text
    for key in ("applications/flask_app/path", "routes/flask_app/0/action/share",
                "routes/flask_app/1/action/response_headers/Strict-Transport-Security",
                "routes/flask_app/0/action/response_headers/X-Frame-Options",
                "listeners/*:443/tls/certificate"):
        assert f"`{key}" in text, key
    assert "DAFLASK_ENV_REVISION" not in text
    assert "rotated: `flask_app-" in text and "old bundle is deleted after the switch" in text
    assert "Environment" not in text  # .env untouched


def test_directadmin_renewal_seen_by_refresh() -> None:
    text = summarize(load("directadmin_renewal"))
    assert "renewed by DirectAdmin (refresh saw a new chain" in text
    assert "- **App restart**: no" in text
    # What refresh found in the release on the host is named, not hidden.
    assert "on the host refresh found extra `__pycache__/" in text


def test_requirements_change_names_the_rebuild() -> None:
    preview = load("create")
    venv = step(preview, "flask_app-venv")
    venv["op"] = "update"
    old = copy.deepcopy(venv["newState"])
    venv["oldState"] = old
    venv["newState"]["inputs"]["key"] = "py3.11-0000000000000000"
    venv["newState"]["inputs"]["requirements"] = old["inputs"]["requirements"] + "six==1.16.0\n"
    assert ("rebuilt: `" + old["inputs"]["key"] + "` -> `py3.11-0000000000000000` "
            "(requirements `+six==1.16.0`)") in summarize(preview)


def test_env_change_makes_the_config_unknown() -> None:
    preview = load("edit_and_rotate")
    app = step(preview, "flask_app-unit-app")
    app["newState"]["inputs"]["config"] = UNKNOWN
    text = summarize(preview)
    assert "yes (its .env changes, so its config is known only during the update)" in text


def test_removed_app_and_failed_preview() -> None:
    preview = load("create")
    for s in preview["steps"]:
        s["op"] = "delete"
        s["oldState"], s["newState"] = s["newState"], None
    preview["changeSummary"] = {"delete": 10}
    text = summarize(preview)
    assert "#### App `flask_app`: removed" in text and "certificate removed" in text
    failed = {"steps": [], "diagnostics": [{"severity": "error", "message": "boom: fix it\n"}]}
    assert "**The preview failed:**\n\n```\nboom: fix it\n```" in summarize(failed, "prod")


def test_changed_paths() -> None:
    assert changed_paths({"a": 1, "b": [1, {"c": 2}]}, {"a": 1, "b": [1, {"c": 3}]}) == [("b", "1", "c")]
    assert changed_paths([1], [1, 2]) == [()]
    assert changed_paths({"a": 1}, {"a": 1, "x": 2}) == [("x",)]
    assert changed_paths(UNKNOWN, UNKNOWN) == [()]


@pytest.mark.parametrize("name", ["create", "edit_and_rotate", "directadmin_renewal"])
def test_command_reads_stdin(name: str) -> None:
    with (FIXTURES / f"preview_{name}.json").open() as stdin:
        out = subprocess.run([sys.executable, "-m", "daunit.preview_summary", "--stack", "prod"],
                             cwd=REPO, stdin=stdin, capture_output=True, text=True, check=True)
    assert out.stdout.startswith("### Preview of stack `prod`:")
    script = subprocess.run([str(REPO / "scripts" / "preview-summary")], cwd=REPO,
                            input=(FIXTURES / f"preview_{name}.json").read_text(),
                            capture_output=True, text=True, check=True)
    assert script.stdout.startswith("### Preview of stack `edge`:")


def test_command_refuses_garbage() -> None:
    out = subprocess.run([sys.executable, "-m", "daunit.preview_summary"], cwd=REPO,
                         input="not json", capture_output=True, text=True)
    assert out.returncode == 1 and "not the JSON" in out.stderr


def test_a_move_to_the_new_unit_names_is_named() -> None:
    # The first preview after the previous release: name changes are updates.
    preview = copy.deepcopy(load("edit_and_rotate"))
    new_name = "daflask:da-flask:edge:flask_app"
    for suffix in ("flask_app-unit-app", "flask_app-unit-route"):
        raw = step(preview, suffix)
        raw["op"] = "update"
        raw["newState"]["inputs"]["name"] = new_name
    text = summarize(preview)
    assert f"`applications/{new_name} (added)`" in text
    assert "`applications/flask_app (removed after the switch)`" in text
    assert f"`routes/{new_name} (added)`" in text
    assert "`routes/flask_app (removed after the switch)`" in text
    assert "moves to its new Unit name" in text
