"""A requirements change seeds the new venv from the live one: pip installs
only the difference, the new venv is complete before anything names it, a
failed install leaves the live venv as it was, and no pip run in the new
venv can change a file of the live one."""
from __future__ import annotations

import os
import secrets
from collections.abc import Iterator
from typing import Any

import pytest

from daunit import hostops
from daunit.errors import DeployError
from daunit.manifest import venv_key
from daunit.providers.virtualenv import VirtualenvInputs, VirtualenvProvider, seed_key
from tests.remote.test_hostops_site import props_of

PYTHON = "/usr/bin/python3"
ONE = "six==1.16.0\n"
TWO = "six==1.16.0\nidna==3.7\n"


@pytest.fixture
def app_dir(lab_host: Any) -> Iterator[str]:
    path = f"{lab_host.public_html}/v{secrets.token_hex(4)}"
    yield path
    lab_host.run(["rm", "-rf", "--", path])


def venv_props(lab: Any, app_dir: str, requirements: str) -> dict[str, Any]:
    key = venv_key("3.11", requirements.encode(), interpreter=PYTHON)
    return props_of(lab, hostops.Site(lab.da_user, app_dir), python=PYTHON, key=key,
                    requirements=requirements)


def in_venv(lab: Any, venv: str, code: str) -> str:
    """Run `code` with the venv's python, as the site user, on the host."""
    out = lab.run(["setpriv", f"--reuid={lab.da_user}", f"--regid={lab.da_user}", "--init-groups",
                   "env", "-i", "HOME=/tmp", f"{venv}/bin/python", "-c", code]).stdout
    return out.decode() if isinstance(out, bytes) else str(out)


def build(lab: Any, app_dir: str, requirements: str,
          olds: dict[str, Any] | None = None) -> dict[str, Any]:
    props = venv_props(lab, app_dir, requirements)
    if olds is None:
        return dict(VirtualenvProvider().create(props).outs or {})
    return dict(VirtualenvProvider().update(app_dir, olds, props).outs or {})


def test_a_requirements_change_starts_from_the_live_venv(lab_host: Any, app_dir: str) -> None:
    live = build(lab_host, app_dir, ONE)
    new = build(lab_host, app_dir, TWO, live)
    old_dir, new_dir = lab_host.host_path(live["venvDir"]), lab_host.host_path(new["venvDir"])
    assert new["built"] and (new_dir / ".complete").is_file()
    six_old = next(old_dir.glob("lib/python3*/site-packages/six.py"))
    six_new = next(new_dir.glob("lib/python3*/site-packages/six.py"))
    # Seeded: the unchanged package is the live venv's file, not a new download.
    assert six_old.stat().st_ino == six_new.stat().st_ino
    assert list(new_dir.glob("lib/python3*/site-packages/idna/__init__.py"))
    assert not list(old_dir.glob("lib/python3*/site-packages/idna"))
    # bin/ is the new venv's own: its scripts run the new venv's python.
    pip_script = (new_dir / "bin" / "pip").read_text().splitlines()[0]
    assert pip_script == f"#!{new['venvDir']}/bin/python3"
    assert (new_dir / "bin" / "pip").stat().st_ino != (old_dir / "bin" / "pip").stat().st_ino
    assert (new_dir / "bin" / "python").is_symlink()
    assert f"{new['venvDir']}" in (new_dir / "pyvenv.cfg").read_text()
    prefix = in_venv(lab_host, new["venvDir"], "import sys, six, idna; print(sys.prefix, six.__file__)")
    assert prefix.split() == [new["venvDir"], f"{new['venvDir']}/{six_new.relative_to(new_dir)}"]


def test_pip_in_the_new_venv_never_touches_the_live_one(lab_host: Any, app_dir: str) -> None:
    live = build(lab_host, app_dir, ONE)
    new = build(lab_host, app_dir, TWO, live)
    old_dir = lab_host.host_path(live["venvDir"])
    six_old = next(old_dir.glob("lib/python3*/site-packages/six.py"))
    before = six_old.read_bytes()
    # A pip run in the new venv (reinstall then uninstall of the shared package).
    in_venv(lab_host, new["venvDir"], "import subprocess, sys; "
            "subprocess.run([sys.executable, '-m', 'pip', 'install', '-q', '--force-reinstall', "
            "'--no-deps', 'six==1.16.0'], check=True); "
            "subprocess.run([sys.executable, '-m', 'pip', 'uninstall', '-q', '-y', 'six'], check=True)")
    assert six_old.read_bytes() == before and six_old.stat().st_nlink == 1
    assert in_venv(lab_host, live["venvDir"], "import six; print(six.__version__)").strip() == "1.16.0"


