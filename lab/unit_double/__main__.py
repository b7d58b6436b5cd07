"""python -m lab.unit_double --control SOCK --log FILE --state DIR [--pid FILE]"""
from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from .api import VERSION, Unit
from .launcher import Interpreter, Launcher
from .server import Log, serve


def _arguments(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m lab.unit_double",
                                     description="A test double of NGINX Unit's control API.")
    parser.add_argument("--control", required=True,
                        type=lambda text: Path(text.removeprefix("unix:")),
                        help="control socket path (unitd's unix:PATH spelling also works)")
    parser.add_argument("--log", required=True, type=Path, help="unit.log")
    parser.add_argument("--state", required=True, type=Path, help="state dir: conf.json, certs/")
    parser.add_argument("--pid", type=Path, help="pid file")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = _arguments(argv)
    args.log.parent.mkdir(parents=True, exist_ok=True)
    args.state.mkdir(mode=0o700, parents=True, exist_ok=True)
    with args.log.open("a", encoding="utf-8") as stream:
        log = Log(stream)
        interpreter = Interpreter.detect()
        for level, message in (("info", "discovery started"),
                               ("notice", f'module: python {interpreter.version} '
                                          f'"{interpreter.module_lib}"'),
                               ("info", "controller started"), ("info", "router started")):
            log(level, message)
        unit = Unit(args.state, Launcher(interpreter, log))
        unit.boot()
        # Like unitd: the start-up line goes to the stderr it was started with,
        # after which stderr is the log.
        sys.stderr.write(Log.line("info", f"unit {VERSION} started"))
        sys.stderr.flush()
        os.dup2(stream.fileno(), sys.stderr.fileno())
        serve(args.control, unit, args.pid)
    return 0


if __name__ == "__main__":
    sys.exit(main())
