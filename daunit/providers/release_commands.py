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

from daunit import hostops
from daunit.errors import CommandError, DeployError, mask_secrets
from daunit.providers.base import SiteInputs, SiteProvider, Wire
from daunit.providers.site import run_step

# Long enough for a large migration; a command that hangs is cut off.
COMMAND_TIMEOUT_S = 3600.0


class ReleaseCommandError(DeployError):
    """A release command failed: nothing was switched."""


class ReleaseCommandsInputs(SiteInputs):
    release_id: str
    venv_key: str
    # Each command as argv, run in order.
    commands: list[list[str]]
    environment: dict[str, str] | None = None
    secret_keys: list[str]


class ReleaseCommandsOutputs(Wire):
    ran: int


class ReleaseCommandsProvider(SiteProvider[ReleaseCommandsInputs, ReleaseCommandsOutputs]):
    def apply(self, inputs: ReleaseCommandsInputs,
              olds: ReleaseCommandsInputs | None) -> ReleaseCommandsOutputs:
        site = inputs.site(olds)
        env = inputs.environment or {}
        secrets = {key: env[key] for key in inputs.secret_keys if key in env}
        with self.session(inputs) as s:
            for number, command in enumerate(inputs.commands, 1):
                argv = hostops.run_in_release(site, inputs.release_id, inputs.venv_key,
                                              command, merge_output=True)
                try:
                    run_step(s, argv, timeout=COMMAND_TIMEOUT_S, secrets=secrets)
                except CommandError as exc:
                    raise failure(number, command, inputs.release_id, exc,
                                  list(secrets.values())) from None
        # Nothing on the host records a run: refresh keeps the inputs, and
        # delete has nothing to remove (only what the commands made).
        return ReleaseCommandsOutputs(ran=len(inputs.commands))


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