def test_a_failed_install_leaves_the_live_venv_alone(lab_host: Any, app_dir: str) -> None:
    live = build(lab_host, app_dir, ONE)
    broken = ONE + "da-flask-no-such-package-anywhere==0.0.1\n"
    with pytest.raises(DeployError):
        build(lab_host, app_dir, broken, live)
    assert not lab_host.host_path(f"{app_dir}/venvs/{venv_props(lab_host, app_dir, broken)['key']}").exists()
    old_dir = lab_host.host_path(live["venvDir"])
    assert (old_dir / ".complete").is_file()
    assert in_venv(lab_host, live["venvDir"], "import six; print(six.__version__)").strip() == "1.16.0"


def test_another_interpreter_builds_from_scratch(lab_host: Any, app_dir: str) -> None:
    live = build(lab_host, app_dir, ONE)
    # The live venv says it was made by another Python: not a seed.
    cfg = lab_host.host_path(live["venvDir"]) / "pyvenv.cfg"
    cfg.write_text(cfg.read_text().replace("version", "version = 3.0.0\nwas-version"))
    new = build(lab_host, app_dir, TWO, live)
    six_old = next(lab_host.host_path(live["venvDir"]).glob("lib/python3*/site-packages/six.py"))
    six_new = next(lab_host.host_path(new["venvDir"]).glob("lib/python3*/site-packages/six.py"))
    assert six_old.stat().st_ino != six_new.stat().st_ino
    assert in_venv(lab_host, new["venvDir"], "import six, idna; print('ok')").strip() == "ok"


def typed(props: dict[str, Any]) -> VirtualenvInputs:
    return VirtualenvInputs.model_validate({"connection": {"host": "h", "knownHosts": "k"},
                                            "user": "u", "requirements": "", **props})


def test_seed_only_from_the_same_interpreter_and_dir() -> None:
    props = {"python": "/usr/bin/python3", "appDir": "/home/u/a", "key": "py3.11-b"}
    assert seed_key(typed(props), None) == ""
    assert seed_key(typed(props), typed({**props, "key": "py3.11-a"})) == "py3.11-a"
    assert seed_key(typed(props), typed({**props, "key": "py3.11-b"})) == ""
    assert seed_key(typed(props), typed({**props, "key": "py3.11-a", "python": "/usr/bin/python3.12"})) == ""
    assert seed_key(typed(props), typed({**props, "key": "py3.11-a", "appDir": "/home/u/b"})) == ""


def test_a_removed_requirement_is_not_kept_from_the_seed(lab_host: Any, app_dir: str) -> None:
    live = build(lab_host, app_dir, TWO)
    new = build(lab_host, app_dir, "six==1.16.0  # idna dropped\n", live)
    six_old = next(lab_host.host_path(live["venvDir"]).glob("lib/python3*/site-packages/six.py"))
    six_new = next(lab_host.host_path(new["venvDir"]).glob("lib/python3*/site-packages/six.py"))
    assert six_old.stat().st_ino == six_new.stat().st_ino  # seeded
    found = "import importlib.util as u; print(bool(u.find_spec('six')), bool(u.find_spec('idna')))"
    assert in_venv(lab_host, new["venvDir"], found).split() == ["True", "False"]
    assert in_venv(lab_host, live["venvDir"], found).split() == ["True", "True"]
    pip_list = in_venv(lab_host, new["venvDir"], "import subprocess, sys; subprocess.run("
                       "[sys.executable, '-m', 'pip', 'list', '--format=freeze'], check=True)")
    assert {line.split("==")[0].lower() for line in pip_list.split()} == {"pip", "setuptools", "six"}


def packages(lab: Any, venv: str) -> set[str]:
    """`pip list --format=freeze` of the venv: NAME==VERSION lines."""
    out = in_venv(lab, venv, "import subprocess, sys; subprocess.run("
                  "[sys.executable, '-m', 'pip', 'list', '--format=freeze'], check=True)")
    return set(out.split())


def site_file(lab: Any, venv: str, name: str) -> Any:
    return next(lab.host_path(venv).glob(f"lib/python3*/site-packages/{name}"))


