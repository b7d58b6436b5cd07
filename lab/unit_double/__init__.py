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

Applications are checked the way Unit's prototype starts them: the module is
imported by the interpreter Unit's Python module is linked against (the
base interpreter of the one running the double, or $UNIT_DOUBLE_PYTHON), as
the application's user when the double runs as root.
"""
from __future__ import annotations

from .controller import VERSION, Controller, Log, Reply
from .server import serve

__all__ = ["VERSION", "Controller", "Log", "Reply", "serve"]
