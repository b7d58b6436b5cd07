"""The exceptions the lab raises."""

from __future__ import annotations

import subprocess


class LabError(RuntimeError):
    """A lab host could not be made, reached or removed; the message says why."""


class LabCommandError(LabError, subprocess.CalledProcessError):
    """A command run inside a lab (LabHost.run with check=True) failed.

    Also a CalledProcessError, so returncode, cmd, stdout and stderr are there and
    callers may catch either.
    """

    def __init__(self, lab: str, returncode: int, cmd: list[str], stdout: str | bytes | None,
                 stderr: str | bytes | None) -> None:
        subprocess.CalledProcessError.__init__(self, returncode, cmd, stdout, stderr)
        self.lab = lab

    def __str__(self) -> str:
        return (f"in lab {self.lab}: {' '.join(self.cmd)} exited {self.returncode}\n"
                f"stdout: {_tail(self.stdout)}\nstderr: {_tail(self.stderr)}")


def _tail(text: object, limit: int = 2000) -> str:
    if text is None:
        return ""
    if isinstance(text, bytes):
        text = text.decode(errors="replace")
    return str(text)[-limit:].strip()