def test_added_lines_give_the_packages_of_a_build_from_nothing(lab_host: Any, app_dir: str) -> None:
    live = build(lab_host, app_dir, ONE)
    new = build(lab_host, app_dir, TWO, live)
    assert site_file(lab_host, live["venvDir"], "six.py").stat().st_ino == \
        site_file(lab_host, new["venvDir"], "six.py").stat().st_ino  # seeded
    fresh = build(lab_host, f"{app_dir}-fresh", TWO)
    try:
        assert packages(lab_host, new["venvDir"]) == packages(lab_host, fresh["venvDir"])
    finally:
        lab_host.run(["rm", "-rf", "--", f"{app_dir}-fresh"])


def test_an_added_line_that_replaces_a_package_still_drops_what_it_no_longer_needs(
        lab_host: Any, app_dir: str) -> None:
    # Werkzeug 3 needs MarkupSafe; 2.0 needs nothing. Only a line is added,
    # but pip replaces the seed's Werkzeug: its MarkupSafe must go.
    live = build(lab_host, app_dir, "Werkzeug\n")
    assert any(p.lower().startswith("markupsafe==") for p in packages(lab_host, live["venvDir"]))
    new = build(lab_host, app_dir, "Werkzeug\nWerkzeug<2.1\n", live)
    assert {p.split("==")[0].lower() for p in packages(lab_host, new["venvDir"])} == \
        {"pip", "setuptools", "werkzeug"}
    assert any(p.lower().startswith("markupsafe==") for p in packages(lab_host, live["venvDir"]))


def test_the_same_lines_run_no_pip(lab_host: Any, app_dir: str) -> None:
    live = build(lab_host, app_dir, ONE)
    # Break pip in the live venv (and so in any venv seeded from it): a
    # comment-only change must not need it, a new line must.
    # A new file, not a write into the one the base venv shares.
    main = site_file(lab_host, live["venvDir"], "pip/__main__.py")
    main.unlink()
    main.write_text("raise SystemExit(9)\n")
    os.chown(main, lab_host.da_uid, lab_host.da_uid)
    new = build(lab_host, app_dir, "# pinned by hand\n" + ONE.replace("\n", "  # ok\n"), live)
    assert site_file(lab_host, new["venvDir"], "six.py").stat().st_ino == \
        site_file(lab_host, live["venvDir"], "six.py").stat().st_ino
    assert in_venv(lab_host, new["venvDir"], "import six; print(six.__version__)").strip() == "1.16.0"
    with pytest.raises(DeployError):
        build(lab_host, app_dir, TWO, live)


def test_a_live_venv_changed_since_its_build_is_cleaned_in_the_new_one(lab_host: Any, app_dir: str) -> None:
    live = build(lab_host, app_dir, ONE)
    in_venv(lab_host, live["venvDir"], "import subprocess, sys; subprocess.run([sys.executable, '-m', "
            "'pip', 'install', '-q', 'idna==3.7'], check=True)")
    new = build(lab_host, app_dir, ONE + "# same lines\n", live)
    assert {p.split("==")[0].lower() for p in packages(lab_host, new["venvDir"])} == \
        {"pip", "setuptools", "six"}


BASE_ROOT = "/home/{user}/.cache/da-flask/venv-base"


def base_root(lab: Any) -> Any:
    return lab.host_path(BASE_ROOT.format(user=lab.da_user))


def files_of(root: Any) -> set[str]:
    """Every path in a venv but da-flask's own records, relative to it."""
    ours = {".requirements.txt", ".dists", ".complete"}
    return {str(p.relative_to(root)) for p in root.rglob("*") if p.relative_to(root).parts[0] not in ours}


def test_a_first_build_starts_from_the_users_base_venv_and_equals_a_plain_one(
        lab_host: Any, app_dir: str) -> None:
    first = build(lab_host, app_dir, ONE)  # makes the base when there is none yet
    other = f"{app_dir}-other"
    plain = f"/tmp/plain-{secrets.token_hex(4)}"
    try:
        second = build(lab_host, other, TWO)
        bases = [b for b in base_root(lab_host).iterdir() if (b / ".complete").is_file()]
        assert bases
        pip_init = "pip/__init__.py"
        inodes = {next(b.glob(f"lib/python3*/site-packages/{pip_init}")).stat().st_ino for b in bases}
        for venv in (first["venvDir"], second["venvDir"]):
            assert site_file(lab_host, venv, pip_init).stat().st_ino in inodes  # hard links
        # The same files as `python -m venv` then `pip install -r` by hand.
        lab_host.run(["setpriv", f"--reuid={lab_host.da_user}", f"--regid={lab_host.da_user}", "--init-groups",
                      "env", "-i", f"HOME=/home/{lab_host.da_user}", "PATH=/usr/bin:/bin", "sh", "-c",
                      f'{PYTHON} -m venv "$1" && printf "%s" "$2" > "$1/r.txt" && '
                      '"$1/bin/python" -m pip install -q -r "$1/r.txt" && rm "$1/r.txt"',
                      "sh", plain, TWO])
        assert files_of(lab_host.host_path(second["venvDir"])) == files_of(lab_host.host_path(plain))
        assert packages(lab_host, second["venvDir"]) == packages(lab_host, plain)
        pip_script = (lab_host.host_path(second["venvDir"]) / "bin" / "pip").read_text().splitlines()[0]
        assert pip_script == f"#!{second['venvDir']}/bin/python3"
    finally:
        lab_host.run(["rm", "-rf", "--", other, plain])


