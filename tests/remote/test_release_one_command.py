"""The upload finishes the release in the same command (one round trip fewer),
checking the manifest prepare_release left on the host against the hash the
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
