"""Run the SDK's executor script, then end the process without tearing Python down.

The language host (langhost.py) starts the program as
`python -u run_program.py EXECUTOR ARGS...`. The executor (the SDK's own
`pulumi-language-python-exec`, unchanged) runs the program and exits with its
status. Why not run it directly: once the program has finished, everything it
had to say is sent, yet Python's normal exit still frees every module and
object the SDK and the program loaded (grpc, protobuf, pydantic models), about
0.1 s that the engine waits for on every command. Here the exit handlers the
program or the SDK registered (the SDK's trace flush among them) run, both
output streams are flushed, and the process ends with the executor's status.
"""
from __future__ import annotations

import atexit
import os
import runpy
import sys
import traceback


def exit_status(code: object) -> int:
    """The status `sys.exit(code)` would give the process."""
    if code is None:
        return 0
    if isinstance(code, int):
        return code
    print(code, file=sys.stderr)
    return 1


def main() -> None:
    executor = sys.argv[1]
    sys.argv = sys.argv[1:]
    status = 1
    try:
        runpy.run_path(executor, run_name="__main__")
        status = 0
    except SystemExit as exc:
        status = exit_status(exc.code)
    except BaseException:  # shown as Python itself would show it, then status 1
        traceback.print_exc()
    finally:
        atexit._run_exitfuncs()
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(status)


if __name__ == "__main__":
    main()
