"""releaseCommands: what runs in each new release before Unit switches to it."""
from __future__ import annotations

import shlex
from typing import Any

from daunit.spec.base import Problem, invalid, raise_problems

MAX_RELEASE_COMMANDS = 20


def parse_release_commands(value: Any) -> list[list[str]]:
    """releaseCommands as argv lists: each entry a string split like a shell
    would (shlex: quotes, no variables, pipes or redirections) or a list of
    arguments. Control characters are refused: a command is one line."""
    if value is None:
        return []
    if not isinstance(value, (list, tuple)):
        raise invalid("releaseCommands must be a list of commands, like [\"flask --app flaskr init-db\"]")
    if len(value) > MAX_RELEASE_COMMANDS:
        raise invalid(f"releaseCommands lists {len(value)} commands: at most {MAX_RELEASE_COMMANDS}; "
                      "put the rest in a script of the app and run that")
    problems: list[Problem] = []
    commands: list[list[str]] = []
    for index, entry in enumerate(value):
        argv, problem = _release_command(entry)
        if problem:
            problems.append(((index,), f"releaseCommands[{index}]: {problem}"))
        commands.append(argv)
    raise_problems("releaseCommands", problems)
    return commands


def _release_command(entry: Any) -> tuple[list[str], str | None]:
    if isinstance(entry, str):
        text = entry
    elif isinstance(entry, (list, tuple)) and all(isinstance(a, str) for a in entry):
        text = " ".join(entry)
    else:
        return [], "give a command as a string or a list of strings, like \"flask db upgrade\""
    if any(ord(c) < 32 or ord(c) == 127 for c in text):
        return [], "contains a control character (a line break, a tab...): one command a line, plain text"
    if isinstance(entry, str):
        try:
            argv = shlex.split(entry)
        except ValueError as exc:
            return [], f"cannot be split into arguments ({exc}): close the quotes"
    else:
        argv = list(entry)
    if not argv or not argv[0]:
        return [], "is empty: give the command to run, like \"flask db upgrade\""
    return argv, None
