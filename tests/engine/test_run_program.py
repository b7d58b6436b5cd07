"""engine/run_program.py: the executor's status, output and exit handlers survive
the process ending without Python's teardown."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.engine import REPO

RUN_PROGRAM = REPO / "engine" / "run_program.py"


def _run(tmp_path: Path, body: str, *args: str) -> subprocess.CompletedProcess[str]:
    script = tmp_path / "executor.py"
    script.write_text(body)
    # Without -u: what the executor printed last must still be flushed.
    return subprocess.run([sys.executable, str(RUN_PROGRAM), str(script), *args],
                          capture_output=True, text=True, timeout=60, check=False)


@pytest.mark.parametrize(("ending", "status"), [("", 0), ("sys.exit(0)", 0), ("sys.exit(32)", 32),
                                                ("sys.exit(None)", 0)])
def test_status_output_and_exit_handlers(tmp_path: Path, ending: str, status: int) -> None:
    body = ("import atexit, sys\n"
            "atexit.register(lambda: print('handler ran', flush=False))\n"
            "print('argv', sys.argv[1:], end='')\n"
            "sys.stderr.write('to stderr')\n"
            f"{ending}\n")
    proc = _run(tmp_path, body, "--monitor", "127.0.0.1:1")
    assert proc.returncode == status
    assert proc.stdout == "argv ['--monitor', '127.0.0.1:1']handler ran\n"
    assert proc.stderr == "to stderr"


def test_an_escaping_exception_is_shown_and_fails(tmp_path: Path) -> None:
    proc = _run(tmp_path, "raise RuntimeError('boom')\n")
    assert proc.returncode == 1
    assert "RuntimeError: boom" in proc.stderr and "Traceback" in proc.stderr


def test_a_message_given_to_exit_is_shown_and_fails(tmp_path: Path) -> None:
    proc = _run(tmp_path, "import sys\nsys.exit('no program here')\n")
    assert proc.returncode == 1
    assert proc.stderr.strip() == "no program here"
