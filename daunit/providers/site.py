"""Running a hostops step in a site's tree, with its refusal as a plain error.

The steps run as the site user (hostops.as_site_user). When one refuses (a
tampered tree, a domain that is not the user's, a system account), its exit
status is hostops.REFUSED and stderr says why: that reason alone becomes the
error, not the whole script the command line holds.
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, TypeVar

from daunit import hostops
from daunit.errors import CommandError, DeployError

if TYPE_CHECKING:
    from daunit.remote.ssh import CommandResult, SSHSession


T = TypeVar("T")


class RefusedError(DeployError):
    """A host step refused to act; nothing was changed by that step."""


def run_step(s: SSHSession, argv: Sequence[str], *, stdin: bytes | None = None,
             timeout: float | None = None, check: bool = True,
             secrets: Sequence[str] | Mapping[str, str] = ()) -> CommandResult:
    try:
        return s.run(argv, stdin=stdin, timeout=timeout, check=check, secrets=secrets)
    except CommandError as exc:
        refused = refusal(exc)
        if refused is None:
            raise
        raise refused from None


def refusal(exc: CommandError) -> RefusedError | None:
    """A step's refusal (hostops.REFUSED) as RefusedError with its reason, else None."""
    reason = hostops.refusal_message(exc.stderr_tail) if exc.exit_status == hostops.REFUSED else None
    if reason is None:
        return None
    return RefusedError(f"refused: {reason}", host=exc.host, resource=exc.resource)


def read_fact(s: SSHSession, fact: hostops.Fact[T], *, timeout: float | None = None) -> T:
    """Run a host read and parse what it printed."""
    result = run_step(s, fact.argv, check=fact.check, timeout=timeout)
    return fact.parse(result.exit_status, result.stdout)

