"""Reads of the deploying machine's disk for files the config names: the app's
source tree (and its requirements) and hostKeyFile.

Validation runs these only when asked (`parse_stack(check_source=True)`, the
stack program): a provider re-reading its inputs may not have the files.
"""
from __future__ import annotations

import os
import re
from typing import TYPE_CHECKING

from daunit.known_hosts import read_known_hosts_file
from daunit.spec.base import Problem, show

if TYPE_CHECKING:
    from daunit.spec.app import AppSpec
    from daunit.spec.host import HostSpec

_URL_USERINFO_RE = re.compile(r"([A-Za-z][A-Za-z0-9+.-]*)://([^\s/@]*)@")
_INCLUDE_OPTION_RE = re.compile(r"(?:-r|--requirement|-c|--constraint)(?:=|\s|\Z)")


def known_hosts_text(host: HostSpec) -> str:
    """The known_hosts lines that pin the host's key (reads hostKeyFile, if that is the source)."""
    if host.host_key_file is not None:
        return read_known_hosts_file(host.host_key_file, host.known_hosts_name)
    return host.host_key or ""


def host_key_file_problems(host: HostSpec) -> list[Problem]:
    if host.host_key_file is None:
        return []
    try:
        read_known_hosts_file(host.host_key_file, host.known_hosts_name)
    except ValueError as exc:
        return [(("hostKeyFile",), f"hostKeyFile {host.host_key_file!r} {exc}")]
    return []


def source_problems(app: AppSpec) -> list[Problem]:
    """What is missing from the app's local source tree, as (loc, message)."""
    root = os.path.expanduser(app.source)
    if not os.path.isdir(root):
        return [(("source",), f"source {show(app.source)} is not a directory on this machine: "
                              "give the directory holding the app (relative to the project or absolute)")]
    problems: list[Problem] = []
    if not any(os.path.isfile(os.path.join(root, c)) for c in app.entry_point_candidates):
        problems.append((("module",), f"module {app.module!r} has no file in {app.source}: "
                                      f"expected {' or '.join(app.entry_point_candidates)}"))
    if not os.path.isfile(os.path.join(root, app.requirements)):
        problems.append((("requirements",), f"requirements {app.requirements!r} is not a file in "
                                            f"{app.source}: pin the app's packages there "
                                            "(pip freeze > requirements.txt)"))
    if app.static_url and not os.path.isdir(os.path.join(root, app.static_dir)):
        problems.append((("staticDir",), f"staticDir {app.static_dir!r} is not a directory in "
                                         f"{app.source}: create it, or set staticUrl to null"))
    return problems or _shipping_problems(app, root)


def _shipping_problems(app: AppSpec, root: str) -> list[Problem]:
    """What stops the tree from being shipped as it is: a file the manifest refuses
    (symlink, odd name, a top-level instance/logs file) or credentials in requirements."""
    from daunit.manifest import ManifestError, build_app_manifest  # manifest imports the spec package

    try:
        build_app_manifest(app)
    except ManifestError as exc:
        return [(("source",), f"source {app.source}: {exc}")]
    with open(os.path.join(root, app.requirements), "rb") as handle:
        text = handle.read().decode("utf-8", "replace")
    return [(("requirements",), message) for message in requirements_problems(text, app.requirements)]


def _is_credential(scheme: str, userinfo: str) -> bool:
    # ssh://git@host names an account, the key is elsewhere; over http(s) a
    # user name alone is often a token (https://TOKEN@host/...).
    if not userinfo:
        return False
    return ":" in userinfo or not scheme.lower().endswith("ssh")


def requirements_problems(text: str, name: str) -> list[str]:
    """What in a requirements file's text cannot be deployed: credentials in a URL (the
    content is stored in the stack's state), includes of other files. Messages
    give line numbers, never the line."""
    problems: list[str] = []
    for number, line in enumerate(text.splitlines(), start=1):
        # Comments too: the whole file lands in the state.
        if any(_is_credential(*found) for found in _URL_USERINFO_RE.findall(line)):
            problems.append(
                f"requirements {name!r} line {number} has credentials in a URL (USER:TOKEN@ or TOKEN@): the "
                "file is stored in plain text in the stack's state and shown in previews. Remove them and "
                "give them to pip on the host instead, in the DirectAdmin user's ~/.netrc (`machine HOST "
                "login USER password TOKEN`, mode 600), which pip and git read for index and git+https "
                "URLs; revoke the token if this file was shared")
        elif not line.lstrip().startswith("#") and _INCLUDE_OPTION_RE.match(line.strip()):
            problems.append(f"requirements {name!r} line {number} includes another file (-r/-c): only this "
                            "file's content reaches the host, so copy the included lines into it")
    return problems
