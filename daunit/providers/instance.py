"""InstanceConfig: instance/ (700), logs/ (700) and instance/.env (600).

The environment arrives as a secret input: Pulumi keeps it encrypted in
state and shows it as [secret] in previews. It reaches the host on stdin,
never in argv, and no message here ever includes a value. `revision` is a
random token renewed on each write: the Unit application takes it as an
input, so a changed .env restarts the app without revealing anything about
the values (a hash of a short secret could be guessed).
"""
from __future__ import annotations

import hashlib
import secrets
from typing import Any

from pulumi.dynamic import CreateResult, ReadResult, UpdateResult

from daunit import hostops
from daunit.layout import ENV_FILE_MODE
from daunit.providers.base import Provider, plain
from daunit.providers.site import read_fact, run_step
from daunit.render import dotenv_bytes


class InstanceConfigProvider(Provider):
    kind = "InstanceConfig"
    required = ("connection", "appDir", "user", "environment", "secretKeys")
    replace_on = ("connection.host", "connection.port", "appDir")
    outputs = ("envFile", "keys", "revision")

    def create(self, props: dict[str, Any]) -> CreateResult:
        return CreateResult(id_=props["appDir"], outs=self._write(plain(props)))

    def update(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> UpdateResult:
        return UpdateResult(outs=self._write(plain(news), plain(olds)))

    def _write(self, props: dict[str, Any], olds: dict[str, Any] | None = None) -> dict[str, Any]:
        env = props["environment"]
        # Only the secret values are secrets: the plain ones ("1", a domain) are
        # in Unit's config and the preview anyway, and matching them against
        # argv would refuse ordinary deploys (remote/ssh.py, MIN_GUARDED_SECRET).
        secret_values = {key: env[key] for key in props["secretKeys"] if key in env}
        with self.session(props) as s:
            run_step(s, hostops.write_env(hostops.Site.of(props, olds)),
                     stdin=dotenv_bytes(env), secrets=secret_values)
        return {**props, "envFile": hostops.Site.of(props).layout.env_file,
                "keys": sorted(env), "revision": secrets.token_hex(8)}

    def read(self, id_: str, props: dict[str, Any]) -> ReadResult:
        props = plain(props)
        with self.session(props) as s:
            found = read_fact(s, hostops.env_file(hostops.Site.of(props)))
        want = hostops.EnvFile(ENV_FILE_MODE, props["user"],
                               hashlib.sha256(dotenv_bytes(props["environment"])).hexdigest())
        if found != want:
            # Missing, readable by others, or edited: report it gone so the
            # next `pulumi up` writes it again.
            return ReadResult(id_=None, outs={})
        return ReadResult(id_=id_, outs=props)

    def delete(self, _id: str, props: dict[str, Any]) -> None:
        props = plain(props)
        site = hostops.Site.of(props)
        with self.session(props) as s:
            run_step(s, hostops.remove(site, site.layout.instance_dir, site.layout.logs_dir))
