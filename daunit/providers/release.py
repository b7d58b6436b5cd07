"""Release: the app's source as a content-addressed tree on the host.

Inputs carry the file manifest (path -> sha256), so `pulumi preview --diff`
names every file that changes. Only changed files travel: the new release is
seeded with hard links to the previous one and receives just the difference
in one upload.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

from pulumi.dynamic import CreateResult, ReadResult, UpdateResult

from daunit import hostops
from daunit.errors import CommandError, DeployError
from daunit.providers.base import Provider, plain


class ReleaseProvider(Provider):
    kind = "Release"
    required = ("connection", "appDir", "user", "releaseId", "files", "source", "entryPoint")
    replace_on = ("connection.host", "connection.port", "appDir")
    outputs = ("releaseDir", "filesSent", "bytesSent")
    # `files` (path -> sha256) is what is deployed; `source` only where it is read from.
    machine_local = ("connection.keyFile", "source")

    def create(self, props: dict[str, Any]) -> CreateResult:
        return CreateResult(id_=props["appDir"], outs=self._deploy(plain(props), None))

    def update(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> UpdateResult:
        return UpdateResult(outs=self._deploy(plain(news), plain(olds)))

    def _deploy(self, props: dict[str, Any], olds: dict[str, Any] | None) -> dict[str, Any]:
        app, user, rid = props["appDir"], props["user"], props["releaseId"]
        files: dict[str, str] = props["files"]
        prev_files: dict[str, str] = (olds or {}).get("files") or {}
        prev_id = (olds or {}).get("releaseId") or ""
        if prev_id == rid:
            prev_id = ""
        source = Path(props["source"])

        with self.session(props) as s:
            # Paths to drop from the hard-linked copy: changed or gone.
            drop = [p for p in prev_files if files.get(p) != prev_files[p]]
            state = s.run(hostops.prepare_release(app, user, rid, prev_id),
                          stdin=b"\0".join(p.encode() for p in drop)).stdout.decode().strip()
            if state == "EXISTS":
                sent: list[str] = []
            else:
                base = {} if state == "FULL" else prev_files
                sent = sorted(p for p, digest in files.items() if base.get(p) != digest)
                if sent:
                    try:
                        s.upload_files(hostops.incoming_dir(app, rid),
                                       {p: source / p for p in sent})
                    except CommandError as exc:
                        # The connection still works: leave nothing half-made.
                        s.run(["rm", "-rf", "--", hostops.incoming_dir(app, rid)], check=False)
                        raise self._explain_upload_failure(s, app, exc, source, sent) from exc
                s.run(hostops.finish_release(app, user, rid, props["entryPoint"]))
        return {**props,
                "releaseDir": f"{app}/releases/{rid}",
                "filesSent": len(sent),
                "bytesSent": sum((source / p).stat().st_size for p in sent)}

    @staticmethod
    def _explain_upload_failure(s: Any, app: str, exc: CommandError, source: Path,
                                sent: list[str]) -> DeployError:
        """tar reports a full disk as "Wrote only N of M bytes": say it plainly."""
        need = sum((source / p).stat().st_size for p in sent)
        df = s.run(["df", "-Pk", app], check=False).stdout.decode().splitlines()
        free_kib = int(df[-1].split()[3]) if len(df) > 1 else -1
        if 0 <= free_kib * 1024 < need:
            return DeployError(
                f"No space left on device: the release needs {need // 1024} KiB under {app}, "
                f"{free_kib} KiB are free. Free space on the host (old backups, logs), "
                f"then run `pulumi up` again; the live release keeps serving.",
                host=exc.host, resource=exc.resource)
        return exc

    def read(self, id_: str, props: dict[str, Any]) -> ReadResult:
        props = plain(props)
        rdir = f"{props['appDir']}/releases/{props['releaseId']}"
        with self.session(props) as s:
            result = s.run(hostops.hash_tree(rdir), check=False)
        if result.exit_status != 0:
            return ReadResult(id_=None, outs={})
        live = hostops.parse_hash_tree(result.stdout.decode())
        outs = {**props, "files": live}
        return ReadResult(id_=id_, outs=outs)

    def delete(self, _id: str, props: dict[str, Any]) -> None:
        props = plain(props)
        with self.session(props) as s:
            s.run(hostops.remove(props["appDir"], "releases", "current"))
