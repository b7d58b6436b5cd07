"""appSecrets (APP -> NAME -> value) against the apps' secretEnvironmentKeys.

Messages name keys, never values.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

from daunit.spec.base import format_path
from daunit.spec.environment import env_value_problem

if TYPE_CHECKING:
    from daunit.spec.app import AppSpec
    from daunit.spec.stack import StackSpec


def _kind_of(value: Any) -> str:
    if isinstance(value, bool):
        return "true/false"
    if isinstance(value, (int, float)):
        return "a number"
    return "null" if value is None else "a list" if isinstance(value, list) else "a map"


def _secret_value_problem(index: int, app: AppSpec, key: str, value: Any) -> str | None:
    path = format_path(("appSecrets", app.name, str(key)))
    if key not in app.secret_environment_keys:
        return (f"{path} is not listed in apps[{index}].secretEnvironmentKeys: add it "
                f"there, or remove it (`pulumi config rm --path {path}`)")
    if not isinstance(value, str):
        return (f"{path} is {_kind_of(value)}, not text: set it again with "
                f"`pulumi config set --secret --path {path}` (the value on stdin), which stores text")
    return env_value_problem(path, value, allowed_controls="\t\n\r")


def _one_app_secrets(index: int, app: AppSpec, values: Any) -> list[tuple[str, str]]:
    where = format_path(("appSecrets", app.name))
    if values is None:
        values = {}
    if not isinstance(values, dict):
        return [(where, f"{where} must be a map of NAME: value, set with `pulumi config set --secret "
                        f"--path {where}.NAME` (the value on stdin)")]
    problems = []
    for key in app.secret_environment_keys:
        if key not in values:
            path = f"{where}.{key}"
            problems.append((path, f"{path} has no value but apps[{index}].secretEnvironmentKeys lists {key}: "
                                   f"set it with `pulumi config set --secret --path {path}` (the value on stdin)"))
    for key, value in values.items():
        problem = _secret_value_problem(index, app, key, value)
        if problem:
            problems.append((format_path(("appSecrets", app.name, str(key))), problem))
    return problems


def app_secrets_problems(spec: StackSpec, raw: Any) -> list[tuple[str, str]]:
    """What is wrong with the stack's `appSecrets` for `spec`'s apps, as (path, message)."""
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        return [("appSecrets", "appSecrets must be a map of app name to {NAME: value}: set each value with "
                               "`pulumi config set --secret --path appSecrets.APP.NAME`")]
    # Entries for apps not in `apps` are left alone: an app removed from the
    # config keeps its secrets until the user drops them, and a misspelt app
    # name shows up as the real app's missing value.
    problems: list[tuple[str, str]] = []
    for index, app in enumerate(spec.apps):
        problems += _one_app_secrets(index, app, raw.get(app.name))
    return problems
