"""A test double of NGINX Unit 1.35's control API, for lab hosts without unitd.

    python -m lab.unit_double --control /path/control.sock --log /path/unit.log \
        --state /path/statedir [--pid FILE]

It runs in the foreground, serves the control API on a 0600 Unix socket,
keeps conf.json and certs/ in the state directory across restarts, writes the
unit.log lines the provider reads (start-up, application start failures with
Python's traceback), and removes its socket on SIGTERM.  It cannot serve
applications: listeners are validated and stored but never bound.

Its answers (status codes, JSON bodies, error sentences) follow a real
1.35.0 daemon; tests/contract runs the same assertions against both.
"""
from __future__ import annotations

from .controller import VERSION, Controller, Log, Reply
from .server import serve

__all__ = ["VERSION", "Controller", "Log", "Reply", "serve"]
