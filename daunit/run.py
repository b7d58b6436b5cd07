"""One-off commands in an app's live release: `python -m daunit.run`.

    python -m daunit.run --stack prod shop -- flask routes
    python -m daunit.run --stack prod shop -- flask shell

The command runs on the app's host exactly as release commands do
(hostops.run_in_release): as the site user, in the release Unit serves now,
with its venv first on PATH and the app's environment loaded from
instance/.env by the entry module, so no secret is in any command line.
Which release and venv are live is read from Unit's config, not from the
stack's outputs. Output streams back as it comes (stdout to stdout, stderr
to stderr), this machine's stdin is forwarded (on a terminal, the command
gets one too, for `flask shell`; --no-tty says not to), and the exit status
is the command's. One SSH connection; it reads the stack's config and outputs and
changes no state.
"""
from __future__ import annotations

import argparse
import contextlib
import os
import shutil
import sys
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from daunit import hostops
from daunit.errors import DeployError
from daunit.layout import RELEASE_ID_RE, VENV_KEY_RE, AppLayout
from daunit.spec import AppSpec, StackSpec
from daunit.status import StatusError, find_unit_app, load_stack, stack_command

if TYPE_CHECKING:
    from daunit.remote.connection import Connection


class RunError(Exception):
    """Why the command could not be started: said in one line."""


def find_app(spec: StackSpec, name: str) -> AppSpec:
    for app in spec.apps:
        if app.name == name:
            return app
    known = ", ".join(sorted(a.name for a in spec.apps)) or "none"
    raise RunError(f"the stack has no app {name!r} (its apps: {known})")


def live_release(applications: Mapping[str, Any], app: AppSpec, app_dir: str) -> tuple[str, str]:
    """(release id, venv key) Unit runs the app with now, from its config."""
    found = find_unit_app(applications, app_dir)
    if found is None and app.isolation:
        # An isolated app's paths are inside its rootfs, the app dir.
        found = next(((name, AppLayout(app_dir).release_of(app_dir + str(c.get("path", ""))) or "")
                      for name, c in sorted(applications.items())
                      if isinstance(c, Mapping) and (c.get("isolation") or {}).get("rootfs") == app_dir),
                     None)
    if found is None:
        raise RunError(f"Unit runs no application from {app_dir}: deploy the app first (pulumi up)")
    name, release = found
    venv = str(applications[name].get("home") or "").rstrip("/").rsplit("/", 1)[-1]
    if not RELEASE_ID_RE.fullmatch(release) or not VENV_KEY_RE.fullmatch(venv):
        raise RunError(f"Unit's application {name} does not run a da-flask release and venv "
                       f"(path {applications[name].get('path')!r}, home {applications[name].get('home')!r})")
    return release, venv


def stream(session: Connection, argv: Sequence[str], *, tty: bool = False) -> int:
    """Run argv on one exec channel: output as it comes, stdin forwarded; its exit status.

    With `tty` the command gets a terminal of this one's size (for `flask
    shell`), and this terminal is raw meanwhile: keys, Ctrl-C included, go
    to the command.
    """
    from daunit.remote.commands import interactive

    terminal = None
    if tty:
        size = shutil.get_terminal_size()
        terminal = (os.environ.get("TERM", "xterm"), size.columns, size.lines)
    with _raw_terminal(tty):
        return interactive(session, argv, terminal=terminal, stdin_fd=sys.stdin.fileno(),
                           stdout=sys.stdout.buffer, stderr=sys.stderr.buffer)


@contextlib.contextmanager
def _raw_terminal(tty: bool) -> Iterator[None]:
    if not tty:
        yield
        return
    import termios
    import tty as tty_mode

    fd = sys.stdin.fileno()
    saved = termios.tcgetattr(fd)
    try:
        tty_mode.setraw(fd)
        yield
    finally:
        termios.tcsetattr(fd, termios.TCSADRAIN, saved)


def run(project_dir: Path, stack: str, app_name: str, command: Sequence[str], *,
        tty: bool = False) -> int:
    from daunit.remote.ssh import SSHSession
    from daunit.remote.unit import UnitClient
    from daunit.status_remote import target_for

    spec, _outputs = load_stack(project_dir, stack)
    app = find_app(spec, app_name)
    host = spec.hosts[app.host]
    app_dir = app.app_dir_on(host)
    with SSHSession(target_for(host)) as session:
        with UnitClient(session, host.unit_socket, host.unit_log) as unit:
            applications = unit.get("/config/applications") or {}
        release, venv = live_release(applications, app, app_dir)
        site = hostops.Site(host.da_user, app_dir, app.domain)
        return stream(session, hostops.run_in_release(site, release, venv, command), tty=tty)


def main(argv: Sequence[str] | None = None) -> int:
    parser = stack_command("run", __doc__, "the stack the app belongs to")
    parser.add_argument("--no-tty", action="store_true",
                        help="no terminal for the command, even when this one is a terminal")
    parser.add_argument("app", help="the app's name in the stack config")
    parser.add_argument("command", nargs=argparse.REMAINDER, help="-- COMMAND [ARG...]")
    args = parser.parse_args(argv)
    command = args.command[1:] if args.command[:1] == ["--"] else args.command
    if not command:
        parser.error("give the command after --, like: -- flask routes")
    try:
        tty = not args.no_tty and sys.stdin.isatty() and sys.stdout.isatty()
        return run(Path(args.cwd).resolve(), args.stack, args.app, command, tty=tty)
    except (StatusError, RunError, DeployError) as exc:
        print(f"run: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
