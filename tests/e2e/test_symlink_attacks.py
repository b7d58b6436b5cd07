"""The site user against root's deploy (issue 9), under the real engine.

Each test plants what a hostile site user (or their compromised app) can:
a link or a swapped directory in the app's tree, done in the lab AS that
user between two deploys. The next `pulumi up` must refuse with a clear
error or repair, and no file outside the app's tree may change owner, mode,
content or link target: a listing of the lab's account files, /root,
/usr/local/directadmin and other users' homes is taken before and after
(tests/support/hostfs). Links aim at the lab's private copies (its /root,
/etc/shadow, /home), never at this machine's own files.

The deploying machine's side (a source file swapped for a link between
hashing and upload) is in tests/remote/test_hostops_site.py, where the
moment between the two can be chosen.
"""
from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.conftest import Deployment, app_config, host_config
from tests.e2e.test_deploy import app_dir, resource_outputs, unit_config
from tests.support.hostfs import changes, snapshot

pytestmark = [pytest.mark.root, pytest.mark.engine]

APP = "flask_app"
DOMAIN = "example.com"
VICTIM_DIR = "/root/victim-dir"
VICTIM_FILE = "/root/victim-file"
BOB_HOME = "/home/bob"


@pytest.fixture(scope="module")
def lab(lab_factory: Any) -> Any:
    lab = lab_factory("symlinks", front="none")
    # Root's files and another user's home for the planted links to aim at.
    lab.run(["sh", "-c", r'''
        mkdir -p -m 755 "$1/app/templates" && chmod 755 "$1/app"
        for f in "$1/keep" "$1/wsgi.py" "$1/app/__init__.py" "$1/app/templates/index.html"; do
          echo "root's $f" > "$f"; chmod 600 "$f"
        done
        mkdir -p -m 755 "$1/py3.11-halfbuilt" "$1/old-venv"
        echo "root secret" > "$2" && chmod 600 "$2"
        mkdir -p -m 700 "$3" && echo "bob's" > "$3/private" && chmod 600 "$3/private"
        chown -R 3001:3001 "$3"
        ''', "sh", VICTIM_DIR, VICTIM_FILE, BOB_HOME])
    return lab


def configure(d: Deployment, lab: Any, greeting: str, **extra: Any) -> None:
    d.write_config({"lab": host_config(lab)},
                   [app_config(APP, "lab", extra.pop("domain", DOMAIN), d.app_sources[APP],
                               healthCheck=False, secretEnvironmentKeys=["SECRET_KEY"],
                               environment={"FLASK_CONFIG": "production", "GREETING": greeting},
                               **extra)])


@pytest.fixture(scope="module")
def d(lab: Any, deployment_factory: Any) -> Deployment:
    d = deployment_factory("symlinks")
    configure(d, lab, greeting="Hi-1")
    d.stack.set_config("appSecrets.flask_app.SECRET_KEY", d.secret_key, secret=True, path=True)
    d.stack.up()
    return d


@pytest.fixture
def untouched(lab: Any) -> Iterator[None]:
    """Nothing outside the app's tree changes during the test."""
    before = snapshot(lab)
    yield
    assert changes(before, snapshot(lab)) == []


def as_user(lab: Any, script: str, *args: str) -> None:
    lab.run(["sh", "-c", script, "sh", *args], user=lab.da_user)


def lab_app(lab: Any) -> str:
    return f"{lab.public_html}/{APP}"


def live_release(lab: Any) -> str:
    """The live release's dir, as the lab sees it (read, never followed here)."""
    return f"{lab_app(lab)}/{os.readlink(app_dir(lab) / 'current')}"


def touch_source(d: Deployment, marker: str) -> Path:
    about = d.app_sources[APP] / "app" / "templates" / "about.html"
    about.write_text(about.read_text() + f"\n<!-- {marker} -->\n")
    return about


def error_text(result: Any) -> str:
    return result.stdout + result.stderr


def test_instance_swapped_for_a_link_is_refused(lab: Any, d: Deployment, untouched: None) -> None:
    app = lab_app(lab)
    as_user(lab, 'mv "$1/instance" "$1/instance.real" && ln -s "$2" "$1/instance"', app, BOB_HOME)
    try:
        configure(d, lab, greeting="Hi-2")
        result = d.stack.up(check=False)
        assert result.returncode != 0
        assert f"refused: {app}/instance is a symbolic link" in error_text(result), error_text(result)[-3000:]
    finally:
        as_user(lab, 'rm "$1/instance" && mv "$1/instance.real" "$1/instance"', app)
    d.stack.up()  # once the link is gone, the same deploy goes through


def test_planted_env_temp_links_are_never_written_through(lab: Any, d: Deployment, untouched: None) -> None:
    app = lab_app(lab)
    for name in (".env.new", ".env.tmp", ".env.1"):
        as_user(lab, 'ln -sfn /etc/shadow "$1/instance/$2"', app, name)
    configure(d, lab, greeting="Hi-3")
    d.stack.up()
    env = lab.run(["stat", "-c", "%U %a %F", f"{app}/instance/.env"]).stdout.split()
    assert env == [lab.da_user, "600", "regular", "file"]
    assert "GREETING=Hi-3" in lab.run(["cat", f"{app}/instance/.env"]).stdout.replace('"', "")


