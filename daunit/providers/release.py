"""Release: the app's source as a content-addressed tree on the host.

Inputs carry the file manifest (path -> sha256), so `pulumi preview --diff`
names every file that changes. Only files the host lacks travel, in one
command in the common case (hostops.deploy_release): the manifest and the
files the previous release's manifest (in state) lacks go together; the host
(as the site user) hashes what the previous release has, hard-links every
other file whose content matches the manifest into the new tree, and names
what it still lacks, which then arrives in a second upload. The same step
repairs a release edited by hand: after a refresh shows the edit, the update
rebuilds the release from the manifest instead of trusting it, and swaps the
verified tree in.
"""
from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from daunit import hostops
from daunit.errors import CommandError, DeployError
from daunit.manifest import SourceFile
from daunit.providers.base import SiteInputs, SiteProvider, Wire
from daunit.providers.site import read_fact, refusal, run_step
from daunit.shipped import ENTRY_NAME, entry_bytes

if TYPE_CHECKING:
    from daunit.remote.ssh import SSHSession


def _content(source: str, path: str, sha256: str) -> SourceFile | bytes:
    """What to send for one manifest path: the app's file, or da-flask's entry module."""
    if path != ENTRY_NAME:
        return SourceFile(source, path, sha256)
    data = entry_bytes()
    if hashlib.sha256(data).hexdigest() != sha256:
        raise DeployError(f"{ENTRY_NAME} of this da-flask differs from the one the preview hashed: "
                          "run pulumi up again with one version of da-flask")
    return data


class ReleaseInputs(SiteInputs):
    release_id: str
    # path -> sha256: what is deployed.
    files: dict[str, str]
    # Where the files are read from on the deploying machine.
    source: str
    entry_point: str


class ReleaseOutputs(Wire):
    release_dir: str
    files_sent: int
    bytes_sent: int


class ReleaseProvider(SiteProvider[ReleaseInputs, ReleaseOutputs]):
    # `files` (path -> sha256) is what is deployed; `source` only where it is read from.
    machine_local = ("connection.keyFile", "source")

    def apply(self, inputs: ReleaseInputs, olds: ReleaseInputs | None) -> ReleaseOutputs:
        site = inputs.site(olds)
        rid, files = inputs.release_id, inputs.files
        prev_id = olds.release_id if olds else ""
        records = hostops.manifest_records(files)
        # What the previous release lacks (by its manifest in state) travels with
        # the manifest in one command; the host links the rest from that release
        # after checking their hashes, and names what it still lacks.
        guess = sorted(p for p, digest in files.items() if olds is None or olds.files.get(p) != digest)
        with self.session(inputs) as s:
            def deploy(script: str, args: Sequence[str]) -> list[str]:
                return hostops.deploy_release(site, rid, prev_id, inputs.entry_point, records, script, args)
            out, sent_bytes = self._upload(s, site, inputs, guess, deploy, prefix=records)
            state, need = hostops.parse_deploy(out)
            # Only the manifest's files are ever sent.
            need = sorted(p for p in set(need) if p in files) if state == "NEED" else []
            if need:
                def finish(script: str, args: Sequence[str]) -> list[str]:
                    return hostops.upload_and_finish(site, rid, inputs.entry_point, records, script, args)
                sent_bytes += self._upload(s, site, inputs, need, finish)[1]
            elif state == "NEED":  # the manifest's files are all there, yet the tree differs
                run_step(s, hostops.finish_release(site, rid, inputs.entry_point), stdin=records)
        if state == "EXISTS":
            # A release kept on the host (a rollback): the host read none of the
            # upload (at most a channel window of it travelled), nothing landed.
            return ReleaseOutputs(release_dir=site.layout.release_dir(rid), files_sent=0, bytes_sent=0)
        sent = len(guess) + len(need)
        return ReleaseOutputs(release_dir=site.layout.release_dir(rid), files_sent=sent, bytes_sent=sent_bytes)

    def _upload(self, s: SSHSession, site: hostops.Site, inputs: ReleaseInputs, sent: list[str],
                command: Callable[[str, Sequence[str]], list[str]], prefix: bytes = b"") -> tuple[bytes, int]:
        """The output of ``command`` reading ``prefix`` and the upload of ``sent``, and the bytes sent."""
        rid, source, files = inputs.release_id, inputs.source, inputs.files
        try:
            sent_bytes, result = s.files.upload(site.layout.incoming_dir(rid),
                                                {p: _content(source, p, files[p]) for p in sent},
                                                command=command, prefix=prefix)
            return result.stdout, sent_bytes
        except DeployError as exc:
            # The connection still works: leave nothing half-made.
            run_step(s, hostops.remove(site, site.layout.incoming_dir(rid),
                                       site.layout.incoming_manifest(rid)), check=False)
            if isinstance(exc, CommandError):
                raise self._explain_upload_failure(s, site, exc, Path(source), sent) from exc
            raise

    @staticmethod
    def _explain_upload_failure(s: SSHSession, site: hostops.Site, exc: CommandError, source: Path,
                                sent: list[str]) -> DeployError:
        """A step's refusal with its reason; tar reports a full disk as "Wrote only N
        of M bytes": say it plainly."""
        refused = refusal(exc)
        if refused is not None:
            return refused
        need = sum((source / p).stat().st_size for p in sent if (source / p).is_file())
        free_kib = read_fact(s, hostops.free_space(site))
        if free_kib is not None and free_kib * 1024 < need:
            return DeployError(
                f"No space left on device: the release needs {need // 1024} KiB under {site.app_dir}, "
                f"{free_kib} KiB are free. Free space on the host (old backups, logs), "
                f"then run `pulumi up` again; the live release keeps serving.",
                host=exc.host, resource=exc.resource)
        return exc

    def refresh(self, id_: str, inputs: ReleaseInputs,
                recorded: ReleaseOutputs | None) -> dict[str, object] | None:
        with self.session(inputs) as s:
            live = read_fact(s, hostops.release_files(inputs.site(), inputs.release_id))
        if live is None:
            return None
        # What is there, files and planted links alike: a hand edit shows as
        # a changed file in `preview --refresh`, and the update repairs it.
        return {"files": live}

    def remove(self, id_: str, inputs: ReleaseInputs) -> None:
        site = inputs.site()
        with self.session(inputs) as s:
            run_step(s, hostops.remove(site, site.layout.releases_dir, site.layout.current_link))
