"""A STAND-IN for pulumi-command's `remote.CopyToRemote` and `remote.Command`.

Used where no pulumi-resource-command binary is at hand: its Go module
(github.com/pulumi/pulumi-command/provider) is not served by the Go module
proxy these machines reach (403), so `make setup` cannot build it; the bench
runs the real provider when one was built by hand (docs/benchmarks.md). These
two dynamic resources do, over SSH, what that provider's code does
(provider/pkg/provider/remote/copyController.go, commandController.go,
commandOutputs.go, v1.x), step for step where it costs time:

CopyToRemote
  - create/update: dial a new SSH connection, open SFTP, then walk the source
    directory: for each directory stat it and mkdir it if missing; for each
    file create it, write it (pipelined), close it. Every file, every time:
    there is no diffing by content; the update runs when the source's hash
    (Pulumi's archive hash) or remotePath changed;
  - `triggers` replace the resource (replaceOnChanges);
  - no read: `pulumi refresh` keeps the state as it is (the Go provider has no
    Read either), so drift on the host is never seen.

Command
  - create/update: dial a new SSH connection, one session, run the command
    string through the remote user's shell, keep stdout/stderr in state;
    update runs `update` if given, else `create` again;
  - `triggers` replace the resource; delete runs `delete` if given;
  - no read, as above.

Differences kept on purpose: the host key is pinned (the Go provider accepts
any host key; checking costs no round trip), the SSH client is paramiko with
TCP_NODELAY (Go's net sets it), and no environment variables are sent (each
Setenv would be one more request).
"""
from __future__ import annotations

import base64
import os
import secrets
import select
import socket
from typing import Any

import paramiko  # type: ignore[import-untyped]
from pulumi.dynamic import CreateResult, DiffResult, ResourceProvider, UpdateResult

_RETRIES = 10  # like pulumi-command's dialErrorLimit


class _Pinned(paramiko.MissingHostKeyPolicy):  # type: ignore[misc]
    def __init__(self, line: str) -> None:
        fields = line.split()
        at = next(i for i, f in enumerate(fields) if f.startswith(("ssh-", "ecdsa-")))
        kind, blob = fields[at], fields[at + 1]
        self.key = paramiko.PKey.from_type_string(kind, base64.b64decode(blob))

    def missing_host_key(self, client: paramiko.SSHClient, hostname: str, key: paramiko.PKey) -> None:
        if key != self.key:
            raise paramiko.SSHException(f"host key of {hostname} is not the pinned one")


def dial(conn: dict[str, Any]) -> paramiko.SSHClient:
    """One new SSH connection, as pulumi-command's Connection.Dial makes per operation."""
    last: Exception | None = None
    for _ in range(_RETRIES):
        try:
            sock = socket.create_connection((conn["host"], int(conn["port"])), timeout=15)
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            client = paramiko.SSHClient()
            client.set_missing_host_key_policy(_Pinned(conn["hostKey"]))
            client.connect(conn["host"], int(conn["port"]), username=conn.get("user", "root"),
                           key_filename=conn["keyFile"], sock=sock, allow_agent=False,
                           look_for_keys=False, timeout=15)
            return client
        except (OSError, paramiko.SSHException) as exc:
            last = exc
    raise RuntimeError(f"cannot connect to {conn['host']}:{conn['port']}: {last}")


def _plain(props: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in props.items() if not k.startswith("__")}


def _diff(olds: dict[str, Any], news: dict[str, Any], inputs: tuple[str, ...]) -> DiffResult:
    changed = [k for k in inputs if olds.get(k) != news.get(k)]
    replaces = ["triggers"] if olds.get("triggers") != news.get("triggers") else []
    return DiffResult(changes=bool(changed), replaces=replaces, delete_before_replace=False)


