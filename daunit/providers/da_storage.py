"""DirectAdmin's per-domain Unit storage on a host, read and written as root over SSH.

The places, the file form and the rewrite task are daunit.directadmin's; the
commands daunit.hostops'. A step that refused (a link where a folder belongs,
a domain not the user's) raises RefusedError with the reason.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from daunit import directadmin, hostops
from daunit.facts import split_sections
from daunit.providers.site import run_step

if TYPE_CHECKING:
    from daunit.remote.ssh import SSHSession


@dataclass(frozen=True)
class Stored:
    """What DirectAdmin has stored for one app and its domain (None: no file)."""

    app: dict[str, Any] | None
    routes: dict[str, Any] | None


def _parse(text: str, what: str) -> Any:
    if not text.strip():
        return None
    try:
        return json.loads(text)
    except ValueError:
        # A hand-edited file that is no longer JSON is drift like any other.
        return {"unreadable": f"{what} is not JSON"}


def _run(s: SSHSession, argv: list[str], stdin: bytes | None = None) -> str:
    return run_step(s, argv, stdin=stdin).text


def read(s: SSHSession, storage: dict[str, Any]) -> Stored:
    out = _run(s, hostops.da_read_storage(storage["user"], storage["domain"], storage.get("name") or "-"))
    sections = {k: "\n".join(v) for k, v in split_sections(out).items()}
    return Stored(_parse(sections.get("app", ""), "the stored app"),
                  _parse(sections.get("routes", ""), "the stored routes file"))


def write_app(s: SSHSession, storage: dict[str, Any], app: dict[str, Any] | None) -> None:
    """DOMAIN.unit/N.json as DirectAdmin writes it; None removes it."""
    body = directadmin.stored_text(app).encode() if app is not None else b""
    _run(s, hostops.da_write_storage(storage["user"], storage["domain"], "unit",
                                     f"{storage['name']}.json"), stdin=body or None)


def write_routes(s: SSHSession, storage: dict[str, Any], routes: dict[str, Any],
                 rewrite: bool) -> None:
    """DOMAIN.routes/DOMAIN (removed when no location is left); with `rewrite`, then
    DirectAdmin's vhost rewrite for the user (the front server's UNIT_PROXY wiring)."""
    body = directadmin.stored_text(routes).encode() if routes else b""
    task = directadmin.vhost_rewrite_task(storage["user"]) if rewrite else ""
    _run(s, hostops.da_write_storage(storage["user"], storage["domain"], "routes",
                                     storage["domain"], task), stdin=body or None)
