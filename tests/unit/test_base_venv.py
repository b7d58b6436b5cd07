"""hostops.MAKE_BASE_VENV makes what `python -m venv` makes, with every
interpreter on this machine: Debian's (ensurepip names its wheels in
/usr/share/python-wheels) and an upstream CPython's where there is one
(ensurepip's own _bundled wheels). Run here, without a lab host."""
from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from daunit import hostops


def interpreters() -> list[str]:
    """/usr/bin/python3 (setup installs it), and the first other python3 on PATH."""
    found = {os.path.realpath("/usr/bin/python3"): "/usr/bin/python3"}
    other = shutil.which("python3")
    if other:
        real = subprocess.run([other, "-c", "import sys; print(sys.executable)"],
                              capture_output=True, text=True, check=True).stdout.strip()
        found.setdefault(os.path.realpath(real), real)
    return list(found.values())


def files_of(root: Path) -> set[str]:
    return {str(p.relative_to(root)) for p in root.rglob("*")}


def pip_list(venv: Path) -> str:
    return subprocess.run([str(venv / "bin" / "python"), "-m", "pip", "list", "--format=freeze"],
                          capture_output=True, text=True, check=True, env={"PATH": "/usr/bin:/bin"}).stdout


@pytest.mark.parametrize("python", interpreters())
def test_the_quick_base_venv_equals_python_m_venv(python: str, tmp_path: Path) -> None:
    quick, plain = tmp_path / "quick", tmp_path / "plain"
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path)}
    subprocess.run([python, "-c", hostops.MAKE_BASE_VENV, str(quick)], env=env, check=True,
                   capture_output=True)
    subprocess.run([python, "-m", "venv", str(plain)], env=env, check=True, capture_output=True)
    assert files_of(quick) == files_of(plain)  # the scratch dir gone too
    assert len([f for f in files_of(quick) if f.endswith(".pyc")]) > 500
    assert pip_list(quick) == pip_list(plain) != ""
    assert (quick / "bin" / "pip").read_text().splitlines()[0] == f"#!{quick}/bin/python3"
    assert not list(quick.glob("lib/python3*/site-packages/*.dist-info/direct_url.json"))


def test_an_interpreter_that_names_no_wheel_files_is_refused(tmp_path: Path) -> None:
    """Exits non-zero before making anything, so the host script falls back to
    `python -m venv` (an interpreter whose ensurepip names no wheel file)."""
    shim = tmp_path / "shim"
    shim.mkdir()
    (shim / "ensurepip.py").write_text("def _get_packages():\n    return {}\n")
    venv = tmp_path / "base"
    result = subprocess.run(["/usr/bin/python3", "-c", hostops.MAKE_BASE_VENV, str(venv)],
                            env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(shim)},
                            capture_output=True, text=True)
    assert result.returncode != 0 and "no pip wheel" in result.stderr
    assert not venv.exists()
