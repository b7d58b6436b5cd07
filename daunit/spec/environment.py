"""An app's environment: names and values as Unit and instance/.env take them.

Secret values never pass here: the stack lists their names
(secretEnvironmentKeys); daunit.spec.app_secrets checks the values' shape.
"""
from __future__ import annotations

import re
from typing import Any

from daunit.spec.base import Problem, invalid, raise_problems, show
from daunit.spec.text import has_control

ENV_NAME_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")

# Environment names da-flask sets itself; a value from the stack would be overwritten.
RESERVED_ENV_NAMES: dict[str, str] = {
    "PYTHONPATH": "to the release directory",
    "DAFLASK_ENV_REVISION": "to restart the app when instance/.env changes",
    "DAFLASK_APP_MODULE": "to the app's module, for da-flask's entry module",
    "DAFLASK_APP_CALLABLE": "to the app's callable, for da-flask's entry module",
    "DAFLASK_OWNER": "to mark the Unit application as this stack's",
}


def env_value_problem(what: str, value: str, *, allowed_controls: str) -> str | None:
    """Why `value` cannot be an environment value (in Unit's config and instance/.env), or None.

    The message names `what` (like "environment DEBUG") and never the value,
    so it serves secrets too.
    """
    if "\x00" in value:
        return f"{what} contains a NUL character: remove it"
    if has_control(value, allowed=allowed_controls):
        return f"{what} contains a line break or other control character: remove it"
    if "${" in value:
        # python-dotenv expands ${NAME} in instance/.env and has no escape for it.
        return f"{what} contains '${{', which python-dotenv would expand as a variable: change the value"
    return None


def env_name_problem(field: str, name: str, *, example: str) -> str | None:
    """Why `name` (listed in `field`) cannot be an environment name, or None."""
    if not ENV_NAME_RE.fullmatch(name):
        return (f"{field} name {show(name)} is not valid: use letters, digits and underscores, "
                f"not starting with a digit, like {example}")
    if name in RESERVED_ENV_NAMES:
        return f"{field} {name} is set by da-flask ({RESERVED_ENV_NAMES[name]}): remove it"
    return None


def numbers_as_text(value: Any) -> Any:
    """environment with YAML's numbers (`PORT: 8080`) as text; other non-text values refused."""
    if not isinstance(value, dict):
        return value
    out: dict[Any, Any] = {}
    problems: list[Problem] = []
    for key, item in value.items():
        if isinstance(item, (int, float)) and not isinstance(item, bool):
            item = str(item)
        elif not isinstance(item, str):
            problems.append(((str(key),), f"environment {key} must be text: quote the value in the "
                                          f'stack YAML, like {key}: "true"'))
        out[key] = item
    raise_problems("environment", problems)
    return out


def check_environment(value: dict[str, str]) -> dict[str, str]:
    problems: list[Problem] = []
    for key, item in value.items():
        problem = (env_name_problem("environment", key, example="FLASK_CONFIG")
                   or env_value_problem(f"environment {key}", item, allowed_controls="\t"))
        if problem:
            problems.append(((key,), problem))
    raise_problems("environment", problems)
    return value


def check_secret_keys(value: tuple[str, ...], environment: dict[str, str] | None) -> tuple[str, ...]:
    """secretEnvironmentKeys: valid names, none also in environment; sorted, once each."""
    for key in value:
        problem = env_name_problem("secretEnvironmentKeys", key, example="SECRET_KEY")
        if problem:
            raise invalid(problem)
    overlap = sorted(set(value) & set(environment or {}))
    if overlap:
        raise invalid(f"secretEnvironmentKeys {', '.join(overlap)} also in environment: a name is "
                      "either secret or not; remove it from environment")
    return tuple(sorted(set(value)))
