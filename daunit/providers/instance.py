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

from daunit import hostops
from daunit.layout import ENV_FILE_MODE
from daunit.providers.base import SiteInputs, SiteProvider, Wire
from daunit.providers.site import read_fact, run_step
from daunit.render import dotenv_bytes


class InstanceConfigInputs(SiteInputs):
    environment: dict[str, str]
    # Which of `environment` are secrets (the others are plain settings).
    secret_keys: list[str]


class InstanceConfigOutputs(Wire):
    env_file: str
    keys: list[str]
    revision: str


class InstanceConfigProvider(SiteProvider[InstanceConfigInputs, InstanceConfigOutputs]):
    def apply(self, inputs: InstanceConfigInputs,
              olds: InstanceConfigInputs | None) -> InstanceConfigOutputs:
        env = inputs.environment
        # Only the secret values are secrets: the plain ones ("1", a domain) are
        # in Unit's config and the preview anyway, and matching them against
        # argv would refuse ordinary deploys (remote/ssh.py, MIN_GUARDED_SECRET).
        secret_values = {key: env[key] for key in inputs.secret_keys if key in env}
        with self.session(inputs) as s:
            run_step(s, hostops.write_env(inputs.site(olds)),
                     stdin=dotenv_bytes(env), secrets=secret_values)
        return InstanceConfigOutputs(env_file=inputs.site().layout.env_file, keys=sorted(env),
                                     revision=secrets.token_hex(8))

    def refresh(self, id_: str, inputs: InstanceConfigInputs,
                recorded: InstanceConfigOutputs | None) -> dict[str, object] | None:
        with self.session(inputs) as s:
            found = read_fact(s, hostops.env_file(inputs.site()))
        want = hostops.EnvFile(ENV_FILE_MODE, inputs.user,
                               hashlib.sha256(dotenv_bytes(inputs.environment)).hexdigest())
        if found != want:
            # Missing, readable by others, or edited: report it gone so the
            # next `pulumi up` writes it again.
            return None
        return {}

    def remove(self, id_: str, inputs: InstanceConfigInputs) -> None:
        site = inputs.site()
        with self.session(inputs) as s:
            run_step(s, hostops.remove(site, site.layout.instance_dir, site.layout.logs_dir))
