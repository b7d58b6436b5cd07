"""CLI: python -m lab.unit_double --control SOCK --log FILE --state DIR [--pid FILE]."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from .apps import Interpreter
from .controller import VERSION, Controller, Log
from .server import serve


def _socket_path(text: str) -> Path:
    # unitd spells it "unix:/path"; accept both spellings.
    return Path(text.removeprefix("unix:"))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m lab.unit_double",
                                     description=__doc__)
    parser.add_argument("--control", required=True, type=_socket_path,
                        help="control socket path (unix:PATH also accepted)")
    parser.add_argument("--log", required=True, type=Path, help="unit.log path")
    parser.add_argument("--state", required=True, type=Path,
                        help="state directory (conf.json, certs/)")
    parser.add_argument("--pid", type=Path, help="pid file")
    args = parser.parse_args(argv)

    args.log.parent.mkdir(parents=True, exist_ok=True)
    log = Log(args.log)
    try:
        controller = Controller(args.state, log, Interpreter.detect())
        controller.start()
        # unitd says this on the stderr it was started with, not in unit.log;
        # then its stderr becomes the log.
        sys.stderr.write(Log.format("info", controller.main_pid, f"unit {VERSION} started"))
        sys.stderr.flush()
        log.take_stderr()
        serve(args.control, controller, args.pid)
    finally:
        log.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
