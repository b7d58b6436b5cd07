"""releaseCommands: validated into argv lists; the resource's diff says why they run."""
from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from daunit.providers.release_commands import ReleaseCommandsProvider
from daunit.spec import AppSpec
from tests.unit.conftest import app_raw


def commands(value: Any) -> tuple[tuple[str, ...], ...]:
    return AppSpec.model_validate(app_raw(releaseCommands=value)).release_commands


def test_strings_are_split_like_a_shell_and_lists_kept() -> None:
    assert commands(["flask --app flaskr init-db", "python -c 'print(\"a b\")'",
                     ["flask", "db", "upgrade"]]) == (
        ("flask", "--app", "flaskr", "init-db"), ("python", "-c", 'print("a b")'),
        ("flask", "db", "upgrade"))
    assert commands(None) == () and AppSpec.model_validate(app_raw()).release_commands == ()


@pytest.mark.parametrize(("value", "reason"), [
    (["flask init-db\nrm -rf /"], "releaseCommands[0]: contains a control character"),
    ([["flask", "a\tb"]], "releaseCommands[0]: contains a control character"),
    (["   "], "releaseCommands[0]: is empty"),
    (["flask 'unclosed"], "releaseCommands[0]: cannot be split into arguments"),
    ([{"run": "x"}], "releaseCommands[0]: give a command as a string or a list of strings"),
    ("flask init-db", "releaseCommands must be a list of commands"),
    (["true"] * 21, "at most 20"),
])
def test_bad_commands_are_refused_naming_the_entry(value: Any, reason: str) -> None:
    with pytest.raises(ValidationError) as caught:
        commands(value)
    assert reason in str(caught.value)


def props(**changes: Any) -> dict[str, Any]:
    base = {"connection": {"host": "h", "port": 22, "user": "root", "knownHosts": "k"},
            "appDir": "/home/u/a", "user": "u", "releaseId": "0123456789abcdef",
            "venvKey": "py3.11-0123456789abcdef", "commands": [["flask", "init-db"]],
            "environment": {"A": "1"}, "secretKeys": []}
    return {**base, **changes}


@pytest.mark.parametrize("change", [
    {"releaseId": "fedcba9876543210"},
    {"venvKey": "py3.11-fedcba9876543210"},
    {"environment": {"A": "2"}},
    {"commands": [["flask", "init-db"], ["flask", "db", "upgrade"]]},
])
def test_a_new_release_venv_environment_or_command_list_runs_them_again(change: dict[str, Any]) -> None:
    diff = ReleaseCommandsProvider().diff("id", {**props(), "ran": 1}, props(**change))
    assert diff.changes and not diff.replaces
    assert list(change) == [k for k in change if k not in (diff.stables or [])]


def test_nothing_new_runs_nothing() -> None:
    assert not ReleaseCommandsProvider().diff("id", {**props(), "ran": 1}, props()).changes
