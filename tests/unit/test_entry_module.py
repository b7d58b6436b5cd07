"""da-flask's entry module (daunit/shipped/daflask_entry.py), run as Unit and the
runner run it: a real Python process in a release-shaped directory."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest

from daunit.manifest import ManifestError, build_manifest, release_id
from daunit.render import dotenv_bytes
from daunit.shipped import ENTRY_NAME, entry_bytes, with_entry_module

TRICKY = {
    "SECRET_KEY": 'sk-"quoted" \\back\\slash\\n not a newline',
    "MULTI": "line one\nline two\r\nthree",
    "TABBED": "a\tb",
    "EQUALS": "a=b=c # not a comment",
    "UNICODE": "naïve ✓",
    "EMPTY": "",
}


def entry_module() -> ModuleType:
    """The entry module's functions, without running its import-time part."""
    source = entry_bytes().decode()
    head = source.split('\nif __name__ == "__main__":')[0]
    module = ModuleType("entry_under_test")
    module.__file__ = f"/nowhere/{ENTRY_NAME}"
    exec(compile(head, ENTRY_NAME, "exec"), module.__dict__)
    return module


def test_parses_exactly_what_dotenv_bytes_writes() -> None:
    text = dotenv_bytes(TRICKY).decode()
    assert entry_module().parse_env(text) == TRICKY


@pytest.mark.parametrize("line", ['KEY=value', 'KEY="open', 'KEY="a"b"', 'KEY="\\x"', '1KEY="v"'])
def test_refuses_lines_it_did_not_write(line: str) -> None:
    with pytest.raises(ValueError, match=r"instance/\.env line 2"):
        entry_module().parse_env(f"# comment\n{line}\n")


def test_load_env_keeps_what_is_already_set(tmp_path: Path) -> None:
    env_file = tmp_path / ".env"
    env_file.write_bytes(dotenv_bytes({"GREETING": "from .env", "SECRET_KEY": "s3cret-value"}))
    environ = {"GREETING": "from Unit"}
    entry_module().load_env(str(env_file), environ)
    assert environ == {"GREETING": "from Unit", "SECRET_KEY": "s3cret-value"}
    entry_module().load_env(str(tmp_path / "missing"), environ)  # no .env: nothing to add


def release(tmp_path: Path, env: dict[str, str]) -> Path:
    """A release dir as the host has it: the app, the entry module, instance -> ../../instance."""
    app_dir = tmp_path / "app"
    rel = app_dir / "releases" / "0123456789abcdef"
    rel.mkdir(parents=True)
    (app_dir / "instance").mkdir()
    (app_dir / "instance" / ".env").write_bytes(dotenv_bytes(env))
    (rel / "instance").symlink_to("../../instance")
    (rel / ENTRY_NAME).write_bytes(entry_bytes())
    (rel / "shop").mkdir()
    (rel / "shop" / "__init__.py").write_text("")
    (rel / "shop" / "wsgi.py").write_text(
        "import os\n"
        "def app(environ, start_response):\n"
        "    start_response('200 OK', [('Content-Type', 'text/plain')])\n"
        "    return [f\"{os.environ['SECRET_KEY']}|{os.environ['GREETING']}\".encode()]\n")
    return rel


def test_unit_style_import_serves_the_apps_callable_with_its_secrets(tmp_path: Path) -> None:
    rel = release(tmp_path, {"SECRET_KEY": "sk-from-env-file", "GREETING": "from .env"})
    # What Unit does: sys.path gets `path`, the module is imported, the callable called.
    probe = (
        "import sys, wsgiref.util\n"
        f"sys.path.insert(0, {str(rel)!r})\n"
        "import _daflask_entry\n"
        "env = {}; wsgiref.util.setup_testing_defaults(env)\n"
        "body = _daflask_entry.application(env, lambda s, h: None)\n"
        "print(b''.join(body).decode())\n")
    env = {"PATH": os.environ["PATH"], "GREETING": "from Unit",
           "DAFLASK_APP_MODULE": "shop.wsgi", "DAFLASK_APP_CALLABLE": "app"}
    out = subprocess.run([sys.executable, "-I", "-c", probe], cwd=rel, env=env,
                         capture_output=True, text=True, check=True).stdout
    assert out.strip() == "sk-from-env-file|from Unit"


def test_runner_runs_a_command_with_the_environment_not_in_its_argv(tmp_path: Path) -> None:
    rel = release(tmp_path, {"SECRET_KEY": "sk-runner-secret", "GREETING": "hi"})
    show = ("import os; print(os.environ['SECRET_KEY']); "
            "print(open('/proc/self/cmdline','rb').read().replace(b'\\0', b' ').decode())")
    out = subprocess.run([sys.executable, ENTRY_NAME, "run", "--", sys.executable, "-c", show],
                         cwd=rel, env={"PATH": os.environ["PATH"]},
                         capture_output=True, text=True, check=True).stdout.splitlines()
    assert out[0] == "sk-runner-secret"
    assert "sk-runner-secret" not in out[1]
    missing = subprocess.run([sys.executable, ENTRY_NAME, "run", "--", "no-such-command-here"],
                             cwd=rel, env={"PATH": os.environ["PATH"]}, capture_output=True, text=True)
    assert missing.returncode == 127 and "cannot run no-such-command-here" in missing.stderr


def test_entry_module_is_part_of_the_release(tmp_path: Path) -> None:
    (tmp_path / "wsgi.py").write_text("application = None\n")
    plain = build_manifest(tmp_path)
    shipped = with_entry_module(plain)
    assert set(shipped) == {"wsgi.py", ENTRY_NAME}
    assert shipped[ENTRY_NAME].mode == 0o644 and shipped[ENTRY_NAME].size == len(entry_bytes())
    assert release_id(shipped) != release_id(plain)
    (tmp_path / ENTRY_NAME).write_text("# the app's own file of that name\n")
    with pytest.raises(ManifestError, match="da-flask's own entry module"):
        with_entry_module(build_manifest(tmp_path))


def test_entry_module_runs_on_old_pythons() -> None:
    # Unit may load a Python older than da-flask's: no syntax newer than 3.7.
    import ast

    ast.parse(entry_bytes(), feature_version=(3, 7))
