"""Application objects: the options every language shares, Python's own, and
"external" (accepted, never startable here)."""
from __future__ import annotations

import re
from typing import Any

from .checks import (
    BOOLEAN,
    INTEGER,
    OBJECT,
    STRING,
    Check,
    Context,
    Invalid,
    at_least,
    items,
    members,
    obj,
    one_of,
    value,
)

NAMESPACES = ("credential", "mount", "pid", "network", "uname", "cgroup")


def environment_value(text: Any, name: str, ctx: Context) -> None:
    if not isinstance(text, str):
        raise Invalid(f'The "{name}" environment value must be a string.')


def spare_within_max(processes: dict[str, Any]) -> None:
    if processes.get("spare", 0) > processes.get("max", 1):
        raise Invalid('The "spare" number must be less than or equal to "max".')


def url_prefix(prefix: str, name: str, ctx: Context) -> None:
    if not prefix.startswith("/"):
        raise Invalid('The "prefix" must be a string beginning with "/".')


def module_not_with_targets(app: dict[str, Any]) -> None:
    if "targets" in app and "module" in app:
        raise Invalid('The "module" option is mutually exclusive with the "targets" object.')


def module_or_targets(app: dict[str, Any]) -> None:
    if "targets" not in app and "module" not in app:
        raise Invalid('Required parameter "module" is missing.')


PREFIX = value(string=url_prefix)
ISOLATION = obj({
    "namespaces": obj(dict.fromkeys(NAMESPACES, BOOLEAN)),
    "uidmap": value(array=None), "gidmap": value(array=None),
    "rootfs": STRING, "new_privs": BOOLEAN, "cgroup": OBJECT,
    "automount": obj({"language_deps": BOOLEAN, "tmpfs": BOOLEAN, "procfs": BOOLEAN}),
})
COMMON: dict[str, Check] = {
    "type": STRING,
    "limits": obj({"timeout": INTEGER, "requests": INTEGER}),
    "processes": value(integer=at_least(1), object=members(
        {"max": value(integer=at_least(1)), "spare": INTEGER, "idle_timeout": INTEGER},
        rules=(spare_within_max,))),
    "user": STRING, "group": STRING, "working_directory": STRING,
    "environment": obj({}, other=environment_value),
    "isolation": ISOLATION, "stdout": STRING, "stderr": STRING,
}
TARGET = obj({"module": STRING, "callable": STRING, "prefix": PREFIX}, required=("module",))
PYTHON = members({
    **COMMON,
    "home": STRING, "path": value(string=None, array=items("string")),
    "module": STRING, "callable": STRING, "prefix": PREFIX,
    "protocol": value(string=one_of("wsgi", "asgi")),
    "threads": value(integer=at_least(1)),
    "thread_stack_size": value(integer=at_least(16384)),
    "targets": obj({}, other=TARGET),
}, rules=(module_or_targets,))
EXTERNAL = members({**COMMON, "executable": STRING, "arguments": value(array=items("string"))},
                   required=("executable",))


def python_type(type_name: str, version: str) -> bool:
    """"python", "python3", "python 3.11", "python 3.11.2": the word, then
    optionally a leading part of the module's version."""
    found = re.fullmatch(r"python ?([\d.]*)", type_name)
    if found is None:
        return False
    wanted = found.group(1)
    parts = version.split(".")
    return wanted in ("", *(".".join(parts[:n]) for n in range(1, len(parts) + 1)))


def application(app: Any, name: str, ctx: Context) -> None:
    value(object=None)(app, name, ctx)
    if "type" not in app:
        raise Invalid('Application must have the "type" property set.')
    STRING(app["type"], "type", ctx)
    if app["type"] == "external":
        EXTERNAL(app, name, ctx)
    elif python_type(app["type"], ctx.python_version):
        module_not_with_targets(app)  # before any member, as Unit does
        PYTHON(app, name, ctx)
    else:
        raise Invalid(f'The module to run "{app["type"]}" is not found among the '
                      "available application modules.")
