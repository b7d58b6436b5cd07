"""SSHSession: a connection to a host with its commands and file transfer.

The parts live apart (as fabric's Connection delegates to Remote and
Transfer): the connection and its channels in daunit.remote.connection,
commands in daunit.remote.commands, files in daunit.remote.transfer, where
to connect in daunit.remote.target. This is the handle the providers hold.

Rules kept there so callers cannot get them wrong:
- the host key is checked against the pinned key(s) before we authenticate or
  send anything; unknown and mismatched keys are refused (no trust on first use);
- commands are argv, joined with ``shlex.join``; exit status is always read;
- secrets travel on stdin, never in argv, and are masked as ``***`` in errors
  and logs.
"""
from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

from daunit.remote import commands
from daunit.remote.commands import CommandResult
from daunit.remote.connection import SESSION_SLOTS, Connection
from daunit.remote.target import PinnedKey, SSHTarget, parse_known_hosts
from daunit.remote.transfer import CheckedSource, Transfer

__all__ = ["CommandResult", "PinnedKey", "SSHSession", "SSHTarget", "parse_known_hosts"]


class SSHSession(Connection):
    """A lazily opened SSH connection, reused for everything in a batch.

        with SSHSession(target) as ssh:
            ssh.run(["mkdir", "-p", path])
            ssh.upload_files(path, {"app.py": b"..."})
    """

    def __init__(self, target: SSHTarget, *, session_slots: int = SESSION_SLOTS,
                 spare_session: bool = False) -> None:
        super().__init__(target, session_slots=session_slots, spare_session=spare_session)
        self.files = Transfer(self)

    def close(self) -> None:
        self.files.close()
        super().close()

    def run(self, argv: Sequence[str], *, stdin: bytes | None = None, check: bool = True,
            timeout: float | None = None, secrets: Sequence[str] | Mapping[str, str] = ()) -> CommandResult:
        """Run ``argv`` on the host; see daunit.remote.commands.run."""
        return commands.run(self, argv, stdin=stdin, check=check, timeout=timeout, secrets=secrets)

    def put_bytes(self, path: str, data: bytes, mode: int = 0o644) -> None:
        """Write ``path`` atomically; see daunit.remote.transfer.Transfer.put_bytes."""
        self.files.put_bytes(path, data, mode)

    def read_bytes(self, path: str) -> bytes:
        """The content of ``path`` (FileNotFoundError if missing)."""
        return self.files.read_bytes(path)

    def upload_files(self, dest_dir: str, files: Mapping[str, bytes | Path | CheckedSource],
                     modes: Mapping[str, int] | None = None, *, default_mode: int = 0o644,
                     dir_mode: int = 0o755, owner: str | None = None, group: str | None = None,
                     timeout: float | None = None,
                     command: Callable[[str, Sequence[str]], list[str]] | None = None) -> int:
        """Write many files in one command; see daunit.remote.transfer.Transfer.upload_files."""
        return self.files.upload_files(dest_dir, files, modes, default_mode=default_mode, dir_mode=dir_mode,
                                       owner=owner, group=group, timeout=timeout, command=command)
