"""ReleaseCommands: the app's release commands (migrations, schema set-up),
run on the host before Unit switches to a new release, venv or environment.

They run as the site user, in the new release dir, with its venv first on
PATH and the app's whole environment, loaded from instance/.env by the
entry module (hostops.run_in_release): secrets never in argv or logs. The
UnitApplication depends on this resource, so a failing command stops the
deploy before the switch: the previous release keeps serving, the error
shows the command's output tail with every secret masked, and, as the
engine keeps this resource's old inputs after a failed update, the next
`pulumi up` runs the commands again.

Inputs are what they run with: the release id, the venv key, the
environment (secret) and the commands. A change to any of them runs them
all again, in order, and the preview names which one changed (the "why").
Nothing on the host records a run: read() keeps the inputs.
"""
from __future__ import annotations

import shlex
from typing import Any

from pulumi.dynamic import CreateResult, ReadResult, UpdateResult

from daunit import hostops
from daunit.errors import CommandError, DeployError, mask_secrets
from daunit.providers.base import Provider, plain
from daunit.providers.site import run_step

# Long enough for a large migration; a command that hangs is cut off.
COMMAND_TIMEOUT_S = 3600.0


class ReleaseCommandError(DeployError):
    """A release command failed: nothing was switched."""


class ReleaseCommandsProvider(Provider):
    kind = "ReleaseCommands"
    required = ("connection", "appDir", "user", "releaseId", "venvKey", "commands",
                "environment", "secretKeys")
    replace_on = ("connection.host", "connection.port", "appDir")
    outputs = ("ran",)

    def create(self, props: dict[str, Any]) -> CreateResult:
        return CreateResult(id_=props["appDir"], outs=self._run(plain(props)))

    def update(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> UpdateResult:
        return UpdateResult(outs=self._run(plain(news), plain(olds)))

    def _run(self, props: dict[str, Any], olds: dict[str, Any] | None = None) -> dict[str, Any]:
        site = hostops.Site.of(props, olds)
        env: dict[str, str] = props["environment"] or {}
        secrets = {key: env[key] for key in props["secretKeys"] if key in env}
        with self.session(props) as s:
            for number, command in enumerate(props["commands"], 1):
                argv = hostops.run_in_release(site, props["releaseId"], props["venvKey"],
                                              command, merge_output=True)
                try:
                    run_step(s, argv, timeout=COMMAND_TIMEOUT_S, secrets=secrets)
                except CommandError as exc:
                    raise failure(number, command, props["releaseId"], exc,
                                  list(secrets.values())) from None
        return {**props, "ran": len(props["commands"])}

    def read(self, id_: str, props: dict[str, Any]) -> ReadResult:
        return ReadResult(id_=id_, outs=plain(props))

    def delete(self, _id: str, _props: dict[str, Any]) -> None:
        """Nothing to remove: a run leaves only what the commands themselves made."""


def failure(number: int, command: list[str], release_id: str, exc: CommandError,
            secrets: list[str]) -> ReleaseCommandError:
    """The error for a failed command: which one, its status, its output tail (masked)."""
    shown = mask_secrets(shlex.join(command), secrets)
    if exc.exit_status is None:
        status = "was cut off (timeout)" if "timed out" in exc.message else "was killed"
    else:
        status = f"exited with status {exc.exit_status}"
    output = exc.stderr_tail or "(no output)"
    lines = "\n".join("    " + line for line in output.splitlines())
    return ReleaseCommandError(
        f"release command {number} `{shown}` {status} in release {release_id}; nothing was "
        f"switched, the previous release keeps serving. Its output (last lines):\n{lines}\n"
        "Fix the command or the app and run `pulumi up` again: the release commands run again.",
        host=exc.host)
