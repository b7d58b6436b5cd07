"""Release commands and the runner step (hostops.run_in_release) against a lab
host: run as the site user, in the release, with its venv and the app's
environment from instance/.env, secrets never in argv and masked in errors;
a release or venv swapped for a link is refused, not entered."""
from __future__ import annotations

import secrets
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from daunit import hostops
from daunit.manifest import build_manifest, release_id, venv_key
from daunit.providers.instance import InstanceConfigProvider
from daunit.providers.release import ReleaseProvider
from daunit.providers.release_commands import ReleaseCommandError, ReleaseCommandsProvider
from daunit.providers.site import RefusedError, run_step
from daunit.providers.virtualenv import VirtualenvProvider
from daunit.remote.ssh import SSHSession
from daunit.shipped import with_entry_module
from tests.remote.test_hostops_site import as_user, props_of

SECRET = "sk-" + secrets.token_hex(12)
SHOW_ENV = ("import os, sys; print(os.environ['GREETING'], os.getcwd(), sys.prefix); "
            "open('instance/ran', 'a').write('x\\n')")


@pytest.fixture(scope="module")
def deployed(lab_host: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """One release, venv and .env in a fresh app dir (built once: a venv takes seconds)."""
    site = hostops.Site(lab_host.da_user, f"{lab_host.public_html}/rc{secrets.token_hex(4)}")
    src = tmp_path_factory.mktemp("rc") / "src"
    src.mkdir()
    (src / "wsgi.py").write_text("application = None\n")
    manifest = with_entry_module(build_manifest(src))
    rid = release_id(manifest)
    ReleaseProvider().create(props_of(lab_host, site, releaseId=rid, source=str(src), entryPoint="wsgi.py",
                                      files={p: e.sha256 for p, e in manifest.items()}))
    key = venv_key("3.11", b"", interpreter="python3")
    VirtualenvProvider().create(props_of(lab_host, site, python="python3", key=key, requirements=""))
    env = {"GREETING": "hello", "SECRET_KEY": SECRET}
    InstanceConfigProvider().create(props_of(lab_host, site, environment=env, secretKeys=["SECRET_KEY"]))
    yield {"site": site, "releaseId": rid, "venvKey": key, "environment": env}
    lab_host.run(["rm", "-rf", "--", site.app_dir])


def commands_props(lab: Any, deployed: dict[str, Any], commands: list[list[str]]) -> dict[str, Any]:
    site = deployed["site"]
    return props_of(lab, site, releaseId=deployed["releaseId"], venvKey=deployed["venvKey"],
                    environment=deployed["environment"], secretKeys=["SECRET_KEY"], commands=commands)


def test_commands_run_as_the_user_in_the_release_with_venv_and_env(lab_host: Any,
                                                                   deployed: dict[str, Any]) -> None:
    props = commands_props(lab_host, deployed, [["python", "-c", SHOW_ENV], ["python", "-c", SHOW_ENV]])
    outs = ReleaseCommandsProvider().create(props).outs
    assert outs["ran"] == 2
    app = deployed["site"].app_dir
    # Both ran, in order, writing into the shared instance/ as the site user.
    assert as_user(lab_host, 'cat "$1/instance/ran"; stat -c %U "$1/instance/ran"', app).split() == \
        ["x", "x", lab_host.da_user]


def test_output_and_environment_as_the_command_sees_them(session: SSHSession, lab_host: Any,
                                                         deployed: dict[str, Any]) -> None:
    site, rid, key = deployed["site"], deployed["releaseId"], deployed["venvKey"]
    argv = hostops.run_in_release(site, rid, key, ["python", "-c", SHOW_ENV])
    assert SECRET not in " ".join(argv)
    out = run_step(session, argv, secrets=[SECRET]).text.split()
    assert out == ["hello", f"{site.app_dir}/releases/{rid}", f"{site.app_dir}/venvs/{key}"]


def test_a_failing_command_says_which_with_its_output_masked(lab_host: Any,
                                                             deployed: dict[str, Any]) -> None:
    leak = "import os, sys; print('the key is', os.environ['SECRET_KEY']); sys.exit(3)"
    props = commands_props(lab_host, deployed, [["python", "-c", "print('first ok')"],
                                                ["python", "-c", leak], ["python", "-c", SHOW_ENV]])
    with pytest.raises(ReleaseCommandError) as caught:
        ReleaseCommandsProvider().update(deployed["site"].app_dir, {}, props)
    message = str(caught.value)
    assert "release command 2 `python -c" in message and "exited with status 3" in message
    assert "the key is ***" in message and SECRET not in message
    assert "previous release keeps serving" in message


def test_a_venv_swapped_for_a_link_is_refused(lab_host: Any, deployed: dict[str, Any],
                                              session: SSHSession, tmp_path: Path) -> None:
    site, rid = deployed["site"], deployed["releaseId"]
    as_user(lab_host, 'mkdir -p "$1/venvs/py3.11-elsewhere"', site.app_dir)
    as_user(lab_host, 'ln -s py3.11-elsewhere "$1/venvs/py3.11-0000000000000000"', site.app_dir)
    with pytest.raises(RefusedError, match="is not the directory da-flask made"):
        run_step(session, hostops.run_in_release(site, rid, "py3.11-0000000000000000", ["true"]))
