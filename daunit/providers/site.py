"""Running a hostops step in a site's tree, with its refusal as a plain error.

The steps run as the site user (hostops.as_site_user). When one refuses (a
tampered tree, a domain that is not the user's, a system account), its exit
status is hostops.REFUSED and stderr says why: that reason alone becomes the
error, not the whole script the command line holds.
"""
from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING

from daunit import hostops
from daunit.errors import CommandError, DeployError

if TYPE_CHECKING:
    from daunit.remote.ssh import CommandResult, SSHSession


class RefusedError(DeployError):
    """A host step refused to act; nothing was changed by that step."""


def run_step(s: SSHSession, argv: Sequence[str], *, stdin: bytes | None = None,
             timeout: float | None = None, check: bool = True,
             secrets: Sequence[str] | Mapping[str, str] = ()) -> CommandResult:
    try:
        return s.run(argv, stdin=stdin, timeout=timeout, check=check, secrets=secrets)
    except CommandError as exc:
        reason = hostops.refusal_message(exc.stderr_tail) if exc.exit_status == hostops.REFUSED else None
        if reason is None:
            raise
        raise RefusedError(f"refused: {reason}", host=exc.host, resource=exc.resource) from None


def upload_command(site: hostops.Site) -> Callable[[str, Sequence[str]], list[str]]:
    """The `command` for SSHSession.upload_files that extracts as the site user."""
    def command(script: str, args: Sequence[str]) -> list[str]:
        # as_site_user hands the step the app dir as $1: drop it.
        return hostops.as_site_user(site, "shift\n" + script, *args)
    return command