def test_a_base_venv_changed_since_its_build_does_not_leak_into_a_new_venv(
        lab_host: Any, app_dir: str) -> None:
    build(lab_host, app_dir, ONE)
    for base in base_root(lab_host).iterdir():
        if (base / ".complete").is_file():
            in_venv(lab_host, f"{BASE_ROOT.format(user=lab_host.da_user)}/{base.name}",
                    "import subprocess, sys; subprocess.run([sys.executable, '-m', 'pip', 'install', "
                    "'-q', 'idna==3.7'], check=True)")
    other = f"{app_dir}-other"
    try:
        new = build(lab_host, other, ONE)
        assert {p.split("==")[0].lower() for p in packages(lab_host, new["venvDir"])} == \
            {"pip", "setuptools", "six"}
    finally:
        lab_host.run(["rm", "-rf", "--", other])
        lab_host.run(["rm", "-rf", "--", f"/home/{lab_host.da_user}/.cache/da-flask"])


def test_no_base_venv_possible_still_builds(lab_host: Any, app_dir: str) -> None:
    cache = f"/home/{lab_host.da_user}/.cache/da-flask"
    lab_host.run(["rm", "-rf", "--", cache])
    lab_host.run(["setpriv", f"--reuid={lab_host.da_user}", f"--regid={lab_host.da_user}", "--init-groups",
                  "sh", "-c", 'mkdir -p "${1%/*}" && echo not-a-dir > "$1"', "sh", cache])
    try:
        new = build(lab_host, app_dir, ONE)
        assert in_venv(lab_host, new["venvDir"], "import six; print(six.__version__)").strip() == "1.16.0"
        assert {p.split("==")[0].lower() for p in packages(lab_host, new["venvDir"])} == \
            {"pip", "setuptools", "six"}
    finally:
        lab_host.run(["rm", "-rf", "--", cache])


def test_the_quick_base_venv_is_what_python_m_venv_makes(lab_host: Any) -> None:
    """hostops.MAKE_BASE_VENV (pip from the unpacked wheel, compileall on every
    core) against `python -m venv` itself, both run by the site user."""
    home = f"/home/{lab_host.da_user}"
    quick, plain = f"{home}/quick-{secrets.token_hex(4)}", f"{home}/plain-{secrets.token_hex(4)}"
    as_user = ["setpriv", f"--reuid={lab_host.da_user}", f"--regid={lab_host.da_user}", "--init-groups",
               "env", "-i", f"HOME={home}", "PATH=/usr/bin:/bin"]
    try:
        lab_host.run([*as_user, PYTHON, "-c", hostops.MAKE_BASE_VENV, quick])
        lab_host.run([*as_user, PYTHON, "-m", "venv", plain])
        quick_dir, plain_dir = lab_host.host_path(quick), lab_host.host_path(plain)
        assert files_of(quick_dir) == files_of(plain_dir)  # the scratch dir is gone too
        assert len([p for p in files_of(quick_dir) if p.endswith(".pyc")]) > 500  # compiled, as pip does
        assert packages(lab_host, quick) == packages(lab_host, plain) != set()
        for name in ("pip", "pip3"):
            assert (quick_dir / "bin" / name).read_text().splitlines()[0] == f"#!{quick}/bin/python3"
        # Installed from the wheels by name, as ensurepip does: no direct URL recorded.
        assert not list(quick_dir.glob("lib/python3*/site-packages/*.dist-info/direct_url.json"))
        for module in ("pip", "setuptools"):
            assert in_venv(lab_host, quick, f"import {module}; print({module}.__file__)").startswith(quick)
    finally:
        lab_host.run(["rm", "-rf", "--", quick, plain])