def test_live_entry_point_swapped_for_a_link_is_never_chmodded(lab: Any, d: Deployment,
                                                               untouched: None) -> None:
    live = live_release(lab)
    as_user(lab, 'rm "$1/wsgi.py" && ln -s "$2" "$1/wsgi.py"', live, VICTIM_FILE)
    touch_source(d, "after the entry point swap")
    d.stack.up()
    new = live_release(lab)
    assert new != live
    assert lab.run(["stat", "-c", "%F %a %U", f"{new}/wsgi.py"]).stdout.split() == \
        ["regular", "file", "755", lab.da_user]


def test_release_dir_swapped_for_a_link_deletes_nothing_through_it(lab: Any, d: Deployment,
                                                                   untouched: None) -> None:
    live = live_release(lab)
    as_user(lab, 'rm -rf "$1" && ln -s "$2" "$1"', live, VICTIM_DIR)
    # Files of the same names change, so the old code dropped them from the copy.
    index = d.app_sources[APP] / "app" / "templates" / "index.html"
    index.write_text(index.read_text() + "\n<!-- after the release swap -->\n")
    (d.app_sources[APP] / "app" / "__init__.py").write_text(
        (d.app_sources[APP] / "app" / "__init__.py").read_text() + "\n# after the release swap\n")
    d.stack.up()
    new = live_release(lab)
    assert new != live
    assert "after the release swap" in lab.run(["cat", f"{new}/app/templates/index.html"]).stdout


def test_venvs_swapped_for_a_link_is_refused(lab: Any, d: Deployment, untouched: None) -> None:
    app = lab_app(lab)
    requirements = d.app_sources[APP] / "requirements.txt"
    original = requirements.read_text()
    as_user(lab, 'mv "$1/venvs" "$1/venvs.real" && ln -s "$2" "$1/venvs"', app, VICTIM_DIR)
    try:
        requirements.write_text(original + "# a new venv key\n")
        result = d.stack.up(check=False)
        assert result.returncode != 0
        assert f"refused: {app}/venvs is a symbolic link" in error_text(result), error_text(result)[-3000:]
    finally:
        requirements.write_text(original)
        as_user(lab, 'rm "$1/venvs" && mv "$1/venvs.real" "$1/venvs"', app)
    d.stack.up()


def test_hand_edit_of_the_live_release_is_shown_and_repaired(lab: Any, d: Deployment,
                                                             untouched: None) -> None:
    """State that lies, and the app rewriting its own code: a refresh shows
    the edit, `up --refresh` restores it sending only that file, and the
    preview after it is clean."""
    live = live_release(lab)
    target = f"{live}/app/templates/index.html"
    good = lab.run(["cat", target]).stdout
    as_user(lab, 'echo "<h1>defaced</h1>" > "$1" && echo "import os" > "$2/backdoor.py"', target, live)
    preview = d.stack.preview("--refresh", "--diff")
    assert "app/templates/index.html" in preview.stdout and "backdoor.py" in preview.stdout
    d.stack.up("--refresh")
    assert lab.run(["cat", target]).stdout == good
    assert lab.run(["test", "-e", f"{live}/backdoor.py"], check=False).returncode == 1
    assert resource_outputs(d, f"{APP}-release")["filesSent"] == 1
    d.stack.preview("--refresh", "--expect-no-changes")


def test_a_domain_not_the_users_is_refused_before_any_change(lab: Any, d: Deployment,
                                                             untouched: None) -> None:
    bob = lab.host_path("/usr/local/directadmin/data/users/bob")
    bob.mkdir(mode=0o711, parents=True)
    (bob / "domains.list").write_text("bob.example.net\n")
    before = unit_config(lab)
    ours = app_config(APP, "lab", DOMAIN, d.app_sources[APP], healthCheck=False,
                      secretEnvironmentKeys=["SECRET_KEY"],
                      environment={"FLASK_CONFIG": "production", "GREETING": "Hi-3"})
    try:
        for domain, words in (("bob.example.net", "domain bob.example.net belongs to DirectAdmin user bob"),
                              ("stranger.org", "domain stranger.org does not belong to DirectAdmin user")):
            other = app_config("other", "lab", domain, d.app_sources[APP], healthCheck=False)
            d.write_config({"lab": host_config(lab)}, [ours, other])
            result = d.stack.up(check=False)
            assert result.returncode != 0
            assert words in error_text(result), error_text(result)[-3000:]
            assert not lab.host_path(f"/home/{lab.da_user}/domains/{domain}").exists()
            assert unit_config(lab) == before
    finally:
        for path in sorted(bob.rglob("*"), reverse=True):
            path.unlink()
        bob.rmdir()
        configure(d, lab, greeting="Hi-3")
