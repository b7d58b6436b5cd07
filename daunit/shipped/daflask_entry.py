"""da-flask's entry module, shipped into every release as _daflask_entry.py.

Unit imports this module (`module: _daflask_entry`, `callable: application`).
It loads the app's environment from instance/.env into os.environ, never
overriding a name Unit already set, then imports the app's own module and
callable (DAFLASK_APP_MODULE, DAFLASK_APP_CALLABLE in Unit's environment).
Secrets thus reach `os.environ` without ever being in Unit's config.

Run as a script, it is the runner of release and one-off commands:
`python _daflask_entry.py run -- CMD ARG...` loads the same environment and
executes CMD (found on PATH) in place of itself, so secrets never appear in
a command line.

It reads exactly what da-flask writes (daunit.render.dotenv_bytes): a comment
line, then KEY="value" lines with \\, \", \n and \r escaped. Standard library
only, and Python 3.7 syntax at most (Unit may load an older Python than ours).
"""
from __future__ import annotations

import importlib
import os
import sys
from collections.abc import MutableMapping
from typing import Any

ENV_FILE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "instance", ".env")
_UNESCAPES = {"\\": "\\", '"': '"', "n": "\n", "r": "\r"}


def parse_env(text: str) -> dict[str, str]:
    """{KEY: value} from da-flask's .env text; ValueError names the line."""
    env: dict[str, str] = {}
    for number, line in enumerate(text.split("\n"), 1):
        if not line or line.startswith("#"):
            continue
        key, sep, quoted = line.partition("=")
        if not sep or not key.isidentifier() or len(quoted) < 2 \
                or quoted[0] != '"' or quoted[-1] != '"':
            raise ValueError(f'instance/.env line {number} is not KEY="value"')
        env[key] = _unquote(quoted[1:-1], number)
    return env


def _unquote(body: str, number: int) -> str:
    out: list[str] = []
    chars = iter(body)
    for c in chars:
        if c == '"':
            raise ValueError(f"instance/.env line {number} has an unescaped quote")
        if c == "\\":
            nxt = next(chars, "")
            if nxt not in _UNESCAPES:
                raise ValueError(f"instance/.env line {number} has an unknown escape")
            c = _UNESCAPES[nxt]
        out.append(c)
    return "".join(out)


def load_env(path: str = ENV_FILE, environ: MutableMapping[str, str] | None = None) -> None:
    """Put the .env's names into `environ` (os.environ) where not set yet."""
    target = os.environ if environ is None else environ
    try:
        with open(path, encoding="utf-8") as handle:
            text = handle.read()
    except FileNotFoundError:
        return
    for key, value in parse_env(text).items():
        target.setdefault(key, value)


def _load_app() -> Any:
    module = os.environ.get("DAFLASK_APP_MODULE", "wsgi")
    name = os.environ.get("DAFLASK_APP_CALLABLE", "application")
    return getattr(importlib.import_module(module), name)


def _run(argv: list[str]) -> int:
    if len(argv) < 3 or argv[0] != "run" or argv[1] != "--":
        sys.stderr.write("usage: python _daflask_entry.py run -- COMMAND [ARG...]\n")
        return 2
    load_env()
    try:
        os.execvp(argv[2], argv[2:])
    except OSError as exc:
        sys.stderr.write(f"da-flask: cannot run {argv[2]}: {exc.strerror}\n")
        return 127


if __name__ == "__main__":
    sys.exit(_run(sys.argv[1:]))

load_env()
application = _load_app()
