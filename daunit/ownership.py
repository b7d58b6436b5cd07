"""Which Unit objects belong to which stack (pure, no I/O).

Unit's configuration on a host is shared: DirectAdmin keeps its own apps
there (named `DOMAIN_APP`), an admin may add routes by hand, and several
stacks (projects, environments) may deploy onto one host. Every object a
stack makes is therefore

- named `daflask:<project>:<stack>:<app>`. Pulumi project and stack names
  and app names never contain `:`, so the name is one stack's and one app's
  only; and a DirectAdmin name starts with a domain followed by `_`, while
  ours has `:` where a domain would end, so the two cannot meet. Unit takes
  any string as a name; these characters also pass through `pass` values
  ("applications/NAME", "routes/NAME") and the control API's paths.
- marked: a Unit application accepts no unknown keys, so the mark is the
  environment variable `DAFLASK_OWNER=<project>/<stack>` in its config (not a
  secret; the app may read it). A route is an array of steps with no room
  for a mark: it is ours when its name is in our scheme and it passes to our
  (marked) application. A dispatch entry is ours when it passes to our route.

Before any update or delete the live object is checked: marked by another
stack, or not running code from our app directory (a stack of the same name
deploying from another state backend), and we refuse with an error naming
the owner. Unmarked objects under the previous
release's names (the bare app name) that point into our app directory were
made by an earlier version of this very stack: they are adopted (replaced by
the new names and removed).
"""
from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from daunit.spec.types import APP_NAME_RE

__all__ = [
    "NAME_PREFIX",
    "OWNER_ENV",
    "Owner",
    "app_claim_problem",
    "app_owner_mark",
    "dir_sharing_problem",
    "name_owner",
    "passes_to_app",
    "points_into",
    "unit_name",
]

NAME_PREFIX = "daflask"
SEPARATOR = ":"
OWNER_ENV = "DAFLASK_OWNER"

# What Pulumi accepts in project and stack names (and what we rely on: no ':').
# Always fullmatch: `$` would let a trailing newline through.
PULUMI_NAME_RE = re.compile(r"^[A-Za-z0-9_.-]{1,100}$")


@dataclass(frozen=True)
class Owner:
    """One stack: the Pulumi project and stack that deploy an app."""

    project: str
    stack: str

    def __post_init__(self) -> None:
        for what, value in (("project", self.project), ("stack", self.stack)):
            if not PULUMI_NAME_RE.fullmatch(value):
                raise ValueError(f"Pulumi {what} name {value!r} is not usable in Unit names: "
                                 "use letters, digits, '_', '.' and '-'")

    @property
    def mark(self) -> str:
        """The value of DAFLASK_OWNER: `<project>/<stack>`."""
        return f"{self.project}/{self.stack}"


def unit_name(owner: Owner, app_name: str) -> str:
    """The name of the app's Unit application, of its route, and the prefix of
    its certificate bundles: `daflask:<project>:<stack>:<app>`."""
    if not APP_NAME_RE.fullmatch(app_name):
        raise ValueError(f"app name {app_name!r} is not valid (see daunit.spec.app)")
    return SEPARATOR.join((NAME_PREFIX, owner.project, owner.stack, app_name))


def name_owner(name: str) -> str | None:
    """`<project>/<stack>` when `name` is in our scheme, else None."""
    parts = name.split(SEPARATOR)
    if len(parts) != 4 or parts[0] != NAME_PREFIX:
        return None
    _, project, stack, app = parts
    if not (PULUMI_NAME_RE.fullmatch(project) and PULUMI_NAME_RE.fullmatch(stack)
            and APP_NAME_RE.fullmatch(app)):
        return None
    return f"{project}/{stack}"


def app_owner_mark(config: Mapping[str, Any] | None) -> str | None:
    """The DAFLASK_OWNER an application object carries, if any."""
    env = (config or {}).get("environment")
    mark = env.get(OWNER_ENV) if isinstance(env, Mapping) else None
    return mark if isinstance(mark, str) else None


def points_into(config: Mapping[str, Any], app_dir: str) -> bool:
    """Whether an application object runs code from `app_dir` (our app tree)."""
    if not app_dir.startswith("/") or app_dir.rstrip("/") == "":
        return False
    inside = app_dir.rstrip("/") + "/"
    isolation = config.get("isolation")
    if isinstance(isolation, Mapping) and isolation.get("rootfs") == app_dir:
        return True
    paths = [config.get("working_directory"), config.get("path")]
    return any(isinstance(p, str) and p.startswith(inside) for p in paths)


def app_claim_problem(name: str, live: Mapping[str, Any] | None, ours: Iterable[str],
                      app_dirs: str | Iterable[str]) -> str | None:
    """Why the live application `name` is not this stack's to change, or None.

    `ours` are the owner marks this stack answers to (its own, and the one in
    its state when the stack was renamed); `app_dirs` the app's directories
    (its own, and the one in its state when it moved). A missing object is
    ours to make. Ours is: our mark and our code. The mark alone would also
    match a stack of the same project and stack name deploying from another
    state backend, whose app runs from its own directory.
    """
    if live is None:
        return None
    dirs = [app_dirs] if isinstance(app_dirs, str) else [d for d in app_dirs if d]
    runs_ours = any(points_into(live, d) for d in dirs)
    where = live.get("working_directory") or live.get("path")
    mark = app_owner_mark(live)
    if mark is not None:
        if mark in set(ours):
            if runs_ours:
                return None
            return (f"Unit application {name!r} is marked as the stack {mark} but runs code from "
                    f"{where!r}, not from {' or '.join(dirs)}: another deployment of a stack of "
                    "that name (another state backend) made it. This stack does not change or "
                    "remove it.")
        return (f"Unit application {name!r} belongs to the stack {mark} ({OWNER_ENV} in its "
                f"environment): this stack does not change or remove it. Deploy under another "
                f"app name, or remove the app from {mark} first.")
    if runs_ours:
        return None  # made by an earlier release of this stack: adopted
    return (f"Unit application {name!r} was not made by da-flask (no {OWNER_ENV} in its "
            f"environment) and runs code from {where!r}, outside {' or '.join(dirs)}: this "
            "stack does not change or remove it. Remove or rename it by hand if it is stale.")


def dir_sharing_problem(name: str, apps: Mapping[str, Any], ours: Iterable[str],
                        app_dir: str) -> str | None:
    """Why `app_dir` is not ours to deploy into: another stack's application
    (marked, not by us) already runs code from it. Unmarked ones are left to
    app_claim_problem (the previous release's, adopted by name)."""
    mine = set(ours)
    for other, config in sorted(apps.items()):
        mark = app_owner_mark(config) if isinstance(config, Mapping) else None
        if other != name and mark is not None and mark not in mine \
                and points_into(config, app_dir):
            return (f"the app directory {app_dir} is already used by Unit application "
                    f"{other!r} of the stack {mark}: two stacks never share an app's files. "
                    "Choose another app name or domain, or remove the app from that stack first.")
    return None


def passes_to_app(steps: Any) -> set[str]:
    """The application names a route's steps pass to."""
    found: set[str] = set()
    for step in steps if isinstance(steps, list) else []:
        action = step.get("action") if isinstance(step, Mapping) else None
        target = action.get("pass") if isinstance(action, Mapping) else None
        if isinstance(target, str) and target.startswith("applications/"):
            found.add(target.removeprefix("applications/"))
    return found
