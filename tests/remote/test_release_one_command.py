"""A release in one command (hostops.deploy_release): the manifest, then the
upload of what the previous release lacks; the host links the rest after
checking their hashes, names what it still lacks for a second upload, and
finishes the release. A second upload finishes the release in the same
command, checking the manifest the first left on the host against the hash the
deploying machine computed: a copy the site user edited in between is refused
and nothing is switched in."""
from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from daunit import hostops
from daunit.errors import CommandError
from daunit.providers.site import run_step
from daunit.remote.ssh import SSHSession
from tests.remote.test_hostops_site import as_user, deploy, release_props, site, source  # noqa: F401


def test_the_upload_puts_the_verified_release_in_place(lab_host: Any, site: hostops.Site, source: Path) -> None:
    outs = deploy(lab_host, site, source)
    assert outs["filesSent"] == 3
    assert lab_host.run(["cat", f"{outs['releaseDir']}/app/__init__.py"]).stdout == "app = 'one'\n"
    # Nothing of the deploy is left beside the release.
    assert as_user(lab_host, 'ls -A "$1"', f"{site.app_dir}/releases").split() == [outs["releaseId"]]


def test_a_manifest_edited_on_the_host_is_refused(lab_host: Any, site: hostops.Site, source: Path,
                                                 session: SSHSession) -> None:
    props = release_props(lab_host, site, source)
    rid, records = props["releaseId"], hostops.manifest_records(props["files"])
    run_step(session, hostops.prepare_release(site, rid, ""), stdin=records)
    saved = site.layout.incoming_manifest(rid)
    as_user(lab_host, 'echo "0000  ./extra" >> "$1"', saved)

    def command(script: str, args: Any) -> list[str]:
        return hostops.upload_and_finish(site, rid, "wsgi.py", records, script, args)
    files = {p: (source / p).read_bytes() for p in props["files"]}
    with pytest.raises(CommandError, match="was changed or removed during the deploy"):
        session.upload_files(site.layout.incoming_dir(rid), files, command=command)
    assert not lab_host.host_path(f"{site.app_dir}/releases/{rid}").exists()


def _inode(lab_host: Any, path: str) -> str:
    return lab_host.run(["stat", "-c", "%i", "--", path]).stdout.strip()


def test_a_code_change_sends_the_changed_file_only_and_links_the_rest(lab_host: Any, site: hostops.Site,
                                                                      source: Path) -> None:
    first = deploy(lab_host, site, source)
    olds = release_props(lab_host, site, source)
    (source / "app" / "__init__.py").write_text("app = 'two'\n")
    second = deploy(lab_host, site, source, olds)
    assert second["filesSent"] == 1  # in the one command that prepared and finished the release
    new, old = second["releaseDir"], first["releaseDir"]
    assert lab_host.run(["cat", f"{new}/app/__init__.py"]).stdout == "app = 'two'\n"
    assert lab_host.run(["cat", f"{old}/app/__init__.py"]).stdout == "app = 'one'\n"  # the live one untouched
    # The unchanged files are the previous release's, linked after their hashes were checked.
    assert _inode(lab_host, f"{new}/app/big.txt") == _inode(lab_host, f"{old}/app/big.txt")
    assert _inode(lab_host, f"{new}/app/__init__.py") != _inode(lab_host, f"{old}/app/__init__.py")
    assert as_user(lab_host, 'ls -A "$1"', f"{site.app_dir}/releases").split() == sorted(
        [first["releaseId"], second["releaseId"]])


def test_what_the_host_lacks_despite_the_old_manifest_follows_in_a_second_upload(
        lab_host: Any, site: hostops.Site, source: Path) -> None:
    first = deploy(lab_host, site, source)
    olds = release_props(lab_host, site, source)
    # The previous release lost a file (by hand): the manifest in state still names it.
    lab_host.run(["rm", "--", f"{first['releaseDir']}/app/big.txt"])
    (source / "app" / "__init__.py").write_text("app = 'two'\n")
    second = deploy(lab_host, site, source, olds)
    assert second["filesSent"] == 2  # the changed file, then the one the host named
    assert lab_host.run(["cat", f"{second['releaseDir']}/app/big.txt"]).stdout == "x" * 5000
    assert as_user(lab_host, 'ls -A "$1"', f"{site.app_dir}/releases").split() == sorted(
        [first["releaseId"], second["releaseId"]])


def test_a_release_already_there_whole_is_kept(lab_host: Any, site: hostops.Site, source: Path) -> None:
    first = deploy(lab_host, site, source)
    again = deploy(lab_host, site, source)  # as after a deploy that failed in a later step: no olds
    # The host read none of the upload: nothing landed, nothing counted.
    assert (again["releaseDir"], again["filesSent"], again["bytesSent"]) == (first["releaseDir"], 0, 0)
    assert as_user(lab_host, 'ls -A "$1"', f"{site.app_dir}/releases").split() == [first["releaseId"]]