class CommandProvider(ResourceProvider):
    INPUTS = ("connection", "create", "update", "delete", "stdin", "triggers")

    def diff(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> DiffResult:
        return _diff(olds, news, self.INPUTS)

    def create(self, props: dict[str, Any]) -> CreateResult:
        props = _plain(props)
        out, err = run(props["connection"], props["create"], props.get("stdin"))
        return CreateResult(id_=secrets.token_hex(8), outs={**props, "stdout": out, "stderr": err})

    def update(self, _id: str, _olds: dict[str, Any], news: dict[str, Any]) -> UpdateResult:
        news = _plain(news)
        out, err = run(news["connection"], news.get("update") or news["create"], news.get("stdin"))
        return UpdateResult(outs={**news, "stdout": out, "stderr": err})

    def delete(self, _id: str, props: dict[str, Any]) -> None:
        if props.get("delete"):
            run(props["connection"], props["delete"], None)


def run(conn: dict[str, Any], command: str, stdin: str | None) -> tuple[str, str]:
    client = dial(conn)
    try:
        chan = client.get_transport().open_session()
        chan.exec_command(command)
        if stdin:
            chan.sendall(stdin.encode())
        chan.shutdown_write()
        out, err = bytearray(), bytearray()
        fd = chan.fileno()  # paramiko makes it readable on data (either stream) and EOF
        while True:
            while chan.recv_ready():
                out += chan.recv(65536)
            while chan.recv_stderr_ready():
                err += chan.recv_stderr(65536)
            if chan.eof_received or chan.closed:
                break
            select.select([fd], [], [], 5.0)
        status = chan.recv_exit_status()
        while chan.recv_ready():
            out += chan.recv(65536)
        while chan.recv_stderr_ready():
            err += chan.recv_stderr(65536)
        if status != 0:
            raise RuntimeError(f"Process exited with status {status}: running {command!r}:\n"
                               f"{(out + err).decode(errors='replace')[-3000:]}")
        return out.decode(errors="replace").rstrip("\n"), err.decode(errors="replace").rstrip("\n")
    finally:
        client.close()


class CopyToRemoteProvider(ResourceProvider):
    INPUTS = ("connection", "source", "sourceHash", "remotePath", "triggers")

    def diff(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> DiffResult:
        return _diff(olds, news, self.INPUTS)

    def create(self, props: dict[str, Any]) -> CreateResult:
        props = _plain(props)
        return CreateResult(id_=secrets.token_hex(8), outs={**props, **copy(props)})

    def update(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> UpdateResult:
        news = _plain(news)
        if news["sourceHash"] != olds.get("sourceHash") or news["remotePath"] != olds.get("remotePath"):
            return UpdateResult(outs={**news, **copy(news)})
        return UpdateResult(outs={**news, "filesSent": 0, "bytesSent": 0})


def copy(props: dict[str, Any]) -> dict[str, int]:
    """sftpCopy for a source directory without a trailing slash: into remotePath/<basename>."""
    source = props["source"].rstrip("/")
    client = dial(props["connection"])
    files = sent = 0
    try:
        sftp = client.open_sftp()
        dest = props["remotePath"]
        if _stat(sftp, dest) is None:
            sftp.mkdir(dest)
        dest = f"{dest}/{os.path.basename(source)}"
        if _stat(sftp, dest) is None:
            sftp.mkdir(dest)
        for root, dirs, names in os.walk(source):
            dirs.sort()
            rel = os.path.relpath(root, source)
            rdir = dest if rel == "." else f"{dest}/{rel}"
            if _stat(sftp, rdir) is None:  # WalkDir visits the root too
                sftp.mkdir(rdir)
            for name in sorted(names):
                with open(os.path.join(root, name), "rb") as local, \
                        sftp.open(f"{rdir}/{name}", "wb") as remote:
                    remote.set_pipelined(True)
                    data = local.read()
                    remote.write(data)
                files += 1
                sent += len(data)
        sftp.close()
    finally:
        client.close()
    return {"filesSent": files, "bytesSent": sent}


def _stat(sftp: paramiko.SFTPClient, path: str) -> Any:
    try:
        return sftp.stat(path)
    except FileNotFoundError:
        return None
